"""The durable outbox: which store assets still have to reach the center, in what order.

State lives in the store's own SQLite database (table `outbox`), so storing
an asset and queueing it is one transaction (edge/store/assets.py inserts
the row). This module adds *how it is going* (attempts, acked bytes, expiry,
held-back state). `refresh()` reconciles the queue with the store's unsynced
assets (after an import, or if rows were lost) and applies TTL and size cap.

Order: priority class (the kinds table's sync priority), then asset id,
which is creation order (ids start with a nanosecond timestamp).

Size cap policy (`max_queue_bytes`): drafts, captions, transcripts, notes,
keyframes and sensor series are always queued. A new upload or media asset
that would take the queued bytes over the cap is *held*: it stays unsynced
in the store (never deleted) and joins the queue, oldest first, as soon as
the queue has room again. Nothing unsynced is ever dropped by the cap.

TTL policy (`ttl_s`): an asset of a kind with a TTL (default: keyframes,
6 h) that is still unsynced that long after its creation is marked
`expired` here and is no longer sent; the syncer also records it in the
asset's meta and logs it. Drafts and captions have no TTL (SyncConfig
refuses one).

The outbox also holds MQTT notices until the broker acknowledged them, so
a notice survives a power cut like an asset does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cloud_sync.config import HOLDABLE_KINDS, PRIORITY, SyncConfig
from edge.ids import created_at
from edge.store.db import connect, migrate, transaction



class Pending(Protocol):
    """What refresh() needs of a store asset (edge.store.AssetSummary fits)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...


INTERRUPTED = "the previous attempt was interrupted (sync stopped or the box restarted)"
_ITEM_COLUMNS = ("asset_id, kind, priority, size, sha256, state, attempts, acked_bytes, expires_at, next_try_at,"
                 " last_error")


@dataclass(frozen=True, slots=True)
class Item:
    asset_id: str
    kind: str
    priority: int
    size: int
    sha256: str
    state: str
    attempts: int
    acked_bytes: int
    expires_at: float | None
    next_try_at: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Refreshed:
    added: list[str]  # newly queued or held, in send order
    expired: list[str]  # just marked expired


@dataclass(frozen=True, slots=True)
class OutboxStats:
    queued: int
    held: int
    expired: int
    bytes_pending: int  # bytes of queued + held assets not yet acknowledged by the center


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    topic: str
    payload: dict[str, Any]


