"""The one table of asset kinds: what each kind is, how it syncs, how long it lives, what may evict it.

Every consumer (store, outbox, retention, the center, the CLI, the bench)
reads this table; nothing else lists kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class KindPolicy:
    name: str
    sync_priority: int  # lower is sent first
    ttl_s: float | None  # unsynced this long after creation: expired, not sent (None: never)
    eviction_tier: int  # once synced, lower tiers are evicted first when the disk is low
    protected: bool  # never expires, never held back by the outbox size cap
    holdable: bool  # the outbox size cap may hold it back while the queue is full
    searchable: bool  # its text (name, tags, note, caption text) goes into full-text search
    description: str


# Drafts and captions are what the newsroom waits for; stills and notes are
# small; full media is bulky. Caption segments are small pieces of a running
# stream's captions, sent while the event runs.
KINDS: dict[str, KindPolicy] = {
    k.name: k
    for k in (
        KindPolicy("draft", 0, None, 1, True, False, True, "a news item draft (ninjs)"),
        KindPolicy("caption_segment", 0, None, 1, True, False, False,
                   "committed captions of a running stream, a few seconds to 30 s (JSON lines)"),
        KindPolicy("caption_track", 0, None, 1, True, False, True, "a run's captions as WebVTT"),
        KindPolicy("transcript", 0, None, 1, True, False, True, "a run's captions as plain text"),
        KindPolicy("keyframe", 1, 6 * 3600.0, 0, False, False, True, "a still from a camera"),
        KindPolicy("note", 1, None, 1, False, False, True, "a crew member's text note"),
        KindPolicy("sensor_series", 1, None, 1, False, False, True, "sensor readings (JSON lines)"),
        KindPolicy("upload", 2, None, 0, False, True, True, "a file uploaded from the dashboard"),
        KindPolicy("media", 2, None, 0, False, True, True, "a recording or other media file"),
    )
}

AssetKind = Literal[
    "draft", "caption_segment", "caption_track", "transcript", "keyframe", "note", "sensor_series", "upload", "media"
]
ASSET_KINDS: tuple[str, ...] = tuple(KINDS)

PROTECTED_KINDS = frozenset(k.name for k in KINDS.values() if k.protected)
HOLDABLE_KINDS = frozenset(k.name for k in KINDS.values() if k.holdable)
SEARCHABLE_KINDS = frozenset(k.name for k in KINDS.values() if k.searchable)
CAPTION_KINDS = frozenset({"caption_track", "transcript", "caption_segment"})


def policy(kind: str) -> KindPolicy:
    """The policy of a known kind; ValueError naming the known kinds otherwise (box-supplied kinds too)."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown asset kind {kind!r}: known kinds are {', '.join(KINDS)}") from None


def is_kind(kind: object) -> bool:
    return isinstance(kind, str) and kind in KINDS


def default_ttls() -> dict[str, float]:
    return {k.name: k.ttl_s for k in KINDS.values() if k.ttl_s is not None}


def eviction_order() -> list[frozenset[str]]:
    tiers = sorted({k.eviction_tier for k in KINDS.values()})
    return [frozenset(k.name for k in KINDS.values() if k.eviction_tier == t) for t in tiers]
