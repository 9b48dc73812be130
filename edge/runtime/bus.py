"""Live event bus: inference threads publish, dashboard WebSockets subscribe.

Publishing never blocks an inference thread: a subscriber that falls behind
loses its oldest events (it can re-read finals from the store), it does not
slow the captions down.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from edge.events import BusEvent


class EventBus:
    def __init__(self, queue_size: int = 500) -> None:
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()
        self._queue_size = queue_size

    def publish(self, event: BusEvent) -> None:
        """Thread-safe; callable from any thread. Only typed events travel here, never dicts."""
        if not isinstance(event, BusEvent):
            raise TypeError(f"the bus carries typed events, not {type(event).__name__}")
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # the subscriber's loop has closed
                with self._lock:
                    self._subscribers.discard((loop, queue))

    async def subscribe(self) -> AsyncIterator[BusEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(self._queue_size)
        entry = (loop, queue)
        with self._lock:
            self._subscribers.add(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            with self._lock:
                self._subscribers.discard(entry)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _offer(queue: asyncio.Queue, event: BusEvent) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
