"""CPU use measured over an interval, for the box and for this process.

A single instantaneous read (psutil.cpu_percent(interval=None) right after
another caller's) can say 0% while the box burns 160%. The box monitor's thread
samples the counters every couple of seconds; readers get the figure of the
last whole interval. Process CPU is in percent of one core (200% = both cores
of a 2-core box), as `top` shows it; machine CPU is in percent of all cores.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import psutil

INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class CpuReading:
    machine_percent: float  # of all cores together
    process_percent: float  # of one core, like top
    cores: int
    interval_s: float
    at: float

    def to_json(self) -> dict:
        return {"machine_percent": round(self.machine_percent, 1), "process_percent": round(self.process_percent, 1),
                "cores": self.cores, "interval_s": round(self.interval_s, 2), "at": self.at}


class CpuSampler:
    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._process = psutil.Process(os.getpid())
        self._lock = threading.Lock()
        self._last = self._counters()
        self._reading: CpuReading | None = None

    def _counters(self) -> tuple[float, float, float, float]:
        """(monotonic time, machine busy seconds, machine total seconds, this process's CPU seconds)."""
        times = psutil.cpu_times()
        # Linux counts guest time inside user time too; psutil's own cpu_percent leaves it out the same way.
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        busy = total - times.idle - getattr(times, "iowait", 0.0)
        proc = self._process.cpu_times()
        return time.monotonic(), busy, total, proc.user + proc.system

    def sample(self) -> CpuReading:
        """Close the current interval (the box's monitor thread calls this every interval)."""
        now, busy, total, proc = self._counters()
        with self._lock:
            then, busy0, total0, proc0 = self._last
            elapsed = max(now - then, 1e-6)
            machine = 100.0 * (busy - busy0) / (total - total0) if total > total0 else 0.0
            reading = CpuReading(machine_percent=min(100.0, max(0.0, machine)),
                                 process_percent=max(0.0, 100.0 * (proc - proc0) / elapsed),
                                 cores=psutil.cpu_count() or 1, interval_s=elapsed, at=time.time())
            self._last, self._reading = (now, busy, total, proc), reading
        return reading

    def reading(self) -> CpuReading:
        """The last whole interval; before the first one has passed, measures since start-up."""
        with self._lock:
            reading = self._reading
        return reading if reading is not None else self.sample()
