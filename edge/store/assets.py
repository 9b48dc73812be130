"""The asset index: what the box has made or received, where its bytes are, whether it is synced.

Metadata, tags, search text and the sync queue live in one SQLite database
(db.py); bytes live in the content-addressed BlobStore; time-stamped records
and runs in records.py, on the same database. One AssetStore per store
directory per process: threads share it.

Writing an asset is: blob (fsynced) first, then one transaction that inserts
the row, its tags, its search text and its outbox entry. A crash between the
two leaves an orphan blob (collected at start-up), never a row without bytes.
"""

from __future__ import annotations

import builtins
import json
import mimetypes
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticSerializationError

from edge.ids import ASSET_ID, RUN_ID, IdClock, created_at as id_time
from edge.kinds import KINDS, AssetKind, eviction_order, policy
from edge.store import DiskFullError, StoreError, retention
from edge.store.blobs import BlobStore
from edge.store.db import DB_NAME, Database, WriterLock
from edge.store.records import RecordStore
from edge.store.search import fts_query

MiB = 1 << 20
# Text kept for full-text search of one asset (a note, a draft); longer text is cut.
MAX_BODY_CHARS = 64 * 1024

SyncState = Literal["pending", "synced", "evicted"]
DiskUsage = Callable[[str | os.PathLike[str]], Any]  # shutil.disk_usage's shape: .total, .used, .free

_COLUMNS = ("id", "kind", "stream", "run", "start", "end", "created_at", "sha256", "size", "mime", "name", "tags",
            "provenance", "meta", "sync", "synced_at")
_SELECT = "SELECT " + ", ".join(f'assets."{c}"' for c in _COLUMNS) + " FROM assets"
_JSON_COLUMNS = ("tags", "provenance", "meta")


