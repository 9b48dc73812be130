"""One source, several processors: each consumer reads its own bounded queue.

Captions must hear every sample (a gap is a lost word and shifts the stream
clock), while keyframes and OCR only need the latest picture and cost ~0.1-1 s
per frame on this box. So the queues differ by kind:

- audio: never drops. When an audio consumer is behind, the pump blocks, which
  throttles file decoding and, for a live source, shows up as back-pressure in
  `stats()` (blocked puts and time blocked) instead of silently losing speech;
- video: drops the oldest frame when full, so a slow consumer sees recent
  frames and never holds up the pump, the audio or another consumer;
- status: every consumer gets every `SourceStatus` (never dropped; they are
  rare), so each processor sees drop-outs and reconnects in order.

The pump runs in its own thread. Each consumer is an iterator that ends when
the source ends and re-raises the source's error after the items before it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from edge.events import AudioChunk, SourceStatus, VideoFrame

__all__ = ["Consumer", "ConsumerStats", "Fanout", "Kind", "MediaItem"]

MediaItem = AudioChunk | VideoFrame | SourceStatus
Kind = Literal["audio", "video", "status"]

DEFAULT_AUDIO_QUEUE = 64  # chunks: seconds of audio, enough to ride out one slow decode
DEFAULT_VIDEO_QUEUE = 2  # frames: a processor that is behind wants the newest picture, not a backlog


class _End:
    """The source has ended (normally, or with `error`)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    name: str
    kind: Kind
    queued: int  # items waiting now
    max_queued: int
    delivered: int  # items handed to the consumer
    dropped: int  # video frames discarded because the consumer was behind
    blocked_puts: int  # audio puts that had to wait for room
    blocked_s: float  # time the pump spent waiting for this consumer

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "queued": self.queued,
            "max_queued": self.max_queued,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "blocked_puts": self.blocked_puts,
            "blocked_s": round(self.blocked_s, 4),
        }


class Consumer:
    """One processor's view of the source: iterate it; `close()` it to stop early."""

    def __init__(self, name: str, kind: Kind, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"consumer {name!r}: queue size must be at least 1, got {maxsize}")
        self.name = name
        self.kind = kind
        self.maxsize = maxsize
        self._items: deque[MediaItem | _End] = deque()
        self._media = 0  # audio chunks or frames in _items: statuses and the end do not count
        self._cv = threading.Condition(threading.Lock())
        self._closed = False
        self._ended = False  # the end is queued: nothing after it may be
        self._finished = False  # the consumer has reached the end
        self._max_queued = self._delivered = self._dropped = self._blocked_puts = 0
        self._blocked_s = 0.0

    def wants(self, item: MediaItem) -> bool:
        if isinstance(item, SourceStatus):
            return True
        return (self.kind == "audio" and isinstance(item, AudioChunk)) or (
            self.kind == "video" and isinstance(item, VideoFrame))

    # -- consumer side ----------------------------------------------------------------

    def __iter__(self) -> Consumer:
        return self

    def __next__(self) -> MediaItem:
        with self._cv:
            while not self._items:
                if self._finished or self._closed:
                    raise StopIteration
                self._cv.wait()
            item = self._items.popleft()
            if isinstance(item, _End):
                self._finished = True
                self._items.clear()
                self._cv.notify_all()
                if item.error is not None:
                    raise item.error
                raise StopIteration
            if not isinstance(item, SourceStatus):
                self._media -= 1
            self._delivered += 1
            self._cv.notify_all()  # room for a blocked audio put
            return item

    def close(self) -> None:
        """Stop receiving: what is queued is discarded and the pump no longer waits for this consumer."""
        with self._cv:
            self._closed = True
            self._items.clear()
            self._media = 0
            self._cv.notify_all()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        with self._cv:
            return self._closed or self._finished

    def stats(self) -> ConsumerStats:
        with self._cv:
            return ConsumerStats(self.name, self.kind, self._media, self._max_queued, self._delivered,
                                 self._dropped, self._blocked_puts, self._blocked_s)

    # -- pump side --------------------------------------------------------------------

    def _put(self, item: MediaItem, stop: threading.Event) -> None:
        with self._cv:
            if self._closed or self._ended:
                return
            if isinstance(item, SourceStatus):
                self._items.append(item)
            elif self.kind == "video":
                if self._media >= self.maxsize:
                    self._drop_oldest_frame()
                self._append_media(item)
            else:
                if self._media >= self.maxsize:
                    self._blocked_puts += 1
                    since = time.monotonic()
                    while self._media >= self.maxsize and not self._closed and not stop.is_set():
                        self._cv.wait(0.1)  # wakes on a take or a close; the timeout notices stop
                    self._blocked_s += time.monotonic() - since
                    if self._closed or stop.is_set():
                        return
                self._append_media(item)
            self._cv.notify_all()

    def _append_media(self, item: MediaItem) -> None:
        self._items.append(item)
        self._media += 1
        self._max_queued = max(self._max_queued, self._media)

    def _drop_oldest_frame(self) -> None:
        for i, queued in enumerate(self._items):
            if isinstance(queued, VideoFrame):
                del self._items[i]
                self._media -= 1
                self._dropped += 1
                return

    def _end(self, error: BaseException | None) -> None:
        with self._cv:
            if not self._closed and not self._ended:
                self._items.append(_End(error))
                self._ended = True
            self._cv.notify_all()


