"""Offline windows: speech laid end to end and decoded in full 30 s windows, seeking as Whisper does.

A file is not live, so nothing has to be committed before the next pause. The
VAD's speech chunks (each with its padding and the short pauses inside it) are
laid end to end, long silences dropped, and the result is decoded the way
Whisper was trained and faster-whisper decodes: a full 30 s window at a time,
with the text before it as context; the next window starts where the last
finished segment ended, so a sentence cut by the window edge is heard again
whole. Timestamped segments are mapped back to stream time.

Why this shape (measured, bench/RESULTS.md): packing whole utterances into
windows that end at an utterance boundary (24 s of audio, the previous
design) matched faster-whisper on the tuning set but lost to it by 2.9 WER
points on the test set; the same decoder fed faster-whisper's composition
(VAD chunks with pauses under 2 s kept, 0.4 s padding, full windows and seek)
matched it. The difference is what is in the window, not the decoder.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from edge.asr.whisper import Segment
from edge.events import SAMPLE_RATE

WINDOW_S = 30.0
# A window must move the stream on by at least this much, so audio the model
# keeps answering with one early timestamp cannot hold the stream up.
MIN_SEEK_S = 1.0


@dataclass(frozen=True, slots=True)
class Piece:
    offset: float  # seconds into the buffer
    start: float  # stream time of its first sample
    duration: float


@dataclass
class WindowPacker:
    """The speech waiting to be decoded, and the map from buffer time back to stream time.

    Used by the offline caption stream as: add chunks while `fits`; when it no
    longer fits, decode `audio()` (the buffer's first 30 s) and `settle` the
    segments, which drops what they covered; at the end, decode until empty.
    """

    max_samples: int = int(WINDOW_S * SAMPLE_RATE)
    pieces: list[Piece] = field(default_factory=list)
    _audio: list[np.ndarray] = field(default_factory=list)
    _samples: int = 0

    def __bool__(self) -> bool:
        return bool(self.pieces)

    def fits(self, samples: np.ndarray) -> bool:
        """Whether more speech may join before the head window is decoded.

        Speech joins until a full window is buffered, so every window but the
        last is all speech, cut wherever 30 s falls, as faster-whisper's are.
        """
        return self._samples < self.max_samples

    def add(self, samples: np.ndarray, stream_start: float) -> None:
        if not len(samples):
            return
        self.pieces.append(Piece(self._samples / SAMPLE_RATE, stream_start, len(samples) / SAMPLE_RATE))
        self._audio.append(np.asarray(samples, dtype=np.float32))
        self._samples += len(samples)

    def audio(self) -> np.ndarray:
        """The head window: the buffer's first 30 s."""
        out, need = [], self.max_samples
        for chunk in self._audio:
            if need <= 0:
                break
            out.append(chunk[:need])
            need -= len(out[-1])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def clear(self) -> None:
        self.pieces, self._audio, self._samples = [], [], 0

    def settle(self, segments: list[Segment], *, last_window: bool = False) -> list[tuple[float, float, str]]:
        """The decoded window's segments in stream time; drops the audio they settled.

        As faster-whisper's seek: a last segment the window cut before its
        closing timestamp is not kept but heard again at the head of the next
        window; otherwise the next window starts where the last segment ended.
        A window with no segment (silence, noise) is dropped whole.

        The audio's last window (`last_window`) ends with its closed segment,
        as faster-whisper's does: what follows it is the VAD's padding and a
        word's tail, and decoding that second or two alone, with the sentence
        before it as the prompt, made Whisper repeat the sentence (seen on a
        CPU whose rounding differs from this one's, tests/asr/test_cues.py).
        """
        window = min(self._samples, self.max_samples) / SAMPLE_RATE
        seek = window
        if segments:
            last = segments[-1]
            if not last.closed and len(segments) > 1 and last.start >= MIN_SEEK_S:
                segments, seek = segments[:-1], last.start
            elif last.closed and MIN_SEEK_S <= last.end < window and not (last_window and self._samples <= self.max_samples):
                seek = last.end
        spans = self.stream_segments(segments)
        self._drop(int(round(seek * SAMPLE_RATE)))
        return spans

    def _drop(self, samples: int) -> None:
        """Drop the buffer's first `samples`, splitting the piece they end in."""
        pieces, audio = self.pieces, self._audio
        self.clear()
        for piece, chunk in zip(pieces, audio):
            begin = int(round(piece.offset * SAMPLE_RATE))
            cut = samples - begin
            if cut >= len(chunk):
                continue
            if cut > 0:
                self.add(chunk[cut:], piece.start + cut / SAMPLE_RATE)
            else:
                self.add(chunk, piece.start)

    def to_stream(self, t: float, *, end: bool = False) -> float:
        """Stream time of buffer time `t`. An end that falls exactly on a seam
        belongs to the piece before it (the words end there, not after the gap)."""
        if not self.pieces:
            raise ValueError("empty window")
        offsets = [p.offset for p in self.pieces]
        i = (bisect.bisect_left(offsets, t) if end else bisect.bisect_right(offsets, t)) - 1
        piece = self.pieces[max(i, 0)]
        return piece.start + min(max(t - piece.offset, 0.0), piece.duration)

    def stream_segments(self, segments: list[Segment]) -> list[tuple[float, float, str]]:
        """(start, end, text) in stream time, in order, never overlapping, never running backwards."""
        out: list[tuple[float, float, str]] = []
        floor = self.pieces[0].start if self.pieces else 0.0
        for seg in segments:
            if not seg.text.strip():
                continue
            start = max(self.to_stream(seg.start), floor)
            end = max(self.to_stream(seg.end, end=True), start)
            out.append((start, end, seg.text))
            floor = end
        return out
