"""Live captions as a realtime processor: audio chunks in, caption events out."""

from __future__ import annotations

from collections.abc import Iterator

from edge.asr.streaming import CaptionStream
from edge.events import AudioChunk, CaptionEvent, VideoFrame


class CaptionProcessor:
    name = "captions"
    consumes = "audio"

    def __init__(self, stream: CaptionStream) -> None:
        self._stream = stream

    def feed(self, item: AudioChunk | VideoFrame) -> Iterator[CaptionEvent]:
        if isinstance(item, AudioChunk):
            yield from self._stream.feed(item)

    def flush(self) -> Iterator[CaptionEvent]:
        yield from self._stream.flush()
