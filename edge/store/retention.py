"""Retention: when free disk drops below the floor, evict synced media, oldest first.

Only assets already synced (a copy exists in the cloud) are ever evicted, and
eviction deletes the bytes but keeps the metadata (sync="evicted") so the
index still shows what existed. Unsynced assets are never evicted: when only
they are left, DiskStatus.alarm tells the dashboard to ask a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.store.assets import AssetStore, AssetSummary

# Which kinds go first is the kinds table's eviction tier: bulky media first;
# small derived assets (captions, drafts) only if evicting every synced media
# file still leaves the disk below the floor.
BATCH = 500


def evictable_bytes(assets: list[AssetSummary]) -> int:
    return sum({a.sha256: a.size for a in assets}.values())


def enforce(store: AssetStore, headroom: int = 0) -> list[str]:
    """Evict synced assets until free disk is `headroom` bytes above the floor; returns the evicted ids.

    A write about to happen passes its size as headroom, so the disk is still
    at the floor after it.
    """
    evicted: list[str] = []
    while store.disk_floor_bytes + headroom - store.free_bytes() > 0:
        queue = store.eviction_candidates(BATCH)
        if not queue:
            break
        deficit = store.disk_floor_bytes + headroom - store.free_bytes()
        batch: list[str] = []
        freed, seen = 0, set()
        for asset in queue:
            if freed >= deficit:
                break
            batch.append(asset.id)
            if asset.sha256 not in seen:
                seen.add(asset.sha256)
                freed += asset.size
        done = store.evict(*batch)
        if not done:
            break
        evicted += done
    return evicted
