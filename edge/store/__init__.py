"""The box's local store: one SQLite database (index, runs, records, search, outbox) and media blobs.

    root/
      LOCK                 flock held by the one process that writes here
      edge.sqlite (-wal)   assets, tags, runs, records, FTS5, outbox, cursors (WAL, synchronous=FULL)
      blobs/ab/cd/<sha256> media bytes, content-addressed (identical bytes stored once)

Everything that returns has been committed durably: an acknowledged write
survives a crash or power cut. Blob first, then the row, so a row never
points at bytes that are not on disk.
"""

from __future__ import annotations

from edge.errors import EdgeError


# Defined before the submodule imports below because those modules import them.
class StoreError(EdgeError):
    """The store cannot do what was asked; the message names the file and the fix."""


class DiskFullError(StoreError):
    """A write was refused because it would eat into the disk's reserve."""


from edge.kinds import AssetKind  # noqa: E402
from edge.store.assets import Asset, AssetStore, AssetSummary, DiskStatus, SyncState  # noqa: E402
from edge.store.blobs import BlobStore  # noqa: E402
from edge.store.records import Record, Run  # noqa: E402
from edge.store.retention import enforce  # noqa: E402

__all__ = [
    "Asset",
    "AssetKind",
    "AssetStore",
    "AssetSummary",
    "BlobStore",
    "DiskFullError",
    "DiskStatus",
    "Record",
    "Run",
    "StoreError",
    "SyncState",
    "enforce",
]
