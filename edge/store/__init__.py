"""The box's local store: asset metadata, media blobs and caption logs on one disk.

    root/
      LOCK                 flock held by the one process that writes here
      assets.json(.bak)    TinyDB index of assets, replaced atomically on each write
      blobs/ab/cd/<sha256> media bytes, content-addressed (identical bytes stored once)
      captions/<stream>.jsonl  append-only caption events, one JSON object a line

Everything that returns has been fsynced: an acknowledged write survives a
crash or power cut. Metadata and media are written in that order (blob first),
so an index entry never points at bytes that are not on disk.
"""

from __future__ import annotations

from edge.errors import EdgeError


# Defined before the submodule imports below because those modules import them.
class StoreError(EdgeError):
    """The store cannot do what was asked; the message names the file and the fix."""


class DiskFullError(StoreError):
    """A write was refused because it would eat into the disk's reserve."""


from edge.store.assets import Asset, AssetKind, AssetStore, AssetSummary, DiskStatus, SyncState  # noqa: E402
from edge.store.blobs import BlobStore  # noqa: E402
from edge.store.captions import CaptionLog  # noqa: E402
from edge.store.db import CrashSafeStorage  # noqa: E402
from edge.store.retention import enforce  # noqa: E402

__all__ = [
    "Asset",
    "AssetKind",
    "AssetStore",
    "AssetSummary",
    "BlobStore",
    "CaptionLog",
    "CrashSafeStorage",
    "DiskFullError",
    "DiskStatus",
    "StoreError",
    "SyncState",
    "enforce",
]