class Asset(BaseModel):
    """One stored thing. Times `start`/`end` are stream seconds of `run`; `created_at` is unix time."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=ASSET_ID.pattern)
    kind: AssetKind
    stream: str | None = None
    run: str | None = Field(default=None, pattern=RUN_ID.pattern)
    start: float | None = None
    end: float | None = None
    created_at: float
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    mime: str = "application/octet-stream"
    name: str = Field(min_length=1)
    tags: list[str] = []
    provenance: dict[str, Any] = {}  # which model, profile and backend made it
    sync: SyncState = "pending"
    synced_at: float | None = None
    meta: dict[str, Any] = {}

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(t.strip() for t in tags if t.strip()))

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Asset:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"time range ends ({self.end}) before it starts ({self.start})")
        return self


class AssetSummary(NamedTuple):
    """The fields retention and the outbox need, without validating a whole Asset."""

    id: str
    kind: str
    sync: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class DiskStatus:
    total: int
    free: int
    floor: int
    alarm: bool  # below the floor even after evicting everything evictable: a person must act
    unsynced_bytes: int
    evictable_bytes: int


@dataclass(frozen=True, slots=True)
class _Prepared:
    fields: dict[str, Any]
    body: str
    put: Callable[[], tuple[str, int]]  # writes the blob (again, if retention took it meanwhile)


class AssetStore:
    """The store at `root`: index and queue (SQLite), blobs, runs and records, opened by one process.

    (`builtins.list` in annotations below: this class has a `list` method.)
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        disk_floor_bytes: int = 512 * MiB,
        reserve_bytes: int = 64 * MiB,
        disk_usage: DiskUsage = shutil.disk_usage,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.disk_floor_bytes = disk_floor_bytes
        self.reserve_bytes = reserve_bytes
        self._disk_usage = disk_usage
        self._writer = WriterLock(self.root)
        self._closed = False
        try:
            self.blobs = BlobStore(self.root / "blobs")
            self.blobs.clean_temp()
            self.db = Database(self.root / DB_NAME)
            newest = self.db.read_one("SELECT MAX(id) FROM assets")
            self._ids = IdClock(newest[0] if newest else None)
            self.records = RecordStore(self.db, check_space=self._ensure_space)
        except BaseException:
            self._closed = True
            self._writer.release()
            raise

    @property
    def db_path(self) -> Path:
        return self.db.path

    # -- lifecycle --------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.db.close()
        self._writer.release()

    def __enter__(self) -> AssetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------

    def add_bytes(
        self,
        data: bytes,
        *,
        kind: AssetKind,
        name: str,
        mime: str = "application/octet-stream",
        stream: str | None = None,
        run: str | None = None,
        start: float | None = None,
        end: float | None = None,
        tags: Iterable[str] = (),
        provenance: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        text: str | None = None,
        cursor: tuple[str, int] | None = None,
        on_commit: Callable[[Any], None] | None = None,
    ) -> Asset:
        """Store bytes as an asset and queue it for sync, in one transaction.

        `text` is what full-text search finds it by (beyond name and tags);
        `cursor` (name, value) moves a post-processor's cursor in the same
        transaction, so a restart neither repeats nor skips its work;
        `on_commit(db)` runs inside that transaction too.
        """
        fields = _fields(kind, name, mime, stream, run, start, end, tags, provenance, meta)
        data = bytes(data)
        self._ensure_space(len(data) + 4096)
        return self._insert([_Prepared(fields, _body(kind, text, data, mime), lambda: self.blobs.put_bytes(data))],
                            cursor=cursor, on_commit=on_commit)[0]

    def add_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: AssetKind,
        name: str | None = None,
        mime: str | None = None,
        stream: str | None = None,
        run: str | None = None,
        start: float | None = None,
        end: float | None = None,
        tags: Iterable[str] = (),
        provenance: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        text: str | None = None,
    ) -> Asset:
        src = Path(path)
        if not src.is_file():
            raise StoreError(f"cannot add {src}: no such file", "check the path; only regular files can be stored")
        name = name or src.name
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        fields = _fields(kind, name, mime, stream, run, start, end, tags, provenance, meta)
        self._ensure_space(src.stat().st_size + 4096)
        return self._insert([_Prepared(fields, _body(kind, text, b"", mime), lambda: self.blobs.put_file(src))])[0]

    def add_many(self, items: Iterable[Mapping[str, Any]], *,
                 on_commit: Callable[[Any], None] | None = None) -> builtins.list[Asset]:
        """Several assets in one transaction: each item holds `data` plus add_bytes' keywords."""
        prepared = []
        total = 0
        for item in items:
            kw = dict(item)
            data = bytes(kw.pop("data"))
            text = kw.pop("text", None)
            fields = _fields(
                kw.pop("kind"), kw.pop("name"), kw.pop("mime", "application/octet-stream"), kw.pop("stream", None),
                kw.pop("run", None), kw.pop("start", None), kw.pop("end", None), kw.pop("tags", ()),
                kw.pop("provenance", None), kw.pop("meta", None),
            )
            if kw:
                raise TypeError(f"add_many() item has unknown fields: {sorted(kw)}")
            total += len(data) + 1024
            prepared.append(_Prepared(fields, _body(fields["kind"], text, data, fields["mime"]),
                                      lambda data=data: self.blobs.put_bytes(data)))
        self._ensure_space(total)
        return self._insert(prepared, on_commit=on_commit) if prepared else []

    def restore(self, asset: Asset, *, body: str = "", queue: bool = True) -> bool:
        """Insert an asset row exactly as given (an import from an older data directory).

        Returns False when an asset with that id is already there (imports are
        idempotent). The blob must already be in the blob store unless evicted.
        """
        if asset.sync != "evicted" and not self.blobs.exists(asset.sha256):
            raise StoreError(f"asset {asset.id}: its bytes {asset.sha256} are not in {self.blobs.root}",
                             "restore the blob files first")
        row = asset.model_dump(mode="json")
        with self.db.write() as db:
            if db.execute("SELECT 1 FROM assets WHERE id = ?", (asset.id,)).fetchone():
                return False
            self._insert_row(db, row, body[:MAX_BODY_CHARS], queue=queue and asset.sync == "pending")
        self._ids = IdClock(max(self._ids_newest(), asset.id))
        return True

    def update(self, asset_id: str, **changes: Any) -> Asset:
        """Change an asset's tags, meta or name (the rest is what the asset is, and stays)."""
        unknown = set(changes) - {"tags", "meta", "name"}
        if unknown:
            raise TypeError(f"update() can change tags, meta and name only, not {sorted(unknown)}")
        current = self.get(asset_id)
        updated = Asset.model_validate({**current.model_dump(), **changes})
        dumped = updated.model_dump(mode="json")
        self._ensure_space(4096)
        with self.db.write() as db:
            sets = ", ".join(f'"{k}" = ?' for k in changes)
            values = [json.dumps(dumped[k]) if k in _JSON_COLUMNS else dumped[k] for k in changes]
            db.execute(f"UPDATE assets SET {sets} WHERE id = ?", (*values, asset_id))
            if "tags" in changes:
                db.execute("DELETE FROM asset_tags WHERE asset_id = ?", (asset_id,))
                db.executemany("INSERT INTO asset_tags (asset_id, tag) VALUES (?, ?)",
                               [(asset_id, t) for t in updated.tags])
        return updated

    def mark_synced(self, asset_id: str) -> Asset:
        """Record that the center holds a verified copy; the asset leaves the outbox and becomes evictable."""
        current = self.get(asset_id)
        if current.sync != "pending":
            return current
        fields = {"sync": "synced", "synced_at": time.time()}
        # Housekeeping is allowed into the reserve: it is how a full disk gets freed.
        self._ensure_space(4096, housekeeping=True)
        with self.db.write() as db:
            db.execute("UPDATE assets SET sync = 'synced', synced_at = ? WHERE id = ? AND sync = 'pending'",
                       (fields["synced_at"], asset_id))
            db.execute("DELETE FROM outbox WHERE asset_id = ?", (asset_id,))
        return current.model_copy(update=fields)

    def evict(self, *asset_ids: str) -> builtins.list[str]:
        """Delete the bytes of synced assets, keeping their metadata (sync="evicted")."""
        assets = [self.get(i) for i in asset_ids]
        unsynced = [a.id for a in assets if a.sync == "pending"]
        if unsynced:
            raise StoreError(
                f"refusing to evict unsynced assets {unsynced}: the only copy is on this box",
                "sync them first; the store never deletes unsynced media",
            )
        ids = list(dict.fromkeys(a.id for a in assets if a.sync == "synced"))
        if not ids:
            return []
        self._ensure_space(4096, housekeeping=True)
        with self.db.write() as db:
            # Index first: a crash then leaves an orphan blob, never an entry without bytes.
            db.executemany("UPDATE assets SET sync = 'evicted' WHERE id = ?", [(i,) for i in ids])
            shas = {a.sha256 for a in assets if a.id in ids}
            orphaned = [s for s in shas if not db.execute(
                "SELECT 1 FROM assets WHERE sha256 = ? AND sync != 'evicted' LIMIT 1", (s,)).fetchone()]
        for sha in orphaned:
            self.blobs.delete(sha)
        return ids

    def enforce_retention(self) -> builtins.list[str]:
        return retention.enforce(self)

    def collect_garbage(self, min_age_s: float = 3600) -> int:
        """Delete blobs no asset needs (left by a crash between blob write and index write)."""
        cutoff, removed = time.time() - min_age_s, 0
        for sha in builtins.list(self.blobs.iter_shas()):
            if self.db.read_one("SELECT 1 FROM assets WHERE sha256 = ? AND sync != 'evicted' LIMIT 1", (sha,)):
                continue
            # The age check spares blobs whose index row is being written right now.
            try:
                if self.blobs.path(sha).stat().st_mtime < cutoff:
                    removed += self.blobs.delete(sha)
            except (KeyError, StoreError):
                continue
        return removed

    # -- reading ----------------------------------------------------------

    def get(self, asset_id: str) -> Asset:
        row = self.db.read_one(_SELECT + " WHERE id = ?", (asset_id,)) if isinstance(asset_id, str) else None
        if row is None:
            raise KeyError(f"no asset {asset_id!r} in {self.root}")
        return _asset(row)

    def content_path(self, asset_id: str) -> Path:
        """The file holding the asset's bytes; only ever a path inside the store."""
        asset = self.get(asset_id)
        if asset.sync == "evicted":
            raise StoreError(
                f"asset {asset_id} was evicted from this box after it was synced",
                "fetch it from the cloud copy",
            )
        try:
            return self.blobs.path(asset.sha256)
        except KeyError:
            raise StoreError(
                f"the bytes of asset {asset_id} ({asset.sha256}) are missing from {self.blobs.root}",
                "restore them from the cloud copy if it was synced; something outside the store deleted them",
            ) from None

    def list(
        self,
        kind: AssetKind | None = None,
        stream: str | None = None,
        sync: SyncState | None = None,
        limit: int | None = 100,
        offset: int = 0,
        newest_first: bool = True,
        run: str | None = None,
    ) -> builtins.list[Asset]:
        if limit is not None and limit <= 0:
            return []
        where, params = [], []
        for column, value in (("kind", kind), ("stream", stream), ("sync", sync), ("run", run)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?"
        rows = self.db.read(sql, (*params, -1 if limit is None else limit, max(offset, 0)))
        return [_asset(r) for r in rows]

    def search(self, q: str, limit: int = 50) -> builtins.list[Asset]:
        """Assets matching `q` (words, all required; the last may be a prefix), best BM25 first.

        An asset matches by its name, tags or text, and a run's caption track
        and transcript match by what was said in the run.
        """
        match = fts_query(q)
        if match is None or limit <= 0:
            return []
        direct = self.db.read(
            _SELECT.replace(" FROM assets", " FROM assets_fts JOIN assets ON assets.rowid = assets_fts.rowid")
            + " WHERE assets_fts MATCH ? ORDER BY bm25(assets_fts) LIMIT ?", (match, limit))
        # The best-ranked matching captions (bounded), then the runs they belong to.
        runs = [r[0] for r in self.db.read(
            "SELECT run FROM (SELECT records.run AS run, records_fts.rank AS rank FROM records_fts"
            " JOIN records ON records.seq = records_fts.rowid WHERE records_fts MATCH ? ORDER BY rank LIMIT 500)"
            " GROUP BY run ORDER BY MIN(rank) LIMIT ?", (match, limit))]
        spoken: builtins.list[tuple] = []
        for run in runs:
            spoken += self.db.read(_SELECT + " WHERE run = ? AND kind IN ('caption_track', 'transcript')", (run,))
        seen: set[str] = set()
        out = []
        for row in [*direct, *spoken]:
            if row[0] not in seen:
                seen.add(row[0])
                out.append(_asset(row))
        return out[:limit]

    def summaries(self, sync: SyncState | None = None) -> builtins.list[AssetSummary]:
        """Every asset (or those in one sync state), oldest first, cheaply."""
        sql = "SELECT id, kind, sync, sha256, size FROM assets"
        rows = self.db.read(sql + (" WHERE sync = ?" if sync else "") + " ORDER BY id", (sync,) if sync else ())
        return [AssetSummary(*r) for r in rows]

    def eviction_candidates(self, limit: int = 500) -> builtins.list[AssetSummary]:
        """Synced assets whose eviction frees bytes, in eviction order (tier, then oldest)."""
        tiers = " ".join(f"WHEN '{k}' THEN {i}" for i, tier in enumerate(eviction_order()) for k in sorted(tier))
        rows = self.db.read(
            "SELECT id, kind, sync, sha256, size FROM assets a WHERE sync = 'synced' AND NOT EXISTS"
            " (SELECT 1 FROM assets p WHERE p.sha256 = a.sha256 AND p.sync = 'pending')"
            f" ORDER BY CASE kind {tiers} ELSE 99 END, id LIMIT ?", (limit,))
        return [AssetSummary(*r) for r in rows]

    def pending_sync(self, limit: int | None = None) -> builtins.list[Asset]:
        """What sync should upload next: unsynced assets, oldest first."""
        return self.list(sync="pending", limit=limit, newest_first=False)

    def count(self) -> int:
        row = self.db.read_one("SELECT COALESCE(SUM(count), 0) FROM asset_totals")
        return int(row[0]) if row else 0

    def totals(self) -> dict[str, dict[str, tuple[int, int]]]:
        """(count, bytes) per kind and sync state, kept current by the database (no scan)."""
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for kind, sync, count, nbytes in self.db.read("SELECT kind, sync, count, bytes FROM asset_totals"):
            if count:
                out.setdefault(kind, {})[sync] = (int(count), int(nbytes))
        return out

    def free_bytes(self) -> int:
        return int(self._disk_usage(self.root).free)

    def disk_status(self) -> DiskStatus:
        usage = self._disk_usage(self.root)
        by_sync: dict[str, int] = {}
        for per_kind in self.totals().values():
            for sync, (_, nbytes) in per_kind.items():
                by_sync[sync] = by_sync.get(sync, 0) + nbytes
        # Synced bytes an unsynced asset shares (deduped) cannot be freed; only unsynced rows are scanned.
        pinned = self.db.read_one(
            "SELECT COALESCE(SUM(s.size), 0) FROM assets p JOIN assets s ON s.sha256 = p.sha256 AND s.sync = 'synced'"
            " WHERE p.sync = 'pending'")
        evictable = max(by_sync.get("synced", 0) - int(pinned[0] if pinned else 0), 0)
        free = int(usage.free)
        return DiskStatus(
            total=int(usage.total),
            free=free,
            floor=self.disk_floor_bytes,
            alarm=free < self.disk_floor_bytes and free + evictable < self.disk_floor_bytes,
            unsynced_bytes=by_sync.get("pending", 0),
            evictable_bytes=evictable,
        )

    # -- cursors (post-processors) ----------------------------------------------

    def cursor(self, name: str) -> int:
        row = self.db.read_one("SELECT value FROM cursors WHERE name = ?", (name,))
        return int(row[0]) if row else 0

    def set_cursor(self, name: str, value: int) -> None:
        with self.db.write() as db:
            _set_cursor(db, name, value)

    # -- internals --------------------------------------------------------

    def _ids_newest(self) -> str:
        row = self.db.read_one("SELECT MAX(id) FROM assets")
        return row[0] if row and row[0] else "0" * 26

    def _insert(self, prepared: builtins.list[_Prepared], *, cursor: tuple[str, int] | None = None,
                on_commit: Callable[[Any], None] | None = None) -> builtins.list[Asset]:
        self._check_open()
        written = [p.put() for p in prepared]
        assets = []
        with self.db.write() as db:
            for p, (sha, size) in zip(prepared, written):
                # Retention may have deleted an identical blob between our write and now.
                if not self.blobs.exists(sha):
                    p.put()
                asset = Asset.model_validate(
                    {**p.fields, "id": self._ids.next(), "created_at": time.time(), "sha256": sha, "size": size})
                self._insert_row(db, asset.model_dump(mode="json"), p.body, queue=True)
                assets.append(asset)
            if cursor is not None:
                _set_cursor(db, *cursor)
            if on_commit is not None:
                on_commit(db)
        return assets

    @staticmethod
    def _insert_row(db: sqlite3.Connection, row: dict[str, Any], body: str, *, queue: bool) -> None:
        values = [json.dumps(row[c], ensure_ascii=False) if c in _JSON_COLUMNS else row[c] for c in _COLUMNS]
        cols = ", ".join(f'"{c}"' for c in _COLUMNS)
        db.execute(f"INSERT INTO assets ({cols}, body) VALUES ({', '.join('?' * len(_COLUMNS))}, ?)", (*values, body))
        db.executemany("INSERT OR IGNORE INTO asset_tags (asset_id, tag) VALUES (?, ?)",
                       [(row["id"], t) for t in row["tags"]])
        if queue:
            kind = policy(row["kind"])
            # Protected kinds are queued at once; bulky ones wait for the outbox's size cap to admit them.
            db.execute(
                "INSERT OR IGNORE INTO outbox (asset_id, kind, priority, size, sha256, state, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row["id"], row["kind"], kind.sync_priority, row["size"], row["sha256"],
                 "held" if kind.holdable else "queued",
                 None if kind.ttl_s is None else id_time(row["id"]) + kind.ttl_s))

    def _ensure_space(self, nbytes: int, *, housekeeping: bool = False) -> None:
        """Refuse a write before touching anything if it would eat into the reserve."""
        free = self.free_bytes()
        if not housekeeping and free - nbytes < self.disk_floor_bytes:
            retention.enforce(self, headroom=nbytes)
            free = self.free_bytes()
        keep = 0 if housekeeping else self.reserve_bytes
        if free - nbytes < keep:
            raise DiskFullError(
                f"refusing to write {nbytes} bytes: only {free} free on {_mount_point(self.root)}"
                + (f" and {keep} are kept in reserve" if keep else ""),
                "free space, or sync and let retention evict synced media",
            )

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.root} is closed", "open a new AssetStore")


