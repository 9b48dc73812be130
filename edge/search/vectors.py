"""Unit vectors in the store's `vectors` table, scored exactly (brute-force cosine) with numpy.

Exact search over a matrix held in memory: 100k vectors of 384 float32 are
150 MB and a query is one matrix-vector product (tens of ms), more than a
box's event needs. The cache is rebuilt when the table's size changes.
"""

from __future__ import annotations

import threading

import numpy as np

from edge.store.db import Database

RECORD = "r:"
ASSET = "a:"


def record_owner(seq: int) -> str:
    return f"{RECORD}{int(seq)}"


def asset_owner(asset_id: str) -> str:
    return f"{ASSET}{asset_id}"


class VectorIndex:
    def __init__(self, db: Database, model: str) -> None:
        self.db = db
        self.model = model
        self._lock = threading.Lock()
        self._owners: list[str] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._count = -1

    def put(self, items: list[tuple[str, np.ndarray]]) -> None:
        if not items:
            return
        rows = [(owner, self.model, np.asarray(v, dtype="<f4").tobytes()) for owner, v in items]
        with self.db.write() as c:
            c.executemany("INSERT INTO vectors (owner, model, vec) VALUES (?, ?, ?)"
                          " ON CONFLICT (owner) DO UPDATE SET model = excluded.model, vec = excluded.vec", rows)
        with self._lock:
            self._count = -1

    def has(self, owner: str) -> bool:
        return self.db.read_one("SELECT 1 FROM vectors WHERE owner = ? AND model = ?", (owner, self.model)) is not None

    def count(self) -> int:
        row = self.db.read_one("SELECT COUNT(*) FROM vectors WHERE model = ?", (self.model,))
        return int(row[0]) if row else 0

    def nearest(self, query: np.ndarray, k: int, prefix: str | None = None) -> list[tuple[str, float]]:
        """The k owners most similar to `query` (a unit vector), best first, with their cosine."""
        owners, matrix = self._snapshot()
        if not owners or k <= 0:
            return []
        scores = matrix @ np.asarray(query, dtype=np.float32)
        if prefix is not None:
            keep = np.array([o.startswith(prefix) for o in owners])
            scores = np.where(keep, scores, -np.inf)
        k = min(k, len(owners))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(owners[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _snapshot(self) -> tuple[list[str], np.ndarray]:
        count = self.count()
        with self._lock:
            if count != self._count:
                rows = self.db.read("SELECT owner, vec FROM vectors WHERE model = ?", (self.model,))
                self._owners = [r[0] for r in rows]
                self._matrix = (np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
                                if rows else np.zeros((0, 0), dtype=np.float32))
                self._count = count
            return self._owners, self._matrix
