"""Search over everything the center received from every box, the way a box searches its own store.

What boxes send is hostile: text comes out of stored assets through bounded,
checked parsers (caption lines through captions.parse_line, drafts as JSON),
and nothing in an asset can stop indexing; a bad asset is skipped and logged.
The index is its own SQLite file beside the center's index (search.sqlite),
filled incrementally: each asset is read once, keyed by box key and asset id,
so one box's asset never shadows another's.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cloud_sync.center.captions import MAX_SEGMENT_BYTES, parse_line
from edge.search.hybrid import CANDIDATES, MIN_COSINE, any_words_query, check_query, fuse

log = logging.getLogger("cloud_sync.center.search")

MAX_TEXT_BYTES = 256 << 10  # notes, transcripts and drafts beyond this are indexed by their start
MAX_UNIT_CHARS = 2000
_TAG = re.compile(r"<[^>]+>")
TEXT_KINDS = frozenset({"note", "transcript"})
META_KINDS = frozenset({"note", "upload", "media", "keyframe", "transcript", "draft", "caption_segment"})

_SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS units (
    id         INTEGER PRIMARY KEY,
    box_key    TEXT NOT NULL,
    box        TEXT NOT NULL,
    asset      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    stream     TEXT,
    run        TEXT,
    start      REAL,
    wall_start REAL,
    text       TEXT NOT NULL,
    vec        BLOB
);
CREATE INDEX IF NOT EXISTS units_asset ON units (box_key, asset);
CREATE VIRTUAL TABLE IF NOT EXISTS units_fts USING fts5 (text, content='units', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS units_fts_insert AFTER INSERT ON units BEGIN
    INSERT INTO units_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TABLE IF NOT EXISTS indexed (
    box_key TEXT NOT NULL,
    asset   TEXT NOT NULL,
    sha256  TEXT NOT NULL,
    PRIMARY KEY (box_key, asset)
) WITHOUT ROWID;
"""


@dataclass
class Unit:
    text: str
    stream: str | None = None
    run: str | None = None
    start: float | None = None
    wall_start: float | None = None


def units_of(asset: dict[str, Any], body: bytes | None) -> list[Unit]:
    """The searchable pieces of one received asset (never raises on what a box sent)."""
    kind, meta = asset.get("kind"), asset.get("meta") if isinstance(asset.get("meta"), dict) else {}
    stream = asset.get("stream") if isinstance(asset.get("stream"), str) else None
    out: list[Unit] = []
    if kind == "caption_segment" and body is not None:
        for raw in body.splitlines():
            line = parse_line(raw, None)
            if line:
                out.append(Unit(line["text"][:MAX_UNIT_CHARS], stream, line["run"], line.get("start"),
                                line.get("wall_start")))
        return out
    if kind == "draft" and body is not None:
        text = _draft_text(body)
        if text:
            out.append(Unit(text[:MAX_UNIT_CHARS], stream, meta.get("run") if isinstance(meta.get("run"), str) else None))
        return out
    parts = [str(asset.get("name") or "")]
    tags = asset.get("tags")
    if isinstance(tags, list):
        parts += [t for t in tags if isinstance(t, str)][:50]
    for key in ("note", "caption", "title"):
        if isinstance(meta.get(key), str):
            parts.append(meta[key][:MAX_UNIT_CHARS])
    if kind in TEXT_KINDS and body is not None:
        parts.append(body[:MAX_TEXT_BYTES].decode("utf-8", "replace")[:MAX_UNIT_CHARS * 5])
    text = " ".join(p for p in parts if p).strip()
    if text and kind in META_KINDS:
        start = asset.get("start") if isinstance(asset.get("start"), (int, float)) else None
        out.append(Unit(text, stream, meta.get("run") if isinstance(meta.get("run"), str) else None, start))
    return out


