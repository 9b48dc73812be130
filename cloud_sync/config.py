"""Tunables of the box side of sync, with the defaults a field box starts from."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.kinds import HOLDABLE_KINDS, KINDS, PROTECTED_KINDS, default_ttls

__all__ = ["HOLDABLE_KINDS", "PRIORITY", "PROTECTED_KINDS", "SyncConfig"]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# Priorities, TTLs and which kinds are protected or holdable come from the
# one table of asset kinds.
PRIORITY: dict[str, int] = {k.name: k.sync_priority for k in KINDS.values()}


@dataclass(frozen=True)
class SyncConfig:
    chunk_size: int = 256 * KiB
    window: int = 16  # chunks in flight (credit); 16 x 256 KiB = 4 MiB keeps loopback and LTE busy
    bandwidth_kbps: float | None = None  # uplink cap, kbit/s; None = as fast as the link goes
    # Seconds an asset may wait unsynced before it is marked expired (per kind, from creation).
    ttl_s: dict[str, float] = field(default_factory=default_ttls)
    max_queue_bytes: int | None = 32 * GiB  # queued bytes above which new uploads/media are held back
    reply_timeout_s: float = 5.0  # no answer for this long = the link is dead
    ping_interval_s: float = 2.0  # while idle, so link_state stays honest
    backoff_min_s: float = 0.2
    backoff_max_s: float = 10.0
    retry_asset_s: float = 5.0  # after the center refused one asset (e.g. sha mismatch at commit)
    poll_s: float = 1.0  # how often an idle syncer looks for new assets in the store
    # Size chunks and the window to the measured uplink rate (chunk_size and window are then the upper
    # bounds); off: always chunk_size x window, as before.
    adapt_chunks: bool = True

    def __post_init__(self) -> None:
        bad = sorted(set(self.ttl_s) & PROTECTED_KINDS)
        if bad:
            raise ValueError(f"{bad} never expire: drafts and captions must reach the newsroom")
        unknown = sorted(set(self.ttl_s) - set(PRIORITY))
        if unknown:
            raise ValueError(f"ttl_s names unknown asset kinds {unknown}")
        if self.chunk_size < 1 or self.window < 1:
            raise ValueError("chunk_size and window must be positive")
        if self.bandwidth_kbps is not None and self.bandwidth_kbps <= 0:
            raise ValueError("bandwidth_kbps must be positive (or None for no cap)")
