"""Caption several sources at once in one process, sharing the loaded models.

Each source runs in its own thread (GStreamer, ONNX Runtime and CTranslate2
release the GIL, so threads use both cores); their events are merged into one
iterator. A source that fails ends with a `StreamFailed` event and the others
carry on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from edge.asr.models import SpeechModels
from edge.asr.options import CaptionOptions
from edge.asr.processor import CaptionProcessor
from edge.asr.streaming import StreamClock
from edge.errors import EdgeError
from edge.events import CaptionEvent, SourceStatus
from edge.ingest.gstreamer import RetryPolicy
from edge.runtime.pipeline import Pipeline, StreamSpec, events_of

@dataclass(frozen=True, slots=True)
class StreamFailed:
    stream: str
    error: str


@dataclass(frozen=True, slots=True)
class StreamEnded:
    stream: str


def caption_media(
    models: SpeechModels,
    media: str,
    *,
    stream: str = "main",
    live: bool = False,
    retry: RetryPolicy | None = None,
    on_status: Callable[[SourceStatus], None] | None = None,
    stop: threading.Event | None = None,
    options: CaptionOptions | None = None,
) -> Iterator[CaptionEvent]:
    """Caption one source through the box's pipeline. Files are read as fast as possible unless `live`."""
    spec = StreamSpec(stream, media, live=live)
    clock = StreamClock()
    captions = models.caption_stream(stream, live=spec.timed, clock=clock.now if spec.timed else None,
                                     options=options)
    pipeline = Pipeline(spec, [CaptionProcessor(captions)], clock=clock, retry=retry, stop=stop)
    yield from events_of(pipeline, on_status)


def run_streams(
    models: SpeechModels,
    sources: dict[str, str],
    *,
    live: bool = False,
    retry: RetryPolicy | None = None,
    options: CaptionOptions | None = None,
) -> Iterator[CaptionEvent | SourceStatus | StreamFailed | StreamEnded]:
    """Caption every source concurrently; yields events of all streams as they come."""
    events: queue.Queue = queue.Queue(maxsize=1000)
    stop = threading.Event()

    def worker(name: str, media: str) -> None:
        try:
            for ev in caption_media(models, media, stream=name, live=live, retry=retry, on_status=events.put,
                                    options=options):
                if stop.is_set():
                    return
                events.put(ev)
            events.put(StreamEnded(name))
        except EdgeError as exc:
            events.put(StreamFailed(name, str(exc)))
        except Exception as exc:  # a bug in one stream must not kill the others
            events.put(StreamFailed(name, f"internal error: {exc!r}"))

    threads = [threading.Thread(target=worker, args=item, name=f"stream-{item[0]}", daemon=True) for item in sources.items()]
    for t in threads:
        t.start()
    running = len(threads)
    try:
        while running:
            ev = events.get()
            if isinstance(ev, (StreamFailed, StreamEnded)):
                running -= 1
            yield ev
    finally:
        stop.set()

