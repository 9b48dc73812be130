"""Silero VAD (ONNX) over 32 ms frames, with a streaming speech segmenter."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge.backends.base import TensorSession
from edge.events import SAMPLE_RATE
from edge.profiles import VadSettings

FRAME = 512  # samples per VAD decision at 16 kHz (32 ms), fixed by the model
CONTEXT = 64  # samples of the previous frame the model expects in front of each frame
FRAME_S = FRAME / SAMPLE_RATE


class SileroVad:
    """Stateful speech probability per 512-sample frame."""

    def __init__(self, session: TensorSession) -> None:
        self._session = session
        # The OpenVINO export has the 16 kHz rate baked in and no `sr` input.
        self._rate = {"sr": np.array(SAMPLE_RATE, dtype=np.int64)} if "sr" in session.input_names else {}
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, CONTEXT), dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._context, frame.reshape(1, FRAME).astype(np.float32, copy=False)], axis=1)
        out = self._session.run({"input": x, "state": self._state, **self._rate})
        self._state = out["stateN"]
        self._context = x[:, -CONTEXT:]
        return float(out["output"].reshape(-1)[0])


@dataclass(frozen=True, slots=True)
class VadFrame:
    """One frame with its speech probability and what the segmenter decided."""

    index: int  # frame number since the stream began
    samples: np.ndarray
    prob: float
    event: Literal["silence", "start", "speech", "end"]

    @property
    def start(self) -> float:
        return self.index * FRAME_S

    @property
    def end(self) -> float:
        return (self.index + 1) * FRAME_S


class SpeechSegmenter:
    """Turns a sample stream into frames labelled start / speech / end / silence.

    Hysteresis (threshold up, neg_threshold down) plus a minimum silence keeps
    short dips between words inside one utterance; bursts shorter than
    min_speech_s are discarded as clicks.
    """

    def __init__(self, vad: SileroVad, settings: VadSettings) -> None:
        self._vad = vad
        self._s = settings
        self._pending = np.zeros(0, dtype=np.float32)
        self._index = 0
        self._in_speech = False
        self._silent_frames = 0
        self._min_silence_frames = max(1, round(settings.min_silence_s / FRAME_S))
        # Candidate start frames held until the burst proves long enough to be speech.
        self._candidate: deque[VadFrame] = deque()
        self._min_speech_frames = max(1, round(settings.min_speech_s / FRAME_S))

    def feed(self, samples: np.ndarray) -> Iterator[VadFrame]:
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(buf) // FRAME
        for i in range(n):
            yield from self._step(buf[i * FRAME : (i + 1) * FRAME])
        self._pending = buf[n * FRAME :].copy()

    def flush(self) -> Iterator[VadFrame]:
        """End of stream: close an open utterance so its words are not lost."""
        if len(self._pending):
            yield from self._step(np.pad(self._pending, (0, FRAME - len(self._pending))))
            self._pending = np.zeros(0, dtype=np.float32)
        if self._candidate and len(self._candidate) >= self._min_speech_frames:
            yield from self._promote()
        if self._in_speech:
            self._in_speech = False
            yield VadFrame(self._index, np.zeros(0, dtype=np.float32), 0.0, "end")

    def _step(self, frame: np.ndarray) -> Iterator[VadFrame]:
        prob = self._vad(frame)
        index = self._index
        self._index += 1
        if self._in_speech:
            if prob < self._s.neg_threshold:
                self._silent_frames += 1
            elif prob >= self._s.threshold:
                self._silent_frames = 0
            if self._silent_frames >= self._min_silence_frames:
                self._in_speech = False
                self._silent_frames = 0
                yield VadFrame(index, frame, prob, "end")
            else:
                yield VadFrame(index, frame, prob, "speech")
            return
        if prob >= self._s.threshold or (self._candidate and prob >= self._s.neg_threshold):
            self._candidate.append(VadFrame(index, frame, prob, "speech"))
            if len(self._candidate) >= self._min_speech_frames:
                yield from self._promote()
            return
        # A burst too short to be speech: release it as silence.
        while self._candidate:
            c = self._candidate.popleft()
            yield VadFrame(c.index, c.samples, c.prob, "silence")
        yield VadFrame(index, frame, prob, "silence")

    def _promote(self) -> Iterator[VadFrame]:
        self._in_speech = True
        self._silent_frames = 0
        first = True
        while self._candidate:
            c = self._candidate.popleft()
            yield VadFrame(c.index, c.samples, c.prob, "start" if first else "speech")
            first = False
