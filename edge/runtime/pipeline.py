"""One stream's pipeline: source -> fan-out -> realtime processors -> typed events.

The same pipeline serves `edge run` (the supervisor stores and publishes its
events) and `edge transcribe` (which prints them). Each processor runs on its
own thread behind its own bounded queue (edge/ingest/fanout.py), so a slow
video processor never holds up captions.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from edge.asr.streaming import StreamClock, pace_realtime
from edge.events import AudioChunk, CaptionEvent, SourceStatus, VideoFrame
from edge.ingest.fanout import DEFAULT_VIDEO_QUEUE, Fanout
from edge.ingest.gstreamer import RetryPolicy, open_media
from edge.ingest.sources import classify
from edge.runtime.processors import ProcessorEvent, RealtimeProcessor


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    source: str
    live: bool = False  # play a file at real-time pace, as a camera would
    video_fps: float | None = None  # decode frames at this rate (only when a processor consumes video)
    video_size: tuple[int, int] | None = (640, 360)  # frames are scaled (letterboxed) to this size

    @property
    def live_source(self) -> bool:
        return classify(self.source).live

    @property
    def timed(self) -> bool:
        """Events carry a listener's clock (emitted_at) rather than the decoder's position."""
        return self.live or self.live_source


def pace(items: Iterable[object], clock: StreamClock) -> Iterator[object]:
    """Release media no faster than real time: audio in small slices, like a microphone; frames at their time."""
    for item in items:
        if isinstance(item, AudioChunk):
            yield from pace_realtime([item], clock)
        elif isinstance(item, VideoFrame):
            clock.anchor(item.pts)
            delay = item.pts - clock.now()
            if delay > 0:
                time.sleep(delay)
            yield item
        else:
            yield item


def anchored(items: Iterable[object], clock: StreamClock) -> Iterator[object]:
    """A live source's clock starts when its first audio arrives."""
    for item in items:
        if isinstance(item, AudioChunk):
            clock.anchor(item.end)
        yield item


class Pipeline:
    def __init__(
        self,
        spec: StreamSpec,
        processors: Sequence[RealtimeProcessor],
        *,
        clock: StreamClock,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if not processors:
            raise ValueError("a pipeline needs at least one processor")
        self.spec = spec
        self.processors = list(processors)
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.stop = stop or threading.Event()
        self.fanout: Fanout | None = None

    def run(self, on_event: Callable[[ProcessorEvent], None],
            on_status: Callable[[SourceStatus], None] | None = None) -> None:
        """Run to the end of the source (or stop); raises the source's error after every event before it."""
        spec = self.spec
        wants_audio = any(p.consumes == "audio" for p in self.processors)
        wants_video = any(p.consumes == "video" for p in self.processors)
        media = open_media(spec.source, stream=spec.name, audio=wants_audio,
                           video_fps=(spec.video_fps or 1.0) if wants_video else None,
                           video_size=spec.video_size,
                           retry=self.retry if spec.live_source else None)
        items: Iterable[object] = media
        if spec.live_source:
            items = anchored(items, self.clock)
        elif spec.live:
            items = pace(items, self.clock)
        items = _until(items, self.stop)
        fan = self.fanout = Fanout(items, name=f"fanout-{spec.name}")  # type: ignore[arg-type]
        # A processor may ask for a deeper video queue (`queue_size`): more frames kept while it is busy.
        consumers = [(p, fan.audio(p.name) if p.consumes == "audio" else
                      fan.video(p.name, getattr(p, "queue_size", DEFAULT_VIDEO_QUEUE))) for p in self.processors]
        statuses = fan.status("status")
        errors: list[BaseException] = []

        def drive(processor: RealtimeProcessor, consumer: Iterable[object]) -> None:
            try:
                for item in consumer:
                    if isinstance(item, (AudioChunk, VideoFrame)):
                        for ev in processor.feed(item):
                            on_event(ev)
                for ev in processor.flush():
                    on_event(ev)
            except BaseException as exc:  # the source's error, re-raised by the consumer, or a processor bug
                errors.append(exc)
                _close(consumer)

        def watch() -> None:
            try:
                for item in statuses:
                    if isinstance(item, SourceStatus) and on_status is not None:
                        on_status(item)
            except BaseException:  # the same error reaches the processors; they report it
                pass

        threads = [threading.Thread(target=drive, args=pc, name=f"{pc[0].name}-{spec.name}", daemon=True)
                   for pc in consumers]
        threads.append(threading.Thread(target=watch, name=f"status-{spec.name}", daemon=True))
        fan.start()
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        finally:
            fan.close()
        if errors:
            raise errors[0]


def _until(items: Iterable[object], stop: threading.Event) -> Iterator[object]:
    iterator = iter(items)
    try:
        for item in iterator:
            if stop.is_set():
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _close(consumer: object) -> None:
    close = getattr(consumer, "close", None)
    if close is not None:
        close()


_END = object()


def events_of(pipeline: Pipeline, on_status: Callable[[SourceStatus], None] | None = None) -> Iterator[CaptionEvent]:
    """The pipeline's events as an iterator (for the command line); the pipeline runs on a thread."""
    out: queue.Queue[object] = queue.Queue()

    def run() -> None:
        try:
            pipeline.run(out.put, on_status)
        except BaseException as exc:
            out.put(exc)
        finally:
            out.put(_END)

    thread = threading.Thread(target=run, name=f"pipeline-{pipeline.spec.name}", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        pipeline.stop.set()
