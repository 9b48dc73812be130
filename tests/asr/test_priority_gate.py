"""Streams share one Whisper model: finals are served before partials, oldest first."""

from __future__ import annotations

import threading
import time

from edge.asr.whisper import BACKGROUND, URGENT, PriorityGate


def test_waiting_urgent_work_goes_before_waiting_background_work():
    gate = PriorityGate()
    order: list[str] = []
    started = threading.Event()

    def holder() -> None:
        with gate.hold(URGENT):
            started.set()
            time.sleep(0.3)  # everyone else queues meanwhile

    def worker(name: str, priority: int) -> None:
        with gate.hold(priority):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    started.wait()
    threads = []
    for name, prio in [("partial-a", BACKGROUND), ("partial-b", BACKGROUND), ("final-a", URGENT), ("final-b", URGENT)]:
        t = threading.Thread(target=worker, args=(name, prio))
        t.start()
        threads.append(t)
        time.sleep(0.02)  # a definite arrival order
    for t in [first, *threads]:
        t.join(5)
    assert order == ["final-a", "final-b", "partial-a", "partial-b"]


def test_the_gate_is_released_when_the_work_fails():
    gate = PriorityGate()
    try:
        with gate.hold(URGENT):
            raise RuntimeError("decoder crashed")
    except RuntimeError:
        pass
    with gate.hold(BACKGROUND):
        pass
