"""Typed events that flow between pipeline stages.

Times are seconds of stream time (0 = first sample of the stream), never wall
clock, so that files, replays and live sources are measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """16 kHz mono float32 PCM in [-1, 1], starting at `start` seconds."""

    stream: str
    start: float
    samples: np.ndarray = field(repr=False)

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One RGB frame (height x width x 3, uint8) at presentation time `pts`."""

    stream: str
    pts: float
    width: int
    height: int
    rgb: np.ndarray = field(repr=False)


SourceState = Literal["connecting", "playing", "retrying", "ended", "failed"]


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A change in a source's health, reported so operators see drop-outs."""

    stream: str
    state: SourceState
    message: str = ""
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class CaptionEvent:
    """A caption: `partial` may be revised by later events, `final` never is."""

    type: Literal["partial", "final"]
    stream: str
    text: str
    start: float
    end: float
    emitted_at: float

    def to_json(self) -> dict:
        return {
            "type": self.type,
            "stream": self.stream,
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "emitted_at": round(self.emitted_at, 3),
        }


MediaEvent = AudioChunk | VideoFrame | SourceStatus
