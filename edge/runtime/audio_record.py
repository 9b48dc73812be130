"""Keeps a run's audio as one-minute WAV `media` assets, so any moment of it can be played back later.

A realtime processor beside the captions: it consumes the same 16 kHz mono
audio and yields no events. Each piece is stored with its run and stream
seconds, so `audio_slice` can cut [start, end] out of a run for the search
page and the draft editor. A full disk stops the recording, not the captions.
"""

from __future__ import annotations

import io
import logging
import wave
from collections.abc import Iterable

import numpy as np

from edge.errors import EdgeError
from edge.events import SAMPLE_RATE, AudioChunk

log = logging.getLogger(__name__)

PIECE_S = 60.0
MAX_SLICE_S = 120.0


def wav_bytes(samples: np.ndarray) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


class AudioRecorder:
    name = "audio-recorder"
    consumes = "audio"

    def __init__(self, store, run, *, piece_s: float = PIECE_S) -> None:
        self.store = store
        self.run = run
        self.piece_s = piece_s
        self._parts: list[np.ndarray] = []
        self._start: float | None = None
        self._samples = 0
        self._failed = False

    def feed(self, item: AudioChunk) -> Iterable:
        if self._start is None:
            self._start = item.start
        self._parts.append(item.samples)
        self._samples += len(item.samples)
        if self._samples >= self.piece_s * SAMPLE_RATE:
            self._write()
        return ()

    def flush(self) -> Iterable:
        if self._samples:
            self._write()
        return ()

    def _write(self) -> None:
        samples = np.concatenate(self._parts)
        start = float(self._start or 0.0)
        end = start + len(samples) / SAMPLE_RATE
        self._parts, self._samples, self._start = [], 0, None
        if self._failed:
            return
        try:
            self.store.add_bytes(wav_bytes(samples), kind="media", mime="audio/wav", stream=self.run.stream,
                                 run=self.run.id, start=start, end=end,
                                 name=f"{self.run.stream}-{self.run.id[-6:]}-{int(start):06d}s.wav",
                                 meta={"run": self.run.id, "recording": "audio"})
        except EdgeError as exc:  # disk full: captions go on; say it once
            self._failed = True
            log.error("stream %s: audio recording stopped: %s", self.run.stream, exc)


def audio_slice(store, run_id: str, start: float, end: float) -> bytes | None:
    """WAV of [start, end] stream seconds of a run from its recorded pieces; None when nothing covers it."""
    start, end = max(0.0, float(start)), float(end)
    if not end > start:
        raise ValueError("end must be after start")
    end = min(end, start + MAX_SLICE_S)
    pieces = [a for a in store.list(kind="media", run=run_id, limit=None) if a.mime == "audio/wav"
              and a.start is not None and a.end is not None and a.end > start and a.start < end]
    if not pieces:
        return None
    out = []
    for asset in sorted(pieces, key=lambda a: a.start):
        with wave.open(str(store.content_path(asset.id)), "rb") as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        lo = max(0, int((start - asset.start) * SAMPLE_RATE))
        hi = min(len(frames), int((end - asset.start) * SAMPLE_RATE))
        if hi > lo:
            out.append(frames[lo:hi])
    if not out:
        return None
    return wav_bytes(np.concatenate(out).astype(np.float32) / 32767)
