"""Hybrid search: BM25 full-text and embedding similarity, fused by reciprocal rank.

Both legs look at the same things: caption finals, on-screen text, tags
windows, and assets (notes, uploads, keyframes, drafts, caption tracks). Each
leg ranks its own candidates; reciprocal rank fusion (RRF, k=60) merges them
without having to make BM25 scores and cosines comparable. A hit says where
to go: the run and stream second to play from, or the asset to open, and a
thumbnail (the keyframe shown at that moment) when the run has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edge.search.vectors import ASSET, RECORD, VectorIndex
from edge.store.search import MAX_QUERY_WORDS, MAX_WORD_CHARS

RRF_K = 60
CANDIDATES = 50
MAX_QUERY_CHARS = 500
# A semantic hit below this cosine is noise for MiniLM (unrelated sentences score 0.0-0.2).
MIN_COSINE = 0.25
_WORD = re.compile(r"\w+", re.UNICODE)


class QueryError(ValueError):
    """A query that cannot be searched, with what to do instead."""


@dataclass
class Hit:
    type: str  # a record type (caption, ocr, tags, ...) or "asset"
    ref: str  # record seq or asset id
    score: float
    text: str
    run: str | None = None
    stream: str | None = None
    start: float | None = None  # stream seconds to jump to
    wall_start: float | None = None
    kind: str | None = None  # the asset's kind
    name: str | None = None
    thumbnail: str | None = None  # a keyframe asset id
    matched: list[str] = field(default_factory=list)  # "text", "meaning"

    def to_json(self) -> dict:
        out = {"type": self.type, "ref": self.ref, "score": round(self.score, 5), "text": self.text[:300],
               "matched": self.matched}
        for key in ("run", "stream", "kind", "name", "thumbnail"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.start is not None:
            out["start"] = round(self.start, 2)
        if self.wall_start is not None:
            out["wall_start"] = round(self.wall_start, 3)
        return out


def fuse(legs: dict[str, list[str]]) -> list[tuple[str, float, list[str]]]:
    """Reciprocal rank fusion of ranked key lists: (key, score, the legs that found it), best first."""
    ranked: dict[str, tuple[float, set[str]]] = {}
    for leg, keys in legs.items():
        for rank, key in enumerate(keys):
            score, found_by = ranked.get(key, (0.0, set()))
            ranked[key] = (score + 1.0 / (RRF_K + rank + 1), found_by | {leg})
    return [(key, score, sorted(found_by)) for key, (score, found_by) in sorted(ranked.items(), key=lambda kv: -kv[1][0])]


def any_words_query(text: str) -> str | None:
    """An FTS5 expression matching any of the words (BM25 ranks those with more of them first)."""
    words = [w[:MAX_WORD_CHARS] for w in _WORD.findall(text.casefold())][:MAX_QUERY_WORDS]
    return " OR ".join(f'"{w}"' for w in words) if words else None


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the search is empty: type a word or a phrase")
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the search is {len(query)} characters long; the limit is {MAX_QUERY_CHARS}: "
                         "search for a few words instead")
    return query.strip()


class HybridSearch:
    """Searches one store's records and assets; `embedder` may be None (full-text only)."""

    def __init__(self, db, embedder=None) -> None:
        self.db = db
        self.embedder = embedder
        self.index = VectorIndex(db, embedder.name) if embedder is not None else None

    def search(self, query: str, limit: int = 10, *, stream: str | None = None) -> list[Hit]:
        query = check_query(query)
        limit = max(1, min(int(limit), 100))
        legs = {"text": self._text_leg(query)}
        if self.index is not None:
            qvec = self.embedder.embed([query])[0]
            legs["meaning"] = [owner for owner, cos in self.index.nearest(qvec, CANDIDATES) if cos >= MIN_COSINE]
        hits = []
        for key, score, found_by in fuse(legs):
            hit = self._hit(key, score, found_by)
            if hit is not None and (stream is None or hit.stream == stream):
                hits.append(hit)
            if len(hits) >= limit:
                break
        return hits

    def _text_leg(self, query: str) -> list[str]:
        match = any_words_query(query)
        if match is None:
            return []
        records = self.db.read(
            "SELECT rowid FROM records_fts WHERE records_fts MATCH ? ORDER BY bm25(records_fts) LIMIT ?",
            (match, CANDIDATES))
        assets = self.db.read(
            "SELECT assets.id FROM assets_fts JOIN assets ON assets.rowid = assets_fts.rowid"
            " WHERE assets_fts MATCH ? ORDER BY bm25(assets_fts) LIMIT ?", (match, CANDIDATES))
        # Interleave so neither kind crowds the other out of the fused list.
        keys: list[str] = []
        for i in range(max(len(records), len(assets))):
            if i < len(records):
                keys.append(f"{RECORD}{records[i][0]}")
            if i < len(assets):
                keys.append(f"{ASSET}{assets[i][0]}")
        return keys

    def _hit(self, key: str, score: float, legs: list[str]) -> Hit | None:
        if key.startswith(RECORD):
            row = self.db.read_one('SELECT seq, type, run, stream, start, wall_start, text FROM records WHERE seq = ?',
                                   (int(key[len(RECORD):]),))
            if row is None:
                return None
            seq, rtype, run, stream, start, wall_start, text = row
            return Hit(rtype, str(seq), score, text, run, stream, start, wall_start, matched=legs,
                       thumbnail=self._thumbnail(run, start))
        row = self.db.read_one('SELECT id, kind, name, body, run, stream, start, created_at FROM assets WHERE id = ?',
                               (key[len(ASSET):],))
        if row is None:
            return None
        asset_id, kind, name, body, run, stream, start, created = row
        thumb = asset_id if kind == "keyframe" else (self._thumbnail(run, start) if run else None)
        return Hit("asset", asset_id, score, body or name, run, stream, start, None, kind, name, thumb, legs)

    def _thumbnail(self, run: str | None, start: float | None) -> str | None:
        if run is None or start is None:
            return None
        row = self.db.read_one(
            "SELECT id FROM assets WHERE kind = 'keyframe' AND run = ? AND start <= ? ORDER BY start DESC LIMIT 1",
            (run, start + 1.0))
        return row[0] if row else None
