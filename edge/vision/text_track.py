"""Repeated on-screen text becomes one span: a lower third read on ten frames is one record, not ten.

OCR reads each sampled frame independently and is not perfectly stable: one
frame gives "MARIA LOPEZ", the next "MARIA L0PEZ", or a line splits in two
when a graphic animates in. A read joins an open span when its normalised
text is close enough (a similarity ratio, so single-character misreads do not
open a new span); a span ends when its text has not been seen for `grace_s`
of stream time (the reads in between may have missed it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from edge.events import OcrTextEvent
from edge.vision.ocr import OcrLine

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
SAME_TEXT_RATIO = 0.8  # "maria lopez" vs "maria l0pez" is 0.91; "fire chief" vs "fire station" is 0.73


def normalise(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


@dataclass
class _Span:
    key: int
    text: str
    norm: str
    start: float
    end: float
    box: tuple[tuple[float, float], ...]
    score: float


class TextTracker:
    """`observe(pts, lines)` after each OCR pass; returns what appeared, was extended or ended."""

    def __init__(self, stream: str, grace_s: float = 10.0) -> None:
        self.stream = stream
        self.grace_s = grace_s
        self._open: list[_Span] = []
        self._next_key = 0

    def observe(self, pts: float, lines: list[OcrLine]) -> list[OcrTextEvent]:
        events: list[OcrTextEvent] = []
        matched: set[int] = set()
        for line in lines:
            norm = normalise(line.text)
            if not norm:
                continue
            span = self._match(norm, matched)
            if span is None:
                span = _Span(self._next_key, line.text, norm, pts, pts,
                             tuple((float(x), float(y)) for x, y in line.box), line.score)
                self._next_key += 1
                self._open.append(span)
                events.append(self._event("appeared", span))
            elif pts > span.end:
                span.end = pts
                events.append(self._event("extended", span))
            matched.add(span.key)
        for span in list(self._open):
            if span.key not in matched and pts - span.end > self.grace_s:
                self._open.remove(span)
                events.append(self._event("ended", span))
        return events

    def close(self) -> list[OcrTextEvent]:
        """The stream ended: every open span ends where it was last seen."""
        events = [self._event("ended", s) for s in self._open]
        self._open.clear()
        return events

    def _match(self, norm: str, taken: set[int]) -> _Span | None:
        best, best_ratio = None, SAME_TEXT_RATIO
        for span in self._open:
            if span.key in taken:
                continue
            if span.norm == norm:
                return span
            ratio = SequenceMatcher(None, span.norm, norm, autojunk=False).ratio()
            if ratio >= best_ratio:
                best, best_ratio = span, ratio
        return best

    def _event(self, change: str, span: _Span) -> OcrTextEvent:
        return OcrTextEvent(change, self.stream, span.key, span.text, span.start, span.end, span.box,  # type: ignore[arg-type]
                            span.score)
