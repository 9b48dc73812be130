"""Runs and time-stamped records (caption finals now; OCR lines and sensor readings later).

A run is one continuous session of a stream: opened when its source starts,
closed when it ends or the box stops, and closed at the next start-up when a
crash left it open. Stream seconds restart at 0 in every run, so every
record carries its run, its stream time and its wall-clock time; the run's
`origin` (the wall-clock time of stream second 0) converts between them.
Records are numbered by one sequence (`seq`) across the box, so readers page
with `after=seq` and never mix runs up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.events import CaptionEvent
from edge.ids import IdClock, STREAM_NAME, is_match
from edge.store import StoreError
from edge.store.db import Database
from edge.store.search import fts_query

CAPTION = "caption"
SENSOR = "sensor"  # a sensor reading: stream = device id, data = {quantity, value, unit, ...}
ALERT = "alert"  # a fact a draft may cite (e.g. a sensor threshold crossed): text says it in words
TAGS = "tags"  # topics, keywords and entities of a window of records: data = {topics, keywords, entities, seqs, source}
OCR = "ocr"  # on-screen text over a time range (edge/vision/): data = {box, score, keyframe}
QUOTE_MARK = "quote_mark"  # a crew marked a caption as a quote: data = {caption_seq, text, by}
POLISHED = "polished"  # a re-decode of closed speech with the offline settings: data = {replaces: [caption seqs], language}
TRANSLATION = "translation"  # closed speech re-decoded as English (Whisper's translate task): data = {source: [caption seqs], language: "en", from, cues}
_RUN_COLUMNS = "id, stream, source, live, opened_at, origin, closed_at, close_reason, tracks_built"
_RECORD_COLUMNS = 'seq, type, run, stream, start, "end", wall_start, wall_end, text, data'


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    stream: str
    source: str  # as shown to people: passwords removed
    live: bool
    opened_at: float
    origin: float  # wall-clock time of stream second 0
    closed_at: float | None = None
    close_reason: str | None = None
    tracks_built: bool = False

    def wall(self, stream_s: float) -> float:
        return self.origin + stream_s

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "stream": self.stream, "source": self.source, "live": self.live,
                "opened_at": self.opened_at, "origin": self.origin, "closed_at": self.closed_at,
                "close_reason": self.close_reason}


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    type: str
    run: str
    stream: str
    start: float
    end: float
    wall_start: float
    wall_end: float
    text: str
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "run": self.run, "stream": self.stream,
                "start": round(self.start, 3), "end": round(self.end, 3), "wall_start": round(self.wall_start, 3),
                "wall_end": round(self.wall_end, 3), "text": self.text, **({"data": self.data} if self.data else {})}


class RecordStore:
    def __init__(self, db: Database, *, check_space: Callable[[int], None]) -> None:
        self.db = db
        self._check_space = check_space
        newest = db.read_one("SELECT MAX(id) FROM runs")
        self._ids = IdClock(newest[0] if newest else None)

    # -- runs ---------------------------------------------------------------------

    def open_run(self, stream: str, source: str, *, live: bool, origin: float | None = None) -> Run:
        if not is_match(STREAM_NAME, stream):
            raise StoreError(f"stream name {stream!r} cannot name a run", "use 1 to 64 letters, digits, '_', '.' or '-'")
        now = time.time()
        run = Run(self._ids.next(), stream, source, live, now, now if origin is None else origin)
        self._check_space(4096)
        with self.db.write() as db:
            db.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, 0)",
                       (run.id, run.stream, run.source, int(run.live), run.opened_at, run.origin))
        return run

    def set_origin(self, run_id: str, origin: float) -> Run:
        """Anchor stream second 0 to the wall clock (e.g. when a camera's first audio arrived)."""
        with self.db.write() as db:
            db.execute("UPDATE runs SET origin = ? WHERE id = ? AND closed_at IS NULL", (origin, run_id))
        return self.run(run_id)

    def close_run(self, run_id: str, reason: str) -> Run:
        with self.db.write() as db:
            db.execute("UPDATE runs SET closed_at = ?, close_reason = ? WHERE id = ? AND closed_at IS NULL",
                       (time.time(), reason[:500], run_id))
        return self.run(run_id)

    def close_open_runs(self, reason: str) -> list[Run]:
        """Close runs a crash left open (start-up), and say which."""
        open_ids = [r[0] for r in self.db.read("SELECT id FROM runs WHERE closed_at IS NULL ORDER BY id")]
        for run_id in open_ids:
            last = self.db.read_one("SELECT MAX(wall_end) FROM records WHERE run = ?", (run_id,))
            with self.db.write() as db:
                db.execute("UPDATE runs SET closed_at = ?, close_reason = ? WHERE id = ?",
                           (last[0] if last and last[0] else time.time(), reason, run_id))
        return [self.run(i) for i in open_ids]

    def mark_tracks_built(self, db: Any, run_id: str) -> None:
        """Inside the transaction that stored the run's tracks (see AssetStore.add_bytes(on_commit=...))."""
        db.execute("UPDATE runs SET tracks_built = 1 WHERE id = ?", (run_id,))

    def run(self, run_id: str) -> Run:
        row = self.db.read_one(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise KeyError(f"no run {run_id!r}")
        return _run(row)

    def runs(self, stream: str | None = None, *, limit: int = 100, closed_without_tracks: bool = False) -> list[Run]:
        where, params = [], []
        if stream is not None:
            where.append("stream = ?")
            params.append(stream)
        if closed_without_tracks:
            where.append("closed_at IS NOT NULL AND tracks_built = 0")
        sql = f"SELECT {_RUN_COLUMNS} FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        return [_run(r) for r in self.db.read(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))]

    # -- records ------------------------------------------------------------------

    def append_captions(self, run: Run, events: Iterable[CaptionEvent]) -> list[Record]:
        """Store caption finals durably (partials are never stored); returns them with their seq."""
        rows = [(CAPTION, run.id, run.stream, e.start, e.end, run.wall(e.start), run.wall(e.end), e.text, "{}")
                for e in events if e.type == "final"]
        return self.append(rows)

    def append(self, rows: Sequence[tuple]) -> list[Record]:
        """Rows of (type, run, stream, start, end, wall_start, wall_end, text, data-json)."""
        if not rows:
            return []
        self._check_space(sum(len(r[7]) + 256 for r in rows))
        out = []
        with self.db.write() as db:
            for row in rows:
                cur = db.execute(
                    'INSERT INTO records (type, run, stream, start, "end", wall_start, wall_end, text, data)'
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                out.append(Record(int(cur.lastrowid or 0), row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                                  row[7], json.loads(row[8])))
        return out

    def extend(self, seq: int, end: float, wall_end: float) -> None:
        """Move a record's end later (on-screen text still showing); its text, and so its search entry, stay."""
        self._check_space(256)
        with self.db.write() as db:
            db.execute('UPDATE records SET "end" = MAX("end", ?), wall_end = MAX(wall_end, ?) WHERE seq = ?',
                       (end, wall_end, seq))

    def read(self, *, stream: str | None = None, run: str | None = None,
             type: str | tuple[str, ...] | None = CAPTION, after: int = 0, limit: int | None = 1000) -> list[Record]:
        """Records after `after` (a seq), oldest first; `type` may be several (a tuple)."""
        where, params = ["seq > ?"], [after]
        if isinstance(type, tuple):
            where.append(f"type IN ({', '.join('?' * len(type))})")
            params.extend(type)
            type = None
        for column, value in (("stream", stream), ("run", run), ("type", type)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        return [_record(r) for r in self.db.read(sql, (*params, -1 if limit is None else limit))]

    def search(self, q: str, *, stream: str | None = None, limit: int = 50) -> list[Record]:
        """Records whose text matches `q` (see search.fts_query), best BM25 first."""
        match = fts_query(q)
        if match is None or limit <= 0:
            return []
        cols = ", ".join(f"records.{c.strip()}" for c in _RECORD_COLUMNS.split(","))
        sql = (f"SELECT {cols} FROM records_fts JOIN records ON records.seq = records_fts.rowid"
               " WHERE records_fts MATCH ?" + (" AND records.stream = ?" if stream else "")
               + " ORDER BY bm25(records_fts) LIMIT ?")
        return [_record(r) for r in self.db.read(sql, (match, stream, limit) if stream else (match, limit))]

    def last_seq(self) -> int:
        row = self.db.read_one("SELECT MAX(seq) FROM records")
        return int(row[0]) if row and row[0] is not None else 0

    def streams(self) -> list[str]:
        return [r[0] for r in self.db.read("SELECT DISTINCT stream FROM runs ORDER BY stream")]

    def count(self) -> int:
        row = self.db.read_one("SELECT COUNT(*) FROM records")
        return int(row[0]) if row else 0


def _run(row: tuple) -> Run:
    rid, stream, source, live, opened_at, origin, closed_at, reason, built = row
    return Run(rid, stream, source, bool(live), opened_at, origin, closed_at, reason, bool(built))


def _record(row: tuple) -> Record:
    seq, typ, run, stream, start, end, ws, we, text, data = row
    return Record(seq, typ, run, stream, start, end, ws, we, text, json.loads(data))