def _draft_text(body: bytes) -> str:
    try:
        doc = json.loads(body[:MAX_TEXT_BYTES])
    except (ValueError, RecursionError):
        return ""
    if not isinstance(doc, dict):
        return ""
    texts = []
    for field in ("headlines", "bodies"):
        for item in doc.get(field) or []:
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                texts.append(_TAG.sub(" ", item["value"]))
    return " ".join(" ".join(texts).split())


class CenterSearch:
    def __init__(self, path: Path, embedder=None) -> None:
        self.embedder = embedder
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def refresh(self, index, storage) -> int:
        """Index the assets not indexed yet; returns how many. A bad asset is logged and skipped, not fatal."""
        done = 0
        seen = {(r[0], r[1]): r[2] for r in self._db.execute("SELECT box_key, asset, sha256 FROM indexed")}
        for asset in index.assets():
            key = (asset["box_key"], asset["id"])
            if seen.get(key) == asset["sha256"]:
                continue
            try:
                body = None
                if asset["kind"] in TEXT_KINDS | {"caption_segment", "draft"} and asset["size"] <= MAX_SEGMENT_BYTES:
                    body = storage.read_object(asset["sha256"])
                units = units_of(asset, body)
            except Exception as exc:  # hostile or unreadable: skip this one, keep indexing the rest
                log.warning("search: skipped %s/%s (%s): %s", asset.get("box"), asset.get("id"), asset.get("kind"), exc)
                units = []
            vectors = self.embedder.embed([u.text for u in units]) if (units and self.embedder) else None
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("DELETE FROM units WHERE box_key = ? AND asset = ?", key)
                    for i, u in enumerate(units):
                        vec = vectors[i].astype("<f4").tobytes() if vectors is not None else None
                        self._db.execute(
                            "INSERT INTO units (box_key, box, asset, kind, stream, run, start, wall_start, text, vec)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (key[0], asset["box"], asset["id"], asset["kind"], u.stream, u.run, u.start,
                             u.wall_start, u.text, vec))
                    self._db.execute("INSERT OR REPLACE INTO indexed VALUES (?, ?, ?)", (*key, asset["sha256"]))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            done += 1
        if self.embedder is not None:
            self._backfill_vectors()
        return done

    def _backfill_vectors(self) -> None:
        """Units indexed by a --text-only run get their vectors once an embedder is there."""
        while True:
            rows = self._db.execute("SELECT id, text FROM units WHERE vec IS NULL LIMIT 256").fetchall()
            if not rows:
                return
            vectors = self.embedder.embed([r[1] for r in rows])
            with self._lock:
                self._db.executemany("UPDATE units SET vec = ? WHERE id = ?",
                                     [(v.astype("<f4").tobytes(), r[0]) for r, v in zip(rows, vectors)])

    def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        query = check_query(query)
        limit = max(1, min(int(limit), 100))
        legs: dict[str, list[str]] = {}
        match = any_words_query(query)
        if match:
            legs["text"] = [str(r[0]) for r in self._db.execute(
                "SELECT rowid FROM units_fts WHERE units_fts MATCH ? ORDER BY bm25(units_fts) LIMIT ?",
                (match, CANDIDATES))]
        if self.embedder is not None:
            rows = self._db.execute("SELECT id, vec FROM units WHERE vec IS NOT NULL").fetchall()
            if rows:
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
                scores = matrix @ self.embedder.embed([query])[0]
                top = np.argsort(-scores)[:CANDIDATES]
                legs["meaning"] = [str(rows[i][0]) for i in top if scores[i] >= MIN_COSINE]
        out = []
        for key, score, found_by in fuse(legs)[:limit]:
            row = self._db.execute("SELECT box, asset, kind, stream, run, start, wall_start, text FROM units WHERE id = ?",
                                   (int(key),)).fetchone()
            if row is None:
                continue
            box, asset, kind, stream, run, start, wall_start, text = row
            hit = {"box": box, "asset": asset, "kind": kind, "text": text[:300], "score": round(score, 5),
                   "matched": found_by}
            hit |= {k: v for k, v in (("stream", stream), ("run", run), ("start", start), ("wall_start", wall_start))
                    if v is not None}
            out.append(hit)
        return out