class Fanout:
    """Reads `source` (e.g. `open_media(...)`) in a thread and hands each item to the consumers that want it.

    Register consumers, then `start()`; `close()` (or leaving the `with` block)
    stops the pump and ends every consumer. The pump also stops reading once
    every consumer has closed.
    """

    def __init__(self, source: Iterable[MediaItem], *, name: str = "fanout") -> None:
        self._source = source
        self._name = name
        self._consumers: list[Consumer] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def audio(self, name: str, maxsize: int = DEFAULT_AUDIO_QUEUE) -> Consumer:
        """A consumer of every audio chunk (and every status); the pump waits for it rather than drop audio."""
        return self._add(Consumer(name, "audio", maxsize))

    def video(self, name: str, maxsize: int = DEFAULT_VIDEO_QUEUE) -> Consumer:
        """A consumer of the newest video frames (and every status); when behind, its oldest frames are dropped."""
        return self._add(Consumer(name, "video", maxsize))

    def status(self, name: str) -> Consumer:
        """A consumer of status changes only (a dashboard, a supervisor)."""
        return self._add(Consumer(name, "status", 1))

    def _add(self, consumer: Consumer) -> Consumer:
        if self._thread is not None:
            raise RuntimeError(f"consumer {consumer.name!r} added after start: it would miss the first items")
        if any(c.name == consumer.name for c in self._consumers):
            raise ValueError(f"a consumer named {consumer.name!r} is already registered")
        self._consumers.append(consumer)
        return consumer

    def start(self) -> Fanout:
        if self._thread is not None:
            raise RuntimeError("fan-out already started")
        if not self._consumers:
            raise RuntimeError("register at least one consumer before starting the fan-out")
        self._thread = threading.Thread(target=self._pump, name=self._name, daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop pumping and end every consumer (their iterators stop after what they already hold)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for consumer in self._consumers:
            consumer._end(None)

    def __enter__(self) -> Fanout:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def stats(self) -> list[ConsumerStats]:
        return [c.stats() for c in self._consumers]

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the pump to finish; True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _pump(self) -> None:
        error: BaseException | None = None
        items = iter(self._source)
        try:
            for item in items:
                if not isinstance(item, AudioChunk | VideoFrame | SourceStatus):
                    raise TypeError(f"fan-out got {type(item).__name__}, not an audio chunk, frame or status")
                for consumer in self._consumers:
                    if consumer.wants(item):
                        consumer._put(item, self._stop)
                if self._stop.is_set() or all(c.closed for c in self._consumers):
                    break
        except BaseException as exc:  # handed to every consumer with its traceback
            error = exc
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # open_media frees its pipeline when its generator is closed
            for consumer in self._consumers:
                consumer._end(error)
