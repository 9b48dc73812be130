"""Typed events that flow between pipeline stages and over the live bus.

Times are seconds of stream time (0 = first sample of the run), never wall
clock, so that files, replays and live sources are measured the same way; a
record's run converts them to wall-clock time (edge/store/records.py).
Everything on the live bus is one of `BusEvent`, frozen, with a stable JSON
form whose "kind" says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

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
    """A caption: `partial` may be revised by later events, `final` never is.

    `run` and `seq` are set once a final is stored (seq pages /api/captions).
    """

    KIND: ClassVar[str] = "caption"

    type: Literal["partial", "final"]
    stream: str
    text: str
    start: float
    end: float
    emitted_at: float
    run: str | None = None
    seq: int | None = None
    wall_start: float | None = None
    language: str | None = None  # ISO 639-1 code the text is in ("en", "es"); None where not known

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "stream": self.stream,
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "emitted_at": round(self.emitted_at, 3),
        }
        if self.language is not None:
            out["language"] = self.language
        if self.run is not None:
            out["run"] = self.run
        if self.seq is not None:
            out["seq"] = self.seq
        if self.wall_start is not None:
            out["wall_start"] = round(self.wall_start, 3)
        return out

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


@dataclass(frozen=True, slots=True)
class StreamState:
    """A stream's health as the dashboard shows it, sent whenever it changes."""

    KIND: ClassVar[str] = "stream"

    stream: str
    source: str  # passwords removed
    state: str  # starting | playing | retrying | ended | failed | stopped
    message: str
    started_at: float
    last_caption_at: float | None
    finals: int
    retries: int
    run: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.stream, "stream": self.stream, "source": self.source, "state": self.state,
                "message": self.message, "started_at": self.started_at, "last_caption_at": self.last_caption_at,
                "finals": self.finals, "retries": self.retries, "run": self.run}

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


@dataclass(frozen=True, slots=True)
class StreamLevel:
    """How loud a stream's audio is, so a crew sees the microphone hears before any word appears.

    dBFS of the loudest ~100 ms block since the previous level (at most 5 a second): `rms_dbfs` is
    its mean power, `peak_dbfs` its largest sample; digital silence is reported as SILENCE_DBFS.
    """

    KIND: ClassVar[str] = "level"
    SILENCE_DBFS: ClassVar[float] = -120.0

    stream: str
    at: float  # stream seconds at the end of the measured block
    rms_dbfs: float
    peak_dbfs: float
    run: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stream": self.stream, "at": round(self.at, 3), "rms_dbfs": round(self.rms_dbfs, 1),
                               "peak_dbfs": round(self.peak_dbfs, 1)}
        if self.run is not None:
            out["run"] = self.run
        return out

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


@dataclass(frozen=True, slots=True)
class SensorReading:
    """A stored sensor reading (edge/ingest/sensors.py). Sensors speak wall-clock time, not stream time.

    `value`/`unit` are normalised (edge/ingest/units.py); `late` marks a reading older than the
    newest one of its series (stored, but it neither moves "last" nor fires rules).
    """

    KIND: ClassVar[str] = "sensor"

    device: str
    quantity: str
    value: float
    unit: str
    ts: float  # wall-clock time of the measurement (unix seconds)
    seq: int | None = None  # the device's own counter, if it sends one
    record: int | None = None  # the store's record seq once stored
    late: bool = False
    demo: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "quantity": self.quantity, "value": self.value, "unit": self.unit,
                "ts": round(self.ts, 3), "seq": self.seq, "record": self.record, "late": self.late,
                "demo": self.demo}

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


@dataclass(frozen=True, slots=True)
class SensorAlert:
    """A threshold rule crossed (state "raised") or back inside its hysteresis band ("cleared")."""

    KIND: ClassVar[str] = "sensor_alert"

    rule: str
    device: str
    quantity: str
    state: Literal["raised", "cleared"]
    value: float
    unit: str
    ts: float
    text: str  # the fact as a draft may cite it, e.g. "Wind speed 62 km/h at 14:03 (station ws-1)"
    record: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "device": self.device, "quantity": self.quantity, "state": self.state,
                "value": self.value, "unit": self.unit, "ts": round(self.ts, 3), "text": self.text,
                "record": self.record}

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


@dataclass(frozen=True, slots=True)
class KeyframeEvent:
    """A scene's keyframe (edge/vision/): JPEG and thumbnail bytes travel in-process only, never as JSON.

    `asset` is set once the keyframe is stored; `text` is what OCR read on it (one line per line).
    """

    KIND: ClassVar[str] = "keyframe"

    stream: str
    pts: float  # stream seconds
    scene: int
    width: int
    height: int
    jpeg: bytes = field(repr=False)
    thumbnail: bytes = field(repr=False)
    text: str = ""
    faces_blurred: int = 0
    run: str | None = None
    asset: str | None = None
    wall: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "pts": round(self.pts, 3), "scene": self.scene, "width": self.width,
                "height": self.height, "text": self.text, "faces_blurred": self.faces_blurred, "run": self.run,
                "asset": self.asset, "wall": None if self.wall is None else round(self.wall, 3)}

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


@dataclass(frozen=True, slots=True)
class OcrTextEvent:
    """On-screen text (edge/vision/): "appeared" opens one record, "extended" moves its end, "ended" closes it.

    `key` names the text within its stream's run; `seq` is its record once stored.
    """

    KIND: ClassVar[str] = "ocr"

    change: Literal["appeared", "extended", "ended"]
    stream: str
    key: int
    text: str
    start: float  # stream seconds
    end: float
    box: tuple[tuple[float, float], ...] = ()
    score: float = 0.0
    run: str | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"change": self.change, "stream": self.stream, "key": self.key, "text": self.text,
                "start": round(self.start, 3), "end": round(self.end, 3),
                "box": [[round(x, 1), round(y, 1)] for x, y in self.box], "score": round(self.score, 4),
                "run": self.run, "seq": self.seq}

    def bus_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **self.to_json()}


BusEvent = CaptionEvent | StreamState | StreamLevel | SensorReading | SensorAlert | KeyframeEvent | OcrTextEvent
