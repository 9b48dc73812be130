"""The asset index: what the box has made or received, where its bytes are, whether it is synced.

Metadata lives in TinyDB (one JSON file, rewritten atomically on each write,
see db.py); bytes live in the content-addressed BlobStore; captions in
per-stream logs (captions.py). One AssetStore per store directory per process:
threads share it, and its lock serialises writes and reads of the index.
"""

from __future__ import annotations

import builtins
import mimetypes
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticSerializationError
from tinydb import TinyDB
from tinydb.table import Document, Table

from edge.store import DiskFullError, StoreError, retention
from edge.store.blobs import BlobStore
from edge.store.captions import CaptionLog
from edge.store.db import CrashSafeStorage, WriterLock

MiB = 1 << 20
TABLE = "assets"
ASSET_ID = re.compile(r"[0-9a-f]{26}")
CAPTION_KINDS = frozenset({"caption_track", "transcript"})

AssetKind = Literal["caption_track", "transcript", "keyframe", "upload", "draft", "sensor_series", "media", "note"]
SyncState = Literal["pending", "synced", "evicted"]
DiskUsage = Callable[[str | os.PathLike[str]], Any]  # shutil.disk_usage's shape: .total, .used, .free
_Row = tuple[dict[str, Any], str, int, Callable[[], object]]  # fields, sha256, size, how to write the blob again


