"""What `edge run` says in its terminal: streams added, playing, failing or retrying (with the
reason), sync link changes, and (with --show-captions) the finals.

A subscriber of the typed live bus like any dashboard page, on its own thread
and event loop, so a slow terminal never holds up captions. Only changes are
printed: a camera that keeps refusing prints its reason once, not once per
reconnect attempt.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from edge.events import CaptionEvent, StreamState
from edge.runtime.bus import EventBus

SYNC_POLL_S = 2.0
_ATTEMPT = re.compile(r"\(attempt \d+\)|attempt \d+")


def _stamp(now: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(now))


class ConsoleReporter:
    def __init__(
        self,
        bus: EventBus,
        out: TextIO | None = None,
        *,
        show_captions: bool = False,
        sync_state: Callable[[], dict[str, Any] | None] | None = None,
        sync_poll_s: float = SYNC_POLL_S,
    ) -> None:
        self._bus = bus
        self._out = out
        self._show_captions = show_captions
        self._sync_state = sync_state
        self._sync_poll_s = sync_poll_s
        self._streams: dict[str, tuple[str, str]] = {}  # name -> (state, message) last printed
        self._sync: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="console", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ConsoleReporter:
        self._thread.start()
        self._ready.wait(5.0)  # subscribed before the first stream starts, so "added" is never missed
        return self

    def stop(self, timeout: float = 5.0) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:  # closed in between
                pass
        self._thread.join(timeout)

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.create_task(self._follow_bus())
            if self._sync_state is not None:
                loop.create_task(self._follow_sync())
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_asyncgens())  # the bus forgets this subscriber
            loop.close()

    async def _follow_bus(self) -> None:
        events = self._bus.subscribe()
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0)  # runs the subscription up to its first wait: now registered
        self._ready.set()
        while True:
            event = await first
            self.show(event)
            first = asyncio.ensure_future(events.__anext__())

    async def _follow_sync(self) -> None:
        assert self._sync_state is not None
        while True:
            try:
                self.show_sync(self._sync_state())
            except Exception as exc:  # the report must not die with a sync hiccup
                self._print(f"sync: state unavailable ({exc})")
            await asyncio.sleep(self._sync_poll_s)

    # -- what is printed (also called directly by tests) ------------------------------------

    def show(self, event: object) -> None:
        if isinstance(event, StreamState):
            for line in self.stream_lines(event):
                self._print(line)
        elif isinstance(event, CaptionEvent) and self._show_captions and event.type == "final" and event.text:
            self._print(f"[{event.stream}] {event.text}")

    def stream_lines(self, s: StreamState) -> list[str]:
        lines = []
        message = _ATTEMPT.sub("", s.message).strip()
        previous = self._streams.get(s.stream)
        if previous is None:
            lines.append(f"stream {s.stream} added: {s.source}")
        elif s.state == "starting":
            return lines  # each reconnect passes through starting: only where it lands is news
        if previous != (s.state, message if s.state in {"retrying", "failed"} else ""):
            if s.state == "retrying":
                lines.append(f"stream {s.stream}: retrying: {message}" if message else f"stream {s.stream}: retrying")
            elif s.state == "failed":
                lines.append(f"stream {s.stream}: FAILED: {message}")
            elif s.state == "playing":
                lines.append(f"stream {s.stream}: playing" + (f" (run {s.run})" if s.run else ""))
            elif s.state in {"ended", "stopped"}:
                lines.append(f"stream {s.stream}: {s.state}")
        self._streams[s.stream] = (s.state, message if s.state in {"retrying", "failed"} else "")
        return lines

    def show_sync(self, state: dict[str, Any] | None) -> None:
        if state is None:
            return
        link = state.get("state")
        if link == self._sync or link == "connecting":  # every retry passes through connecting: not news
            return
        self._sync = link
        center = state.get("center")
        if link == "up":
            self._print(f"sync: connected to {center}; {state.get('queue_depth', 0)} assets waiting")
        elif link == "down":
            self._print(f"sync: link to {center} down, retrying: {state.get('last_error') or 'no answer'}")
        else:
            self._print(f"sync: {link} ({center})")

    def _print(self, line: str) -> None:
        out = self._out or sys.stderr
        try:
            out.write(f"{_stamp()} {line}\n")
            out.flush()
        except (OSError, ValueError):  # a closed terminal must not stop the box
            pass
