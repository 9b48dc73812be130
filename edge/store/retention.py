"""Retention: when free disk drops below the floor, evict synced media, oldest first.

Only assets already synced (a copy exists in the cloud) are ever evicted, and
eviction deletes the bytes but keeps the metadata (sync="evicted") so the
index still shows what existed. Unsynced assets are never evicted: when only
they are left, DiskStatus.alarm tells the dashboard to ask a person.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.store.assets import AssetStore, AssetSummary

# Bulky media goes first; small derived assets (captions, drafts) only if
# evicting every synced media file still leaves the disk below the floor.
EVICTION_TIERS: tuple[frozenset[str], ...] = (
    frozenset({"media", "keyframe", "upload"}),
    frozenset({"sensor_series", "draft", "transcript", "caption_track", "note"}),
)


def candidates(store: AssetStore) -> list[AssetSummary]:
    """Synced assets whose eviction frees bytes, in eviction order (tier, then oldest)."""
    everything = store.summaries()
    pinned = {a.sha256 for a in everything if a.sync == "pending"}  # deduped bytes an unsynced asset needs
    synced = [a for a in everything if a.sync == "synced" and a.sha256 not in pinned]
    rank = {kind: i for i, tier in enumerate(EVICTION_TIERS) for kind in tier}
    return sorted(synced, key=lambda a: rank.get(a.kind, len(EVICTION_TIERS)))  # stable: oldest first within a tier


def evictable_bytes(assets: list[AssetSummary]) -> int:
    return sum({a.sha256: a.size for a in assets}.values())


def enforce(store: AssetStore, headroom: int = 0) -> list[str]:
    """Evict synced assets until free disk is `headroom` bytes above the floor; returns the evicted ids.

    A write about to happen passes its size as headroom, so the disk is still
    at the floor after it.
    """
    evicted: list[str] = []
    queue = deque(candidates(store))
    while queue:
        deficit = store.disk_floor_bytes + headroom - store.free_bytes()
        if deficit <= 0:
            break
        # One index write per batch: TinyDB rewrites its whole file on every write.
        batch: list[str] = []
        freed, seen = 0, set()
        while queue and freed < deficit:
            asset = queue.popleft()
            batch.append(asset.id)
            if asset.sha256 not in seen:
                seen.add(asset.sha256)
                freed += asset.size
        evicted += store.evict(*batch)
    return evicted
