"""The box watching itself: every couple of seconds, measure CPU, evaluate alerts, log what changed.

One thread per box (started by the dashboard, `Monitor.of(box).start()`).
What it notices goes to the event log (edge/runtime/event_log.py): streams
going up or down, the link to the newsroom changing state, assets reaching
the newsroom, alerts raised and cleared. Uploads are logged where they are
stored (the dashboard's upload route). A failed look is logged and the next
one tried: watching must never take the box down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from edge.ingest.sources import redact
from edge.runtime.alerts import Alert, Alerts, Snapshot
from edge.runtime.cpu import INTERVAL_S, CpuSampler
from edge.runtime.event_log import EventLog
from edge.store import StoreError

log = logging.getLogger(__name__)

PRUNE_EVERY_LOOKS = 1800  # about an hour at one look every 2 s

_STREAM_WORDS = {
    "playing": "is playing",
    "retrying": "dropped; the box keeps retrying",
    "failed": "failed",
    "ended": "ended (the source finished)",
    "stopped": "was stopped",
    "starting": "is starting",
}


class Monitor:
    def __init__(self, box: Any, *, interval_s: float = INTERVAL_S, alerts: Alerts | None = None) -> None:
        self.box = box
        self.interval_s = interval_s
        self.cpu = CpuSampler(interval_s)
        self.alerts = alerts or Alerts()
        self.events = EventLog(box.store)
        self._states: dict[str, str] = {}
        self._sync_state: str | None = None
        self._synced: int | None = None
        self._looks = 0
        self._lock = threading.Lock()  # one look at a time
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def of(cls, box: Any) -> "Monitor":
        """The box's one monitor (several dashboards on one box share it)."""
        with _REGISTRY_LOCK:
            monitor = box.__dict__.get("_monitor")
            if monitor is None:
                monitor = box.__dict__["_monitor"] = cls(box)
            return monitor

    def start(self) -> "Monitor":
        with self._start_lock:
            if self._thread is None:
                self.look()  # streams and alerts known from the first page on
                self._thread = threading.Thread(target=self._loop, name="box-monitor", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.box.store.db.closed:
                return  # the box was closed
            try:
                self.look()
            except StoreError as exc:
                if self.box.store.db.closed:
                    return
                log.error("box monitor: %s", exc)
            except Exception:  # a bug here must not stop the next look
                log.exception("box monitor failed; trying again in %.0f s", self.interval_s)

    def look(self) -> tuple[list[Alert], list[Alert]]:
        """One round: CPU interval closed, stream and sync changes logged, alerts evaluated and logged."""
        with self._lock:
            self.cpu.sample()
            box = self.box
            # Camera passwords can appear in a source's error message; the log and alerts are shown to everyone.
            streams = [{**s.to_json(), "message": redact(s.message or "")} for s in box.supervisor.streams()]
            self._log_streams(streams)
            sync = box.sync_state()
            self._log_sync(sync)
            disk = box.store.disk_status()
            raised, cleared = self.alerts.evaluate(Snapshot(time.time(), streams, disk.free, disk.floor,
                                                            disk.alarm, sync, sensors=_sensor_alerts(box)))
            self._looks += 1
            if self._looks % PRUNE_EVERY_LOOKS == 1:
                self.events.prune()
            for a in raised:
                self.events.add("alert", a.message, level="alert", stream=a.stream, data={"key": a.key})
            for a in cleared:
                self.events.add("alert", f"Resolved: {a.message}", stream=a.stream, data={"key": a.key, "cleared": True})
            return raised, cleared

    def _log_streams(self, streams: list[dict]) -> None:
        now = {str(s["name"]): s for s in streams}
        for name, s in now.items():
            state = str(s["state"])
            if self._states.get(name) == state:
                continue
            words = _STREAM_WORDS.get(state, state)
            reason = str(s.get("message") or "").strip() if state in ("retrying", "failed") else ""
            level = "warning" if state in ("retrying", "failed") else "info"
            self.events.add("stream", f"Stream {name} {words}{': ' + reason if reason else ''}", level=level,
                            stream=name, data={"state": state, "run": s.get("run")})
            self._states[name] = state
        for name in [n for n in self._states if n not in now]:
            self.events.add("stream", f"Stream {name} was removed", stream=name, data={"state": "removed"})
            del self._states[name]

    def _log_sync(self, sync: dict | None) -> None:
        state = str(sync.get("state")) if sync is not None else None
        if sync is not None and state != self._sync_state and state != "connecting":
            if state == "up":
                self.events.add("sync", f"Link to the newsroom ({sync.get('center')}) is up", data={"state": state})
            elif self._sync_state is not None:
                error = sync.get("last_error") or "no answer"
                self.events.add("sync", f"Link to the newsroom is down: {error}", level="warning",
                                data={"state": state})
            self._sync_state = state
        synced = sum(per_sync.get("synced", (0, 0))[0] for per_sync in self.box.store.totals().values())
        if self._synced is not None and synced > self._synced:
            n = synced - self._synced
            self.events.add("sync", f"{n} asset{'s' if n != 1 else ''} reached the newsroom", data={"count": n})
        self._synced = synced


_REGISTRY_LOCK = threading.Lock()


def _sensor_alerts(box: Any) -> list[dict]:
    sensors = getattr(box, "sensors", None)  # set once `edge run` started sensor ingest
    return sensors.ingest.active_alerts() if sensors is not None else []
