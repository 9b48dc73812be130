"""Token bucket and rate meter with a fake clock."""

from __future__ import annotations

import pytest

from cloud_sync.bandwidth import RateMeter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    b = TokenBucket(rate_bytes_s=1000, burst_bytes=500, clock=clock)
    assert b.delay(500) == 0
    b.take(500)
    assert b.delay(100) == pytest.approx(0.1)
    clock.t += 0.1
    assert b.delay(100) == pytest.approx(0, abs=1e-9)


def test_bucket_sustains_exactly_its_rate():
    clock = Clock()
    b = TokenBucket(rate_bytes_s=10_000, burst_bytes=1000, clock=clock)
    sent = 0
    while clock.t < 110.0:
        wait = b.delay(1000)
        clock.t += wait
        b.take(1000)
        sent += 1000
    # 10 s at 10 kB/s plus the initial burst.
    assert sent == pytest.approx(10 * 10_000 + 1000, rel=0.02)


def test_a_chunk_bigger_than_the_bucket_waits_for_a_full_bucket_not_forever():
    clock = Clock()
    b = TokenBucket.kbps(8, chunk_size=4096, clock=clock)  # 8 kbit/s = 1000 B/s, bucket = one chunk
    assert b.burst == 4096
    b.take(4096)
    assert b.delay(4096) == pytest.approx(4.096)


def test_kbps_means_kilobits():
    assert TokenBucket.kbps(800, chunk_size=1).rate == 100_000


def test_rate_meter_measures_recent_bytes_per_second():
    clock = Clock()
    m = RateMeter(window_s=5, clock=clock)
    for _ in range(10):
        m.add(1000)
        clock.t += 0.5
    assert m.rate() == pytest.approx(2000, rel=0.15)
    clock.t += 10
    assert m.rate() == 0
