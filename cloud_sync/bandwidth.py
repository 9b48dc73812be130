"""Uplink shaping (token bucket) and measuring (sliding-window rate)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """Allows `rate` bytes per second on average, bursts of up to `burst` bytes.

    A chunk bigger than the bucket is still allowed once the bucket is full
    (it goes into debt), so a cap below one chunk per second slows the link
    down instead of stalling it forever.
    """

    def __init__(self, rate_bytes_s: float, burst_bytes: float, clock: Clock = time.monotonic) -> None:
        if rate_bytes_s <= 0 or burst_bytes <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate, self.burst, self._clock = float(rate_bytes_s), float(burst_bytes), clock
        self._tokens, self._at = float(burst_bytes), clock()

    @classmethod
    def kbps(cls, kbit_s: float, chunk_size: int, clock: Clock = time.monotonic) -> TokenBucket:
        rate = kbit_s * 1000 / 8
        # Half a second of traffic, but never less than one chunk: smooth without stalling.
        return cls(rate, max(rate / 2, chunk_size), clock)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def delay(self, nbytes: int) -> float:
        """Seconds to wait before `nbytes` may go; 0 means now."""
        self._refill()
        need = min(float(nbytes), self.burst)  # see class docstring: big chunks wait for a full bucket only
        return 0.0 if self._tokens >= need else (need - self._tokens) / self.rate

    def take(self, nbytes: int) -> None:
        self._refill()
        self._tokens -= nbytes


class RateMeter:
    """Bytes per second over the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0, clock: Clock = time.monotonic) -> None:
        self.window_s, self._clock = window_s, clock
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0
        self._lock = threading.Lock()  # the syncer adds, the dashboard reads

    def add(self, nbytes: int) -> None:
        with self._lock:
            self._events.append((self._clock(), nbytes))
            self._total += nbytes
            self._trim()

    def _trim(self) -> None:
        cutoff = self._clock() - self.window_s
        while self._events and self._events[0][0] < cutoff:
            self._total -= self._events.popleft()[1]

    def rate(self) -> float:
        with self._lock:
            self._trim()
            if not self._events:
                return 0.0
            span = max(self._clock() - self._events[0][0], 0.5)  # one burst must not read as infinite speed
            return self._total / min(span, self.window_s)


class LinkEstimator:
    """The rate at which the center acknowledges our bytes, to size chunks and timeouts by.

    Measured from ACKs only while a transfer keeps the link busy (start()
    marks the moment sending begins, so idle gaps between assets do not
    count), over the last `horizon_s` seconds. The estimate outlives the
    transfer: the next asset starts from it, not from scratch.
    """

    def __init__(self, floor: float, horizon_s: float = 4.0, clock: Clock = time.monotonic) -> None:
        self.floor, self.horizon_s, self._clock = floor, horizon_s, clock
        self.rate: float | None = None  # bytes/s; None until the first ACK
        self._samples: deque[tuple[float, int]] = deque()
        self._total = 0

    def start(self) -> None:
        self._total = 0
        self._samples.clear()
        self._samples.append((self._clock(), 0))

    def acked(self, nbytes: int) -> None:
        if not self._samples:
            self.start()
        now = self._clock()
        self._total += nbytes
        self._samples.append((now, self._total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.horizon_s:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        # Group commits release ACKs in bursts: a span this short says nothing once a rate is known.
        if now - t0 >= 0.05 or self.rate is None:
            self.rate = (self._total - b0) / max(now - t0, 1e-3)

    def slow_down(self) -> None:
        """The link was given up: the next attempt starts from a quarter of the estimate."""
        if self.rate is not None:
            self.rate = max(self.rate / 4, self.floor)
        self._samples.clear()
