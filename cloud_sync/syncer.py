"""The box's sync loop: outbox in, ZeroMQ transfers out, MQTT notices alongside.

Runs in the process that owns the AssetStore (its flock allows one writer):
`edge sync` runs it in the foreground, `edge run` as a thread (start()/stop()).
An asset is marked synced in the store only after the center answered
COMMITTED, i.e. after its bytes and index row are durable there; a crash in
between makes the next OFFER answer "complete", so nothing is sent twice
into the index and nothing is lost.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from cloud_sync.bandwidth import RateMeter
from cloud_sync.boxfiles import BoxFiles
from cloud_sync.config import PROTECTED_KINDS, SyncConfig
from cloud_sync.mqtt_link import MqttLink
from cloud_sync.outbox import Item, Outbox
from cloud_sync.zmq_transfer import BoxClient, LinkDown, Offer, Rejected, Stopped
from edge.store import AssetStore, StoreError

log = logging.getLogger("cloud_sync")

PROGRESS_SAVE_S = 1.0  # how often acked bytes are written to the outbox during a transfer
STORE_RETRY_S = 60.0  # an asset whose bytes cannot be read is retried this much later
OFFER_FIELDS = ("kind", "stream", "start", "end", "created_at", "mime", "name", "tags", "provenance", "meta")


class Syncer:
    def __init__(
        self,
        store: AssetStore,
        data_dir: Path,
        config: SyncConfig | None = None,
        *,
        mqtt_url: str | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self.store = store
        self.config = config or SyncConfig()
        files = BoxFiles(Path(data_dir))
        self.box_id, self.endpoint, center_public, box_public, box_secret = files.pairing()
        self.outbox = Outbox(store.db_path, self.config)  # the queue is a table in the store's database
        self._stop = threading.Event()
        self.meter = RateMeter()
        self.client = BoxClient(self.endpoint, center_public, box_public, box_secret, self.config,
                                context=context, meter=self.meter, stop=self._stop)
        self.mqtt = MqttLink(mqtt_url, self.box_id, self.outbox) if mqtt_url else None
        self._state = "down"
        self._last_error: str | None = None
        self._current: tuple[str, int] | None = None  # asset being sent, bytes acked so far
        self.sent_assets = 0  # since this Syncer started (`edge sync` reports them)
        self.sent_bytes = 0
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Run in a background thread until stop()."""
        self._thread = threading.Thread(target=self.run, name=f"sync-{self.box_id}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        self.stop()
        self.outbox.close()

    def run(self, *, until_drained: bool = False, timeout: float | None = None) -> bool:
        """Sync until stop(); with until_drained, return True once the outbox is empty.

        Returns False when `timeout` seconds passed (or stop() was called) first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        # A timer, not just a check in the loop: a transfer waiting on a silent center must end on time too.
        timer = threading.Timer(timeout, self._stop.set) if timeout is not None else None
        if timer:
            timer.daemon = True
            timer.start()
        backoff = self.config.backoff_min_s
        next_refresh = next_ping = 0.0
        if self.mqtt:
            self.mqtt.start()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_refresh:
                    self._refresh()
                    next_refresh = now + self.config.poll_s
                if self.mqtt:
                    self.mqtt.pump()
                item = self.outbox.next()
                try:
                    if item is None:
                        stats = self.outbox.stats()
                        if until_drained and stats.queued == 0 and stats.held == 0:
                            self._refresh()  # anything stored since the last look counts too
                            stats = self.outbox.stats()
                            if stats.queued == 0 and stats.held == 0:
                                self._flush_notices(deadline)
                                return True
                            continue
                        if now >= next_ping:
                            next_ping = now + self.config.ping_interval_s
                            self._request(self.client.ping)
                        self._stop.wait(min(self.config.poll_s, 0.2 if stats.queued else self.config.poll_s))
                        continue
                    # (No store rescan per asset: that is O(backlog) each time. A new draft waits at most
                    # poll_s plus the transfer in progress before it jumps the queue.)
                    self._send(item)
                    backoff = self.config.backoff_min_s
                except LinkDown as e:
                    self._set_state("down", str(e))
                    if item is not None:  # the asset's status says why its attempt failed
                        self.outbox.note_error(item.asset_id, f"link down: {e}")
                    self.client.close()  # anything in flight on this socket is lost; the next OFFER resumes
                    # Jitter keeps many boxes from reconnecting in lockstep after the center restarts.
                    self._stop.wait(backoff * random.uniform(0.5, 1.0))
                    backoff = min(backoff * 2, self.config.backoff_max_s)
                except Rejected as e:
                    assert item is not None
                    log.warning("center refused asset %s: %s; retrying in %.0f s", item.asset_id, e,
                                self.config.retry_asset_s)
                    self._last_error = f"asset {item.asset_id}: {e}"
                    self.outbox.failed(item.asset_id, str(e), self.config.retry_asset_s)
                except StoreError as e:
                    assert item is not None
                    log.error("cannot read asset %s for sync: %s", item.asset_id, e)
                    self._last_error = str(e)
                    self.outbox.failed(item.asset_id, str(e), STORE_RETRY_S)
            return False
        except Stopped:
            return False
        finally:
            if timer:
                timer.cancel()
            self._current = None
            self.client.close()
            if self.mqtt:
                self.mqtt.stop()
            self._set_state("down", None, notify=False)

    # -- one asset -------------------------------------------------------------------

    def _send(self, item: Item) -> None:
        try:
            asset = self.store.get(item.asset_id)
        except KeyError:
            self.outbox.done(item.asset_id)  # deleted from the store: nothing left to send
            return
        if asset.sync != "pending":
            self.outbox.done(item.asset_id)
            return
        path = self.store.content_path(item.asset_id)
        fields = asset.model_dump(mode="json")
        offer = Offer(self.box_id, asset.id, asset.sha256, asset.size, {k: fields[k] for k in OFFER_FIELDS})
        self.outbox.started(asset.id)
        self._current = (asset.id, item.acked_bytes)
        saved_at = [time.monotonic()]

        def progress(acked: int) -> None:
            self._current = (asset.id, acked)
            self._set_state("up", None)
            if time.monotonic() - saved_at[0] >= PROGRESS_SAVE_S:
                saved_at[0] = time.monotonic()
                self.outbox.progress(asset.id, acked)

        try:
            self._request(lambda: self.client.send_asset(offer, path, progress))
        finally:
            self._current = None
        self.store.mark_synced(asset.id)  # only now: the center holds bytes and index row durably
        self.outbox.done(asset.id)
        self.sent_assets += 1
        self.sent_bytes += asset.size
        if self.mqtt:
            self.mqtt.notify("assets", {"event": "synced", "asset_id": asset.id, "kind": asset.kind,
                                        "name": asset.name, "sha256": asset.sha256, "size": asset.size})

    def _request(self, call: Any) -> Any:
        if self._state != "up":
            self._set_state("connecting", self._last_error)
        result = call()
        self._set_state("up", None)
        return result

    # -- bookkeeping -------------------------------------------------------------------

    def _refresh(self) -> None:
        changes = self.outbox.refresh()
        for aid in changes.expired:
            try:
                asset = self.store.get(aid)
            except KeyError:
                continue
            log.warning("asset %s (%s %s) expired unsynced: it will not be sent", aid, asset.kind, asset.name)
            self.store.update(aid, meta={**asset.meta, "sync_expired_at": time.time()})
            if self.mqtt:
                self.mqtt.notify("assets", {"event": "expired", "asset_id": aid, "kind": asset.kind})
        if self.mqtt:
            for aid in changes.added:
                item = self.outbox.get(aid)
                if item is not None and item.kind in PROTECTED_KINDS:
                    a = self.store.get(aid)
                    self.mqtt.notify("assets", {"event": "queued", "asset_id": aid, "kind": a.kind, "name": a.name,
                                                "stream": a.stream, "start": a.start, "end": a.end, "tags": a.tags})

    def _flush_notices(self, deadline: float | None) -> None:
        """Give queued MQTT notices a moment to leave before a drained `edge sync` exits (they stay queued)."""
        if not self.mqtt:
            return
        limit = time.monotonic() + 5.0
        if deadline is not None:
            limit = min(limit, deadline)
        while self.mqtt.pending() and self.mqtt.connected and time.monotonic() < limit:
            self.mqtt.pump()
            time.sleep(0.05)

    def _set_state(self, state: str, error: str | None, *, notify: bool = True) -> None:
        if state == self._state:
            return
        self._state = state
        if error:
            self._last_error = error
        if state == "down" and error:
            log.warning("link to center %s down: %s", self.endpoint, error)
        elif state == "up":
            log.info("link to center %s up", self.endpoint)
        if notify and self.mqtt and state != "connecting":
            self.mqtt.notify("status", self.link_state())

    def link_state(self) -> dict[str, Any]:
        """For the dashboard: link state, backlog and speed. rate_bps is bits per second, measured."""
        stats = self.outbox.stats()
        pending = stats.bytes_pending
        current = self._current
        if current is not None:
            item = self.outbox.get(current[0])
            if item is not None:
                pending -= max(current[1] - item.acked_bytes, 0)  # acked since the last save
        rate = self.meter.rate()  # bytes/s
        return {
            "state": self._state,
            "queue_depth": stats.queued + stats.held,
            "bytes_pending": max(pending, 0),
            "rate_bps": round(rate * 8),
            "eta_s": round(pending / rate, 1) if rate > 0 else None,
            "last_error": self._last_error,
            "held": stats.held,
            "expired": stats.expired,
            "notices_pending": self.outbox.notice_count(),
            "center": self.endpoint,
            "box_id": self.box_id,
            "sent": self.sent_assets,
            "sent_bytes": self.sent_bytes,
        }
