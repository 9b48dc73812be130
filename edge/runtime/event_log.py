"""The box's event log: what happened, when, in words a crew reads (stream up/down, uploads, syncs, alerts).

Kept in the store's database (table `event_log`), so it survives restarts and
is read with the same lock as everything else. Messages are written for
people; `data` carries the details a script may want.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from edge.store import AssetStore

Level = Literal["info", "warning", "alert"]
KINDS = ("stream", "upload", "sync", "alert", "box")
MAX_MESSAGE = 500
KEEP = 20_000  # newest events kept; a camera flapping all day must not fill the disk with its log


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    id: int
    at: float
    kind: str
    level: str
    stream: str | None
    message: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "kind": self.kind, "level": self.level, "stream": self.stream,
                "message": self.message, "data": self.data}


class EventLog:
    def __init__(self, store: AssetStore) -> None:
        self._db = store.db

    def add(self, kind: str, message: str, *, level: Level = "info", stream: str | None = None,
            data: dict[str, Any] | None = None, at: float | None = None) -> LoggedEvent:
        if kind not in KINDS:
            raise ValueError(f"event kind {kind!r} is not one of {KINDS}")
        row = (time.time() if at is None else at, kind, level, stream, message[:MAX_MESSAGE],
               json.dumps(data or {}, default=str))
        with self._db.write() as db:
            cur = db.execute("INSERT INTO event_log (at, kind, level, stream, message, data) VALUES (?, ?, ?, ?, ?, ?)",
                             row)
        return LoggedEvent(int(cur.lastrowid or 0), row[0], kind, level, stream, row[4], data or {})

    def recent(self, *, kind: str | None = None, before: int | None = None, limit: int = 100) -> list[LoggedEvent]:
        """Newest first; `before` (an id) pages further back."""
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = ("SELECT id, at, kind, level, stream, message, data FROM event_log"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
        return [LoggedEvent(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]))
                for r in self._db.read(sql, (*params, limit))]

    def prune(self, keep: int = KEEP) -> int:
        """Drop all but the newest `keep` events; returns how many went."""
        with self._db.write() as db:
            cur = db.execute("DELETE FROM event_log WHERE id <= (SELECT MAX(id) FROM event_log) - ?", (keep,))
        return cur.rowcount
