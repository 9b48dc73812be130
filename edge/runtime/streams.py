"""Caption several sources at once in one process, sharing the loaded models.

Each source runs in its own thread (GStreamer, ONNX Runtime and CTranslate2
release the GIL, so threads use both cores); their events are merged into one
iterator. A source that fails ends with a `StreamFailed` event and the others
carry on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from edge.asr.models import SpeechModels
from edge.asr.streaming import StreamClock, pace_realtime
from edge.errors import EdgeError
from edge.events import AudioChunk, CaptionEvent, SourceStatus
from edge.ingest.gstreamer import RetryPolicy, open_media

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "srt://", "udp://", "alsa:", "pulse:", "/dev/video")


def is_live_source(media: str) -> bool:
    """Cameras and microphones run on their own clock; files can be read as fast as we like."""
    return media.startswith(LIVE_PREFIXES)


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
) -> Iterator[CaptionEvent]:
    """Caption one source. Files are read as fast as possible unless `live`; `stop` ends it early."""
    live_source = is_live_source(media)
    clock = StreamClock()
    source = open_media(media, stream=stream, audio=True, retry=(retry or RetryPolicy()) if live_source else None)
    audio = _audio(source, on_status, stop)
    if live_source:
        audio = _anchored(audio, clock)
    elif live:
        audio = pace_realtime(audio, clock)
    timed = live or live_source
    captions = models.caption_stream(stream, live=timed, clock=clock.now if timed else None)
    try:
        yield from captions.run(audio)
    finally:
        source.close()


def _audio(
    source: Iterable, on_status: Callable[[SourceStatus], None] | None, stop: threading.Event | None
) -> Iterator[AudioChunk]:
    for ev in source:
        if stop is not None and stop.is_set():
            return
        if isinstance(ev, AudioChunk):
            yield ev
        elif isinstance(ev, SourceStatus) and on_status is not None:
            on_status(ev)


def _anchored(chunks: Iterable[AudioChunk], clock: StreamClock) -> Iterator[AudioChunk]:
    # A live source's clock starts when its first audio arrives.
    for chunk in chunks:
        clock.anchor(chunk.end)
        yield chunk


def run_streams(
    models: SpeechModels,
    sources: dict[str, str],
    *,
    live: bool = False,
    retry: RetryPolicy | None = None,
) -> Iterator[CaptionEvent | SourceStatus | StreamFailed | StreamEnded]:
    """Caption every source concurrently; yields events of all streams as they come."""
    events: queue.Queue = queue.Queue(maxsize=1000)
    stop = threading.Event()

    def worker(name: str, media: str) -> None:
        try:
            for ev in caption_media(models, media, stream=name, live=live, retry=retry, on_status=events.put):
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

