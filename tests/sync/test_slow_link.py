"""Slow uplinks through a real throttling TCP proxy: sync makes steady progress down to 64 kbit/s."""

from __future__ import annotations

import time

from cloud_sync.bandwidth import LinkEstimator
from cloud_sync.config import SyncConfig
from cloud_sync.zmq_transfer import MIN_CHUNK, BoxClient, chunk_for, window_for

from .conftest import make_box
from .test_protocol import asset_file, offer, stored
from .throttle import ThrottledProxy

AID = "18eb4f7643ad1a1008f3db41aa"


def test_chunks_and_window_follow_the_measured_rate():
    # Unknown rate: small chunks, two in flight.
    assert chunk_for(None, 0, 256 * 1024) == MIN_CHUNK and window_for(None, MIN_CHUNK, 16) == 2
    # 64 kbit/s = 8000 B/s: the smallest chunk (2 s), never more than two in flight.
    assert chunk_for(8000, 0, 256 * 1024) == MIN_CHUNK and window_for(8000, MIN_CHUNK, 16) == 2
    # 10 Mbit/s: chunks of ~1 s, about 2 s in flight.
    assert chunk_for(1_250_000, 0, 256 * 1024) == 256 * 1024 and window_for(1_250_000, 256 * 1024, 16) == 10
    # Growing from an offset that is not a multiple of the new size keeps chunks aligned.
    assert chunk_for(1_250_000, 16 * 1024, 256 * 1024) == 16 * 1024
    assert chunk_for(1_250_000, 32 * 1024, 256 * 1024) == 32 * 1024


def test_the_estimate_comes_from_acks_and_drops_after_a_lost_link():
    now = [0.0]
    est = LinkEstimator(8000, clock=lambda: now[0])
    est.start()
    for _ in range(10):
        now[0] += 1.0
        est.acked(64_000)
    assert 63_000 < est.rate < 65_000
    est.slow_down()
    assert 15_900 < est.rate < 16_100
    for _ in range(5):
        est.slow_down()
    assert est.rate == 8000  # never below the slowest rate we plan for


def test_64_kbit_uplink_acknowledges_bytes_steadily(center, tmp_path):
    """At 64 kbit/s one 256 KiB chunk takes 33 s: the old fixed chunking never got a single ACK."""
    box = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    proxy = ThrottledProxy(int(center.endpoint.rsplit(":", 1)[1]), 64).start()
    try:
        box.pair(proxy.endpoint, center.data / "keys" / "center.key")
        path, sha = asset_file(tmp_path, 64 * 1024)  # 8.2 s at 64 kbit/s
        _, endpoint, center_pub, pub, sec = box.pairing()
        client = BoxClient(endpoint, center_pub, pub, sec, SyncConfig())  # the defaults a field box runs with
        progress: list[tuple[float, int]] = []
        t0 = time.monotonic()
        result = client.send_asset(offer(AID, path, sha), path, lambda n: progress.append((time.monotonic(), n)))
        elapsed = time.monotonic() - t0
        client.close()
    finally:
        proxy.stop()
    assert result.resumed_from == 0 and not result.already_complete
    assert result.bytes_sent == 64 * 1024  # nothing was sent twice: the link was never given up
    assert stored(center)[0]["sha256"] == sha
    # Steady progress: the first bytes acknowledged within 5 s, then never more than 5 s without an ACK.
    times = [t0] + [t for t, _ in progress]
    assert progress[0][0] - t0 < 5.0
    assert max(b - a for a, b in zip(times, times[1:])) < 5.0
    ideal = 64 * 1024 * 8 / 64_000
    assert elapsed < 2.0 * ideal, f"{elapsed:.1f} s for an ideal {ideal:.1f} s"
