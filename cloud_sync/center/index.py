"""The center's index (SQLite, WAL, synchronous=FULL): stored assets, uploads in progress, notices.

An asset row is keyed by the box's authenticated CURVE key and the box's
asset id; inserting it is the last step of a commit, and the box hears
COMMITTED only after that transaction is on disk. `box` is the name the
center gave the key when it was allowed, not what the box claims.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assets (
    box_key    TEXT NOT NULL,
    box        TEXT NOT NULL,
    id         TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    stream     TEXT,
    start      REAL,
    "end"      REAL,
    name       TEXT,
    mime       TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',
    provenance TEXT NOT NULL DEFAULT '{}',
    meta       TEXT NOT NULL DEFAULT '{}',
    created_at REAL,
    stored_at  REAL NOT NULL,
    PRIMARY KEY (box_key, id)
);
CREATE TABLE IF NOT EXISTS uploads (
    box_key    TEXT NOT NULL,
    id         TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    offer      TEXT NOT NULL,
    started_at REAL NOT NULL,
    verified   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (box_key, id)
);
CREATE TABLE IF NOT EXISTS notices (
    box         TEXT NOT NULL,
    nid         TEXT NOT NULL,
    topic       TEXT NOT NULL,
    payload     TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (box, nid)
);
"""

ASSET_FIELDS = ("kind", "stream", "start", "end", "name", "mime", "tags", "provenance", "meta", "created_at")


@dataclass(frozen=True, slots=True)
class Upload:
    box_key: str
    id: str
    sha256: str
    size: int
    offer: dict[str, Any]
    # Every byte arrived from this box and the whole sha256 matched (set just before the object is stored).
    verified: bool = False


class Index:
    """One connection; safe to share between threads (a lock serialises use)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(uploads)")}
        if "verified" not in cols:  # an index made before uploads were marked verified
            self._db.execute("ALTER TABLE uploads ADD COLUMN verified INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- assets ------------------------------------------------------------------

    def asset_sha(self, box_key: str, asset_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT sha256 FROM assets WHERE box_key = ? AND id = ?", (box_key, asset_id)).fetchone()
        return row[0] if row else None

    def store_asset(self, box_key: str, box: str, offer: dict[str, Any]) -> None:
        """Record a stored asset and forget its upload, in one transaction. Idempotent."""
        meta = offer.get("meta") or {}
        row = {
            "box_key": box_key, "box": box, "id": offer["asset_id"], "sha256": offer["sha256"], "size": offer["size"],
            "kind": meta.get("kind") or "upload", "stream": meta.get("stream"), "start": meta.get("start"),
            "end": meta.get("end"), "name": meta.get("name"), "mime": meta.get("mime"),
            "tags": json.dumps(meta.get("tags") or []), "provenance": json.dumps(meta.get("provenance") or {}),
            "meta": json.dumps(meta.get("meta") or {}), "created_at": meta.get("created_at"), "stored_at": time.time(),
        }
        cols = ", ".join(f'"{c}"' for c in row)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(f"INSERT OR IGNORE INTO assets ({cols}) VALUES ({', '.join('?' * len(row))})",
                                 tuple(row.values()))
                self._db.execute("DELETE FROM uploads WHERE box_key = ? AND id = ?", (box_key, offer["asset_id"]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def assets(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            cur = self._db.execute(
                'SELECT box, id, sha256, size, kind, stream, start, "end", name, mime, tags, provenance, meta,'
                " created_at, stored_at, box_key FROM assets ORDER BY box, id")
            rows = cur.fetchall()
            names = [d[0] for d in cur.description]
        for r in rows:
            d = dict(zip(names, r, strict=True))
            for k in ("tags", "provenance", "meta"):
                d[k] = json.loads(d[k])
            yield d

    # -- uploads in progress -------------------------------------------------------

    def start_upload(self, up: Upload) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO uploads (box_key, id, sha256, size, offer, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (up.box_key, up.id, up.sha256, up.size, json.dumps(up.offer), time.time()),
            )

    def mark_verified(self, box_key: str, asset_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE uploads SET verified = 1 WHERE box_key = ? AND id = ?", (box_key, asset_id))

    def drop_upload(self, box_key: str, asset_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM uploads WHERE box_key = ? AND id = ?", (box_key, asset_id))

    def uploads(self) -> list[Upload]:
        with self._lock:
            rows = self._db.execute("SELECT box_key, id, sha256, size, offer, verified FROM uploads").fetchall()
        return [Upload(k, i, s, n, json.loads(o), bool(v)) for k, i, s, n, o, v in rows]

    # -- MQTT notices --------------------------------------------------------------

    def record_notice(self, box: str, nid: str, topic: str, payload: str) -> bool:
        """False when this notice was recorded before (QoS 1 may deliver twice)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO notices (box, nid, topic, payload, received_at) VALUES (?, ?, ?, ?, ?)",
                (box, nid, topic, payload, time.time()),
            )
            return cur.rowcount == 1

    def notices(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT box, nid, topic, payload, received_at FROM notices ORDER BY received_at, rowid").fetchall()
        return [{"box": b, "nid": n, "topic": t, "payload": json.loads(p), "received_at": r} for b, n, t, p, r in rows]