def _set_cursor(db: sqlite3.Connection, name: str, value: int) -> None:
    db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = ?",
               (name, value, value))


def _asset(row: tuple) -> Asset:
    data = dict(zip(_COLUMNS, row))
    for c in _JSON_COLUMNS:
        data[c] = json.loads(data[c])
    return Asset.model_validate(data)


def _body(kind: str, text: str | None, data: bytes, mime: str) -> str:
    """What full-text search indexes beyond name and tags."""
    if text is None and kind == "note" and mime.startswith("text/"):
        text = data[:MAX_BODY_CHARS * 4].decode("utf-8", errors="replace")
    return (text or "")[:MAX_BODY_CHARS]


def _fields(
    kind: str,
    name: str,
    mime: str,
    stream: str | None,
    run: str | None,
    start: float | None,
    end: float | None,
    tags: Iterable[str],
    provenance: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Caller-supplied fields, validated now so bad input is refused before any byte is written."""
    if isinstance(tags, str):
        raise TypeError("tags must be a list of strings, not one string")
    if kind not in KINDS:
        policy(kind)  # raises, naming the known kinds
    fields = {
        "kind": kind, "name": name, "mime": mime, "stream": stream, "run": run, "start": start, "end": end,
        "tags": builtins.list(tags), "provenance": dict(provenance or {}), "meta": dict(meta or {}),
    }
    placeholder = {"id": "0" * 26, "created_at": 0.0, "sha256": "0" * 64, "size": 0}
    validated = Asset.model_validate({**fields, **placeholder})
    # JSON round-trip now: a value that cannot be serialised must fail here, not mid-write.
    try:
        dumped = validated.model_dump(mode="json")
        json.dumps(dumped, allow_nan=False)
    except (PydanticSerializationError, ValueError, TypeError) as e:
        raise ValueError(f"provenance, meta and tags must be JSON values: {e}") from None
    return {k: dumped[k] for k in fields}


def _mount_point(path: Path) -> str:
    p = os.path.realpath(path)
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p
