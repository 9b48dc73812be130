"""Live captions as a realtime processor: audio chunks in, caption events out.

It also meters the audio it hears (StreamLevel, through `on_level`), so a crew
sees a microphone is live before any word is recognised. Levels go to a
callback rather than out of `feed`, so the caption event stream stays the same
for every consumer (the command line prints it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from edge.asr.streaming import CaptionStream
from edge.events import SAMPLE_RATE, AudioChunk, CaptionEvent, StreamLevel, VideoFrame

BLOCK_S = 0.1  # one meter reading per 100 ms of audio
REPORT_EVERY_S = 0.2  # at most 5 readings a second on the bus: a phone redraws no faster than that is useful


def dbfs(value: float) -> float:
    """Decibels relative to full scale (1.0), floored so silence is a number JSON can carry."""
    return max(20.0 * math.log10(value), StreamLevel.SILENCE_DBFS) if value > 0 else StreamLevel.SILENCE_DBFS


class LevelMeter:
    """RMS and peak per 100 ms block; reports the loudest block of each 200 ms (a short shout is not lost)."""

    def __init__(self, on_level: Callable[[StreamLevel], None]) -> None:
        self._on_level = on_level
        self._block = int(SAMPLE_RATE * BLOCK_S)
        self._pending = np.zeros(0, np.float32)
        self._pending_end = 0.0
        self._loudest: tuple[float, float] | None = None  # (rms, peak) since the last report
        self._reported_at: float | None = None

    def feed(self, chunk: AudioChunk) -> None:
        self._pending = np.concatenate([self._pending, np.asarray(chunk.samples, np.float32)])
        self._pending_end = chunk.end
        blocks = len(self._pending) // self._block
        if not blocks:
            return
        used = blocks * self._block
        block_end = self._pending_end - (len(self._pending) - used) / SAMPLE_RATE
        view = self._pending[:used].reshape(blocks, self._block).astype(np.float64)
        self._pending = self._pending[used:]
        rms = np.sqrt(np.mean(view * view, axis=1))
        peak = np.max(np.abs(view), axis=1)
        for r, p in zip(rms, peak):
            if self._loudest is None or r > self._loudest[0]:
                self._loudest = (float(r), float(p))
        if self._reported_at is None or block_end - self._reported_at >= REPORT_EVERY_S - 1e-6:
            r, p = self._loudest  # type: ignore[misc]
            self._loudest, self._reported_at = None, block_end
            self._on_level(StreamLevel(chunk.stream, block_end, dbfs(r), dbfs(p)))


class CaptionProcessor:
    name = "captions"
    consumes = "audio"

    def __init__(self, stream: CaptionStream, *, on_level: Callable[[StreamLevel], None] | None = None) -> None:
        self._stream = stream
        self._meter = LevelMeter(on_level) if on_level is not None else None

    def feed(self, item: AudioChunk | VideoFrame) -> Iterator[CaptionEvent]:
        if isinstance(item, AudioChunk):
            if self._meter is not None:
                self._meter.feed(item)
            yield from self._stream.feed(item)

    def flush(self) -> Iterator[CaptionEvent]:
        yield from self._stream.flush()
