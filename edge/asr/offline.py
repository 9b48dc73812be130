"""Offline windows: whole utterances packed into one Whisper window.

A file is not live, so nothing has to be committed before the next pause. The
VAD's utterances (each with its pre-roll and trailing pause) are laid end to
end, silence between them dropped, until the next would overflow
WINDOW_FILL_S; that window is decoded once, with the text of the windows
before it as context, and its timestamped segments are mapped back to stream
time. Several utterances in one window are what makes this beat one short
window per utterance: the model hears each word with its neighbours, as it
was trained (measured on the test set, see bench/RESULTS.md).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from edge.asr.whisper import Segment
from edge.events import SAMPLE_RATE

SEAM_SLACK_S = 0.5
# How much utterance audio one window holds (the window itself is always 30 s).
# Tuned on the tuning set (bench/corpus.py TUNE), offline WER: 30 s 15.5%,
# 24 s 13.5%, 20 s 13.5% (faster-whisper 13.9%). Full windows made the model
# skip a whole sentence now and then and stretch its neighbours' timestamps
# over it; 24 s keeps that rare and needs fewer windows than 20 s.
WINDOW_FILL_S = 24.0


@dataclass(frozen=True, slots=True)
class Piece:
    offset: float  # seconds into the window
    start: float  # stream time of its first sample
    duration: float
    carried: bool = False  # already left undecoded by one window


@dataclass
class WindowPacker:
    """Collects utterance audio for one window and maps window time back to stream time."""

    max_samples: int = int(WINDOW_FILL_S * SAMPLE_RATE)
    pieces: list[Piece] = field(default_factory=list)
    _audio: list[np.ndarray] = field(default_factory=list)
    _samples: int = 0

    def __bool__(self) -> bool:
        return bool(self.pieces)

    def fits(self, samples: np.ndarray) -> bool:
        return self._samples + len(samples) <= self.max_samples

    def add(self, samples: np.ndarray, stream_start: float, *, carried: bool = False) -> None:
        if not len(samples):
            return
        if not self.fits(samples):
            raise ValueError("window full: decode it before adding more audio")
        self.pieces.append(Piece(self._samples / SAMPLE_RATE, stream_start, len(samples) / SAMPLE_RATE, carried))
        self._audio.append(np.asarray(samples, dtype=np.float32))
        self._samples += len(samples)

    def audio(self) -> np.ndarray:
        return np.concatenate(self._audio) if self._audio else np.zeros(0, np.float32)

    def clear(self) -> None:
        self.pieces, self._audio, self._samples = [], [], 0

    def settle(self, segments: list[Segment]) -> list[tuple[float, float, str]]:
        """The decoded window's segments in stream time; keeps what must be decoded again.

        Whisper sometimes ends a full window early (seen on both sets: the last
        sentence of a 27.5 s window never transcribed) or stops inside its last
        segment. As in faster-whisper's seek, an unfinished last segment is
        decoded again at the head of the next window, and so is every utterance
        after the last segment, where the model hears it first. Once only, so
        audio the model keeps finding empty cannot hold the stream up.
        """
        keep_from: float | None = None
        if segments:
            last = segments[-1]
            head = self._piece_near(last.start)
            if not last.closed and len(segments) > 1 and head is not None and not head.carried:
                segments, keep_from = segments[:-1], head.offset
            else:
                keep_from = last.end
        spans = self.stream_segments(segments)
        keep: list[tuple[Piece, np.ndarray]] = []
        if keep_from is not None:
            for piece, audio in zip(self.pieces, self._audio):
                if not piece.carried and keep_from <= piece.offset + min(SEAM_SLACK_S, piece.duration / 2):
                    keep.append((piece, audio))
        self.clear()
        for piece, audio in keep:
            self.add(audio, piece.start, carried=True)
        return spans

    def _piece_near(self, t: float) -> Piece | None:
        """The piece that starts at window time `t`, give or take its pre-roll."""
        for piece in self.pieces:
            if abs(piece.offset - t) <= min(SEAM_SLACK_S, piece.duration / 2):
                return piece
        return None

    def to_stream(self, t: float, *, end: bool = False) -> float:
        """Stream time of window time `t`. An end that falls exactly on a seam
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