class Outbox:
    def __init__(self, path: Path, config: SyncConfig) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.config = config
        self._lock = threading.Lock()  # the syncer thread and paho's network thread share it
        self._reconciled = False
        # The store's database (its schema is the store's); a standalone file gets the same schema.
        self._db = connect(path)
        migrate(self._db, path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- feeding from the store ------------------------------------------------

    def refresh(self, pending: Iterable[Pending] | None = None, now: float | None = None) -> Refreshed:
        """Bring the queue in line with the store's unsynced assets (the store is the truth).

        Without `pending`, the store's own `assets` table (same database) is read.
        """
        now = time.time() if now is None else now
        with self._lock, self._tx():
            if pending is None:
                # The store queues and unqueues rows in its own transactions; reconciling against the
                # whole assets table is only needed once per process (after an import, or rows lost).
                pending = []
                if not self._reconciled:
                    pending = [_Row(*r) for r in self._db.execute(
                        "SELECT id, kind, sha256, size FROM assets WHERE sync = 'pending'"
                        " AND id NOT IN (SELECT asset_id FROM outbox)")]
                    self._db.execute(
                        "DELETE FROM outbox WHERE asset_id NOT IN (SELECT id FROM assets WHERE sync = 'pending')")
                    self._reconciled = True
                known: set[str] = set()
            else:
                pending = list(pending)
                known = {r[0] for r in self._db.execute("SELECT asset_id FROM outbox")}
                gone = known - {a.id for a in pending}  # synced by an earlier run, or evicted: nothing left to do
                self._db.executemany("DELETE FROM outbox WHERE asset_id = ?", ((i,) for i in gone))
            for a in pending:
                if a.id in known:
                    continue
                ttl = self.config.ttl_s.get(a.kind)
                self._db.execute(
                    "INSERT OR IGNORE INTO outbox (asset_id, kind, priority, size, sha256, state, expires_at)"
                    " VALUES (?, ?, ?, ?, ?, 'held', ?)",
                    (a.id, a.kind, PRIORITY.get(a.kind, max(PRIORITY.values())), a.size, a.sha256,
                     None if ttl is None else created_at(a.id) + ttl),
                )
            added = [(r[0], r[1]) for r in self._db.execute(
                "SELECT asset_id, kind FROM outbox WHERE announced = 0 ORDER BY priority, asset_id")]
            # The store queues rows with the kinds table's TTL; this config's TTLs are the ones that count.
            for asset_id, kind in added:
                ttl = self.config.ttl_s.get(kind)
                self._db.execute("UPDATE outbox SET expires_at = ? WHERE asset_id = ?",
                                 (None if ttl is None else created_at(asset_id) + ttl, asset_id))
            self._db.execute("UPDATE outbox SET announced = 1 WHERE announced = 0")
            expired = [r[0] for r in self._db.execute(
                "SELECT asset_id FROM outbox WHERE state != 'expired' AND expires_at IS NOT NULL AND expires_at <= ?"
                " ORDER BY asset_id", (now,))]
            self._db.executemany(
                "UPDATE outbox SET state = 'expired', last_error = 'expired: never synced within its TTL'"
                " WHERE asset_id = ?", ((i,) for i in expired))
            self._admit_held()
            return Refreshed([i for i, _ in added], expired)

    def _admit_held(self) -> None:
        """Move held items into the queue in send order while the cap allows."""
        cap = self.config.max_queue_bytes
        queued = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox WHERE state = 'queued'").fetchone()[0]
        for asset_id, kind, size in self._db.execute(
            "SELECT asset_id, kind, size FROM outbox WHERE state = 'held' ORDER BY priority, asset_id"
        ).fetchall():
            # An empty queue takes one item whatever its size, or a huge file would wait forever.
            if kind in HOLDABLE_KINDS and cap is not None and queued > 0 and queued + size > cap:
                continue  # a later, smaller one may still fit; protected kinds never wait here
            self._db.execute("UPDATE outbox SET state = 'queued' WHERE asset_id = ?", (asset_id,))
            queued += size

    # -- the send loop ------------------------------------------------------------------

    def next(self, now: float | None = None) -> Item | None:
        """The item to send now: best priority, then oldest, skipping those backing off."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute(
                "SELECT " + _ITEM_COLUMNS + " FROM outbox WHERE state = 'queued' AND next_try_at <= ? ORDER BY priority, asset_id LIMIT 1",
                (now,),
            ).fetchone()
        return Item(*row) if row else None

    def queued(self) -> list[Item]:
        with self._lock:
            rows = self._db.execute("SELECT " + _ITEM_COLUMNS + " FROM outbox ORDER BY state != 'queued', priority, asset_id").fetchall()
        return [Item(*r) for r in rows]

    def get(self, asset_id: str) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT " + _ITEM_COLUMNS + " FROM outbox WHERE asset_id = ?", (asset_id,)).fetchone()
        return Item(*row) if row else None

    def progress(self, asset_id: str, acked_bytes: int) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET acked_bytes = ? WHERE asset_id = ?", (acked_bytes, asset_id))

    def started(self, asset_id: str) -> None:
        # A new attempt means the last one did not finish: if no error was recorded (the process was
        # stopped or killed mid-transfer), say so, so attempts > 1 never comes with last_error null.
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = CASE WHEN attempts > 0 AND last_error IS NULL"
                " THEN ? ELSE last_error END WHERE asset_id = ?", (INTERRUPTED, asset_id))

    def note_error(self, asset_id: str, error: str) -> None:
        """Why the attempt in progress failed (the link dropped), without changing when it is retried."""
        with self._lock:
            self._db.execute("UPDATE outbox SET last_error = ? WHERE asset_id = ?", (error, asset_id))

    def asset_totals(self) -> list[tuple[str, str, int, int]]:
        """(kind, sync state, count, bytes) of every stored asset, from the store's running totals."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, sync, count, bytes FROM asset_totals WHERE count > 0 ORDER BY kind, sync").fetchall()
        return [(str(k), str(s), int(n), int(b)) for k, s, n, b in rows]

    def done(self, asset_id: str) -> None:
        """The center holds it durably (and the store says so): it leaves the outbox."""
        with self._lock, self._tx():
            self._db.execute("DELETE FROM outbox WHERE asset_id = ?", (asset_id,))
            self._admit_held()

    def failed(self, asset_id: str, error: str, retry_in_s: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET last_error = ?, next_try_at = ? WHERE asset_id = ?", (error, now + retry_in_s, asset_id)
            )

    def stats(self) -> OutboxStats:
        with self._lock:
            rows = dict(((s, (n, b)) for s, n, b in self._db.execute(
                "SELECT state, COUNT(*), COALESCE(SUM(MAX(size - acked_bytes, 0)), 0) FROM outbox GROUP BY state")))
        q, h, e = (rows.get(s, (0, 0)) for s in ("queued", "held", "expired"))
        return OutboxStats(queued=q[0], held=h[0], expired=e[0], bytes_pending=q[1] + h[1])

    # -- MQTT notices -----------------------------------------------------------------

    def add_notice(self, topic: str, payload: dict[str, Any], now: float | None = None) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO notices (topic, payload, created_at) VALUES (?, ?, ?)",
                (topic, json.dumps(payload, sort_keys=True), time.time() if now is None else now),
            )
            return int(cur.lastrowid or 0)

    def notices(self, limit: int = 100, after: int = 0) -> list[Notice]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM notices WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            ).fetchall()
        return [Notice(i, t, json.loads(p)) for i, t, p in rows]

    def drop_notice(self, notice_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM notices WHERE id = ?", (notice_id,))

    def notice_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM notices").fetchone()[0])

    # -- internals --------------------------------------------------------------------

    def _tx(self):  # noqa: ANN202
        return transaction(self._db)


@dataclass(frozen=True, slots=True)
class _Row:
    id: str
    kind: str
    sha256: str
    size: int
