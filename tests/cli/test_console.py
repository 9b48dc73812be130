"""The terminal reporter of `edge run`, fed through the real live bus."""

from __future__ import annotations

import io
import time

from edge.events import CaptionEvent, StreamState
from edge.runtime.bus import EventBus
from edge.runtime.console import ConsoleReporter


def state(name: str, st: str, message: str = "") -> StreamState:
    return StreamState(name, f"rtsp://10.0.0.5/{name}", st, message, 0.0, None, 0, 0, "run1")


def wait_lines(out: io.StringIO, n: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = out.getvalue().splitlines()
        if len(lines) >= n:
            return lines
        time.sleep(0.02)
    raise AssertionError(out.getvalue())


def test_streams_and_captions_come_through_the_bus_and_a_repeated_reason_is_said_once():
    bus, out = EventBus(), io.StringIO()
    console = ConsoleReporter(bus, out, show_captions=True).start()
    try:
        refused = "not connected yet: cannot open 'rtsp://10.0.0.5/cam': connection refused by 10.0.0.5:554"
        for ev in [state("cam", "starting"), state("cam", "retrying", refused), state("cam", "starting"),
                   state("cam", "retrying", refused), state("cam", "playing"),
                   CaptionEvent("partial", "cam", "Good eve", 0.0, 0.5, 0.6),
                   CaptionEvent("final", "cam", "Good evening.", 0.0, 0.9, 1.2), state("cam", "failed", "gave up")]:
            bus.publish(ev)
        lines = wait_lines(out, 5)
    finally:
        console.stop()

    said = [line.split(" ", 1)[1] for line in lines]  # drop the time of day
    assert said == ["stream cam added: rtsp://10.0.0.5/cam", f"stream cam: retrying: {refused}",
                    "stream cam: playing (run run1)", "[cam] Good evening.", "stream cam: FAILED: gave up"]


def test_sync_link_changes_are_said_when_they_change():
    out = io.StringIO()
    console = ConsoleReporter(EventBus(), out)
    for link in [{"state": "connecting", "center": "tcp://c:5555"},
                 {"state": "down", "center": "tcp://c:5555", "last_error": "no answer from the center"},
                 {"state": "down", "center": "tcp://c:5555", "last_error": "no answer from the center"},
                 {"state": "up", "center": "tcp://c:5555", "queue_depth": 3}]:
        console.show_sync(link)

    said = [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]
    assert said == ["sync: link to tcp://c:5555 down, retrying: no answer from the center",
                    "sync: connected to tcp://c:5555; 3 assets waiting"]