class Asset(BaseModel):
    """One stored thing. Times `start`/`end` are stream seconds; `created_at` is unix time."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    id: str = Field(pattern=ASSET_ID.pattern)
    kind: AssetKind
    stream: str | None = None
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
    """The fields retention and disk accounting need, without validating a whole Asset."""

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


class _IdTable(Table):
    document_id_class = str  # the asset id is the TinyDB key: lookups by id are dict lookups


class _TinyDB(TinyDB):
    table_class = _IdTable


class _IdClock:
    """Time-sortable ids (ns timestamp + randomness) that never go backwards.

    A box without a real-time clock boots in the past until NTP answers; ids
    continue from the newest stored one so sorting by id stays creation order.
    """

    def __init__(self, newest: str | None) -> None:
        self._last = int(newest[:16], 16) if newest else 0

    def next(self) -> str:
        self._last = max(time.time_ns(), self._last + 1)
        return f"{self._last:016x}{secrets.token_hex(5)}"


class AssetStore:
    """The store at `root`: index, blobs and caption logs (`.captions`), opened by one process.

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
        self._lock = threading.RLock()
        self._writer = WriterLock(self.root)
        self._closed = False
        try:
            self.blobs = BlobStore(self.root / "blobs")
            self.blobs.clean_temp()
            self._db = _TinyDB(self.root / "assets.json", storage=CrashSafeStorage)
            self._storage: CrashSafeStorage = self._db.storage  # type: ignore[assignment]
            self._table = self._db.table(TABLE)
            self._ids = _IdClock(max(self._docs(), default=None))
            self.captions = CaptionLog(self.root / "captions", check_space=self._ensure_space)
        except BaseException:
            self._closed = True
            self._writer.release()
            raise

    # -- lifecycle --------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.captions.close()
            self._db.close()
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
        start: float | None = None,
        end: float | None = None,
        tags: Iterable[str] = (),
        provenance: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Asset:
        fields = _fields(kind, name, mime, stream, start, end, tags, provenance, meta)
        data = bytes(data)
        self._ensure_space(len(data) + self._index_write_bytes())
        sha, size = self.blobs.put_bytes(data)
        return self._insert([(fields, sha, size, lambda: self.blobs.put_bytes(data))])[0]

    def add_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: AssetKind,
        name: str | None = None,
        mime: str | None = None,
        stream: str | None = None,
        start: float | None = None,
        end: float | None = None,
        tags: Iterable[str] = (),
        provenance: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Asset:
        src = Path(path)
        if not src.is_file():
            raise StoreError(f"cannot add {src}: no such file", "check the path; only regular files can be stored")
        name = name or src.name
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        fields = _fields(kind, name, mime, stream, start, end, tags, provenance, meta)
        self._ensure_space(src.stat().st_size + self._index_write_bytes())
        sha, size = self.blobs.put_file(src)
        return self._insert([(fields, sha, size, lambda: self.blobs.put_file(src))])[0]

    def add_many(self, items: Iterable[Mapping[str, Any]]) -> builtins.list[Asset]:
        """Bulk import: each item holds `data` plus add_bytes' keywords; one index write for all.

        The index file is rewritten on every write, so importing N assets one
        by one costs O(N^2) bytes written; this costs O(N).
        """
        prepared = []
        for item in items:
            kw = dict(item)
            data = bytes(kw.pop("data"))
            fields = _fields(
                kw.pop("kind"), kw.pop("name"), kw.pop("mime", "application/octet-stream"), kw.pop("stream", None),
                kw.pop("start", None), kw.pop("end", None), kw.pop("tags", ()), kw.pop("provenance", None),
                kw.pop("meta", None),
            )
            if kw:
                raise TypeError(f"add_many() item has unknown fields: {sorted(kw)}")
            prepared.append((fields, data))
        # About 1 KB of index per asset on top of its bytes.
        self._ensure_space(sum(len(d) + 1024 for _, d in prepared) + self._index_write_bytes())
        rows = []
        for fields, data in prepared:
            sha, size = self.blobs.put_bytes(data)
            rows.append((fields, sha, size, lambda data=data: self.blobs.put_bytes(data)))
        return self._insert(rows) if rows else []

    def update(self, asset_id: str, **changes: Any) -> Asset:
        """Change an asset's tags, meta or name (the rest is what the asset is, and stays)."""
        unknown = set(changes) - {"tags", "meta", "name"}
        if unknown:
            raise TypeError(f"update() can change tags, meta and name only, not {sorted(unknown)}")
        with self._lock:
            current = self.get(asset_id)
            updated = Asset.model_validate({**current.model_dump(), **changes})
            self._ensure_space(self._index_write_bytes())
            dumped = updated.model_dump(mode="json")
            self._table.update({k: dumped[k] for k in changes}, doc_ids=[asset_id])
            return updated

    def mark_synced(self, asset_id: str) -> Asset:
        """Record that the cloud holds a verified copy; the asset becomes evictable."""
        with self._lock:
            current = self.get(asset_id)
            if current.sync != "pending":
                return current
            fields = {"sync": "synced", "synced_at": time.time()}
            # Housekeeping is allowed into the reserve: it is how a full disk gets freed.
            self._ensure_space(self._index_write_bytes(), housekeeping=True)
            self._table.update(fields, doc_ids=[asset_id])
            return current.model_copy(update=fields)

    def evict(self, *asset_ids: str) -> builtins.list[str]:
        """Delete the bytes of synced assets, keeping their metadata (sync="evicted")."""
        with self._lock:
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
            self._ensure_space(self._index_write_bytes(), housekeeping=True)
            # Index first: a crash then leaves an orphan blob, never an entry without bytes.
            self._table.update({"sync": "evicted"}, doc_ids=ids)
            live = {d["sha256"] for d in self._docs().values() if d["sync"] != "evicted"}
            for sha in {a.sha256 for a in assets if a.id in ids} - live:
                self.blobs.delete(sha)
            return ids

    def enforce_retention(self) -> builtins.list[str]:
        return retention.enforce(self)

    def collect_garbage(self, min_age_s: float = 3600) -> int:
        """Delete blobs no asset needs (left by a crash between blob and index write)."""
        with self._lock:
            live = {d["sha256"] for d in self._docs().values() if d["sync"] != "evicted"}
            cutoff, removed = time.time() - min_age_s, 0
            for sha in list(self.blobs.iter_shas()):
                # The age check spares blobs whose index entry is being written right now.
                if sha not in live and self.blobs.path(sha).stat().st_mtime < cutoff:
                    removed += self.blobs.delete(sha)
            return removed

    # -- reading ----------------------------------------------------------

    def get(self, asset_id: str) -> Asset:
        with self._lock:
            doc = self._docs().get(asset_id) if isinstance(asset_id, str) else None
            if doc is None:
                raise KeyError(f"no asset {asset_id!r} in {self.root}")
            return Asset.model_validate(doc)

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
    ) -> builtins.list[Asset]:
        def wanted(d: Mapping[str, Any]) -> bool:
            return (
                (kind is None or d["kind"] == kind)
                and (stream is None or d["stream"] == stream)
                and (sync is None or d["sync"] == sync)
            )

        return self._scan(wanted, limit, offset, newest_first)

    def search(self, q: str, limit: int = 50) -> builtins.list[Asset]:
        """Newest first, case-insensitive over name, tags, kind, stream and caption text."""
        needle = q.strip().casefold()
        spoken: dict[str, list[tuple[float, float]]] = {}
        if needle:
            for c in self.captions.search(needle):  # before taking our lock, see CaptionLog.append
                spoken.setdefault(c["stream"], []).append((c["start"], c["end"]))

        def said_during(d: Mapping[str, Any]) -> bool:
            s, e = d["start"], d["end"]
            return any((s is None or ce >= s) and (e is None or cs <= e) for cs, ce in spoken.get(d["stream"], ()))

        def wanted(d: Mapping[str, Any]) -> bool:
            if needle in d["name"].casefold() or needle in d["kind"] or needle in (d["stream"] or "").casefold():
                return True
            if any(needle in t.casefold() for t in d["tags"]):
                return True
            return d["kind"] in CAPTION_KINDS and said_during(d)

        return self._scan(wanted, limit, 0, True)

    def summaries(self, sync: SyncState | None = None) -> builtins.list[AssetSummary]:
        """Every asset (or those in one sync state), oldest first, cheaply: for totals over the whole index."""
        with self._lock:
            return [
                AssetSummary(d["id"], d["kind"], d["sync"], d["sha256"], d["size"])
                for d in self._docs().values()
                if sync is None or d["sync"] == sync
            ]

    def pending_sync(self, limit: int | None = None) -> builtins.list[Asset]:
        """What sync should upload next: unsynced assets, oldest first."""
        return self.list(sync="pending", limit=limit, newest_first=False)

    def count(self) -> int:
        with self._lock:
            return len(self._docs())

    def free_bytes(self) -> int:
        return int(self._disk_usage(self.root).free)

    def disk_status(self) -> DiskStatus:
        usage = self._disk_usage(self.root)
        unsynced = {a.sha256: a.size for a in self.summaries(sync="pending")}
        evictable = retention.evictable_bytes(retention.candidates(self))
        free = int(usage.free)
        return DiskStatus(
            total=int(usage.total),
            free=free,
            floor=self.disk_floor_bytes,
            alarm=free < self.disk_floor_bytes and free + evictable < self.disk_floor_bytes,
            unsynced_bytes=sum(unsynced.values()),
            evictable_bytes=evictable,
        )

    # -- internals --------------------------------------------------------

    def _docs(self) -> dict[str, dict[str, Any]]:
        """The raw index, id -> document, in insertion (= id) order. Callers hold the lock."""
        self._check_open()
        return (self._storage.read() or {}).get(TABLE, {})

    def _scan(
        self, wanted: Callable[[Mapping[str, Any]], bool], limit: int | None, offset: int, newest_first: bool
    ) -> builtins.list[Asset]:
        out: builtins.list[Asset] = []
        if limit is not None and limit <= 0:
            return out
        with self._lock:
            docs = self._docs().values()
            for d in reversed(docs) if newest_first else docs:
                if not wanted(d):
                    continue
                if offset > 0:
                    offset -= 1
                    continue
                out.append(Asset.model_validate(d))
                if limit is not None and len(out) >= limit:
                    break
        return out

    def _insert(self, rows: builtins.list[_Row]) -> builtins.list[Asset]:
        with self._lock:
            self._check_open()
            assets = []
            for fields, sha, size, put_again in rows:
                # Retention may have deleted an identical blob between our write and now.
                if not self.blobs.exists(sha):
                    put_again()
                assets.append(
                    Asset.model_validate(
                        {**fields, "id": self._ids.next(), "created_at": time.time(), "sha256": sha, "size": size}
                    )
                )
            docs = [Document(a.model_dump(mode="json"), doc_id=a.id) for a in assets]
            if len(docs) == 1:
                self._table.insert(docs[0])
            else:
                self._table.insert_multiple(docs)
            return assets

    def _index_write_bytes(self) -> int:
        # A write makes a full new copy of the index while the old one still exists.
        return self._storage.size + 4096

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


def _fields(
    kind: str,
    name: str,
    mime: str,
    stream: str | None,
    start: float | None,
    end: float | None,
    tags: Iterable[str],
    provenance: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Caller-supplied fields, validated now so bad input is refused before any byte is written."""
    if isinstance(tags, str):
        raise TypeError("tags must be a list of strings, not one string")
    fields = {
        "kind": kind, "name": name, "mime": mime, "stream": stream, "start": start, "end": end,
        "tags": list(tags), "provenance": dict(provenance or {}), "meta": dict(meta or {}),
    }
    placeholder = {"id": "0" * 26, "created_at": 0.0, "sha256": "0" * 64, "size": 0}
    validated = Asset.model_validate({**fields, **placeholder})
    # JSON round-trip now: a value TinyDB cannot serialise must fail here, not mid-write.
    try:
        dumped = validated.model_dump(mode="json")
    except PydanticSerializationError as e:
        raise ValueError(f"provenance, meta and tags must be JSON values: {e}") from None
    return {k: dumped[k] for k in fields}


def _mount_point(path: Path) -> str:
    p = os.path.realpath(path)
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p
