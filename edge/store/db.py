"""The box's one SQLite database: schema, migrations (PRAGMA user_version), the writer lock.

One database holds assets, tags, runs, time-stamped records, full-text
search, the sync outbox and post-processor cursors, so that storing an asset
and queueing it for sync is one transaction. WAL lets the dashboard read
while a stream writes; `synchronous=FULL` makes every commit durable before
it is acknowledged to anyone (a power cut keeps the old or the new state).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.kinds import KINDS
from edge.store import StoreError

DB_NAME = "edge.sqlite"

_KIND_CHECK = ", ".join(f"'{k}'" for k in KINDS)

# Each entry moves the schema from version i to i + 1; never edit a shipped one.
MIGRATIONS: list[str] = [
    f"""
    CREATE TABLE assets (
        rowid      INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        kind       TEXT NOT NULL CHECK (kind IN ({_KIND_CHECK})),
        stream     TEXT,
        run        TEXT,
        start      REAL,
        "end"      REAL,
        created_at REAL NOT NULL,
        sha256     TEXT NOT NULL,
        size       INTEGER NOT NULL CHECK (size >= 0),
        mime       TEXT NOT NULL,
        name       TEXT NOT NULL,
        tags       TEXT NOT NULL DEFAULT '[]',
        body       TEXT NOT NULL DEFAULT '',  -- searchable text of the asset (a note, a draft's text)
        provenance TEXT NOT NULL DEFAULT '{{}}',
        meta       TEXT NOT NULL DEFAULT '{{}}',
        sync       TEXT NOT NULL DEFAULT 'pending' CHECK (sync IN ('pending', 'synced', 'evicted')),
        synced_at  REAL
    );
    CREATE INDEX assets_kind ON assets (kind, id);
    CREATE INDEX assets_stream ON assets (stream, id);
    CREATE INDEX assets_sync ON assets (sync, id);
    CREATE INDEX assets_sha ON assets (sha256);
    CREATE INDEX assets_run ON assets (run, kind);

    CREATE TABLE asset_tags (
        asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
        tag      TEXT NOT NULL,
        PRIMARY KEY (asset_id, tag)
    ) WITHOUT ROWID;
    CREATE INDEX asset_tags_tag ON asset_tags (tag);

    -- Totals the dashboard shows, kept current by triggers instead of scans.
    CREATE TABLE asset_totals (
        kind  TEXT NOT NULL,
        sync  TEXT NOT NULL,
        count INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (kind, sync)
    ) WITHOUT ROWID;
    CREATE TRIGGER assets_totals_insert AFTER INSERT ON assets BEGIN
        INSERT INTO asset_totals (kind, sync, count, bytes) VALUES (new.kind, new.sync, 1, new.size)
        ON CONFLICT (kind, sync) DO UPDATE SET count = count + 1, bytes = bytes + new.size;
    END;
    CREATE TRIGGER assets_totals_delete AFTER DELETE ON assets BEGIN
        UPDATE asset_totals SET count = count - 1, bytes = bytes - old.size WHERE kind = old.kind AND sync = old.sync;
    END;
    CREATE TRIGGER assets_totals_update AFTER UPDATE OF sync, size, kind ON assets BEGIN
        UPDATE asset_totals SET count = count - 1, bytes = bytes - old.size WHERE kind = old.kind AND sync = old.sync;
        INSERT INTO asset_totals (kind, sync, count, bytes) VALUES (new.kind, new.sync, 1, new.size)
        ON CONFLICT (kind, sync) DO UPDATE SET count = count + 1, bytes = bytes + new.size;
    END;

    -- A run is one continuous session of a stream. Stream seconds restart at 0
    -- in every run; wall_start converts them to wall-clock time.
    CREATE TABLE runs (
        id           TEXT PRIMARY KEY,
        stream       TEXT NOT NULL,
        source       TEXT NOT NULL,
        live         INTEGER NOT NULL,
        opened_at    REAL NOT NULL,
        origin       REAL NOT NULL,  -- wall-clock time of stream second 0
        closed_at    REAL,
        close_reason TEXT,
        tracks_built INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE INDEX runs_stream ON runs (stream, id);
    CREATE INDEX runs_open ON runs (closed_at);

    -- Time-stamped records: caption finals now; OCR lines and sensor readings later.
    CREATE TABLE records (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        type       TEXT NOT NULL,
        run        TEXT NOT NULL REFERENCES runs (id),
        stream     TEXT NOT NULL,
        start      REAL NOT NULL,
        "end"      REAL NOT NULL,
        wall_start REAL NOT NULL,
        wall_end   REAL NOT NULL,
        text       TEXT NOT NULL DEFAULT '',
        data       TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX records_run ON records (run, seq);
    CREATE INDEX records_stream ON records (stream, type, seq);

    -- Full-text search (BM25), external-content tables kept in step by triggers,
    -- so a hit's rowid joins straight back to its row.
    CREATE VIRTUAL TABLE assets_fts USING fts5 (name, tags, body, content='assets', content_rowid='rowid',
                                                tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
        INSERT INTO assets_fts (rowid, name, tags, body) VALUES (new.rowid, new.name, new.tags, new.body);
    END;
    CREATE TRIGGER assets_fts_delete AFTER DELETE ON assets BEGIN
        INSERT INTO assets_fts (assets_fts, rowid, name, tags, body) VALUES ('delete', old.rowid, old.name, old.tags, old.body);
    END;
    CREATE TRIGGER assets_fts_update AFTER UPDATE OF name, tags, body ON assets BEGIN
        INSERT INTO assets_fts (assets_fts, rowid, name, tags, body) VALUES ('delete', old.rowid, old.name, old.tags, old.body);
        INSERT INTO assets_fts (rowid, name, tags, body) VALUES (new.rowid, new.name, new.tags, new.body);
    END;
    CREATE VIRTUAL TABLE records_fts USING fts5 (text, content='records', content_rowid='seq',
                                                 tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
        INSERT INTO records_fts (rowid, text) VALUES (new.seq, new.text);
    END;
    CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
        INSERT INTO records_fts (records_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    END;

    -- What still has to reach the center, and how it is going.
    CREATE TABLE outbox (
        asset_id    TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        priority    INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('queued', 'held', 'expired')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        acked_bytes INTEGER NOT NULL DEFAULT 0,
        expires_at  REAL,
        next_try_at REAL NOT NULL DEFAULT 0,
        last_error  TEXT,
        announced   INTEGER NOT NULL DEFAULT 0  -- a 'queued' notice went out for it (MQTT)
    ) WITHOUT ROWID;
    CREATE INDEX outbox_order ON outbox (state, priority, asset_id);
    CREATE TABLE notices (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        topic      TEXT NOT NULL,
        payload    TEXT NOT NULL,
        created_at REAL NOT NULL
    );

    -- Post-processors' positions: restart-safe because they live beside what they read.
    CREATE TABLE cursors (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- What a one-time import of an older data directory brought in, and what it refused.
    CREATE TABLE imports (
        source   TEXT PRIMARY KEY,
        done_at  REAL NOT NULL,
        report   TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # The box's event log (edge/runtime/event_log.py): streams up and down, uploads, sync, alerts.
    """
    CREATE TABLE event_log (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      REAL NOT NULL,
        kind    TEXT NOT NULL,
        level   TEXT NOT NULL CHECK (level IN ('info', 'warning', 'alert')),
        stream  TEXT,
        message TEXT NOT NULL,
        data    TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX event_log_kind ON event_log (kind, id);
    """,
    # Dashboard sessions survive a restart (edge/dashboard/sessions.py). Only a hash of each token is
    # kept, so a copy of the database logs nobody in. Expiry is absolute and idle (last_seen).
    """
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username   TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen  REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_user ON sessions (username);
    """,
    # Sentence embeddings for semantic search (edge/search/): one unit vector per record or asset.
    # sqlite-vec cannot be loaded (this Python's sqlite3 has no load_extension), so the
    # vectors live here as float32 blobs and search scores them exactly with numpy.
    """
    CREATE TABLE vectors (
        owner TEXT PRIMARY KEY,  -- 'r:<seq>' for a record, 'a:<asset id>' for an asset
        model TEXT NOT NULL,
        vec   BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER vectors_record_gone AFTER DELETE ON records BEGIN
        DELETE FROM vectors WHERE owner = 'r:' || old.seq;
    END;
    CREATE TRIGGER vectors_asset_gone AFTER DELETE ON assets BEGIN
        DELETE FROM vectors WHERE owner = 'a:' || old.id;
    END;
    """,
    # Drafts (edge/drafts/store.py): generated -> edited -> approved -> synced, or rejected; the content is
    # JSON (sentences with their sources, what the verifier removed); the audit says who changed what, when.
    """
    CREATE TABLE drafts (
        id          TEXT PRIMARY KEY,
        stream      TEXT,
        state       TEXT NOT NULL CHECK (state IN ('generated', 'edited', 'approved', 'synced', 'rejected')),
        version     INTEGER NOT NULL DEFAULT 1,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL,
        content     TEXT NOT NULL,
        asset_id    TEXT,
        last_seq    INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX drafts_stream ON drafts (stream, created_at);
    CREATE TABLE draft_audit (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        draft_id TEXT NOT NULL REFERENCES drafts (id) ON DELETE CASCADE,
        at       REAL NOT NULL,
        user     TEXT NOT NULL,
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX draft_audit_draft ON draft_audit (draft_id, id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


class ReadOnlyDatabase:
    """Reads of a store another process (a running box) owns: no migration, no writer lock, no writes."""

    def __init__(self, path: Path) -> None:
        if not Path(path).is_file():
            raise StoreError(f"no store database at {path}", "point --data at a box's data directory (edge init makes one)")
        self.path = path
        try:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=30)
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store database {path} cannot be read: {e}", "check the path and its permissions") from None
        if version != SCHEMA_VERSION:
            raise StoreError(f"store database {path} is at schema {version}, this software reads {SCHEMA_VERSION}",
                             "start the box (edge run) once with this software to migrate it")
        self.lock = threading.RLock()

    def read(self, sql: str, params: tuple | dict = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def read_one(self, sql: str, params: tuple | dict = ()) -> tuple | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        self.conn.close()


def connect(path: Path, *, check_same_thread: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode; transactions are explicit (see `transaction`)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # a commit acknowledged to anyone survives a power cut
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=30000")
    return db


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"store database {path} has schema version {found}, newer than this software ({SCHEMA_VERSION})",
            "update the box software, or open an older copy of the data directory",
        )
    for version in range(found, SCHEMA_VERSION):
        with transaction(db):
            for statement in _statements(MIGRATIONS[version]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
    return found


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (executescript would commit our transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf.strip()
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buf[:80]!r}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error (the connection is in autocommit mode)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Database:
    """The store's connection, shared by the process's threads behind one lock.

    SQLite serialises writers anyway; one connection keeps transactions and
    the in-process lock in step, and reads are fast enough not to need more.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.conn = connect(path)
            migrate(self.conn, path)
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"store database {path} cannot be opened: {e}",
                f"restore {path.name} from a copy, or move it aside to start an empty index (media files are kept)",
            ) from None
        self.lock = threading.RLock()
        self.closed = False

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self._check_open()
            with transaction(self.conn) as db:
                yield db

    def read(self, sql: str, params: tuple | dict = ()) -> list[tuple]:
        with self.lock:
            self._check_open()
            return self.conn.execute(sql, params).fetchall()

    def read_one(self, sql: str, params: tuple | dict = ()) -> tuple | None:
        with self.lock:
            self._check_open()
            return self.conn.execute(sql, params).fetchone()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.conn.close()

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(f"store database {self.path} is closed", "open the store again")



class WriterLock:
    """An exclusive flock on `<root>/LOCK`: one writing process per store.

    The kernel drops the lock when the process dies (kill -9 included), so a
    crashed writer never leaves a stale lock behind.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "LOCK"
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"cannot open store {root}: {e.strerror}",
                "check that the disk is mounted read-write and the directory belongs to this user",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if holder == str(os.getpid()):
                raise StoreError(
                    f"store {root} is already open in this process (pid {holder})",
                    "share the one AssetStore object between threads instead of opening the store twice",
                ) from None
            raise StoreError(
                f"store {root} is in use by another process (pid {holder})",
                f"stop that process (kill {holder}) or give this one a different store directory",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
