"""Caption files (WebVTT, SRT) from final caption events."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from edge.events import CaptionEvent

LINE_CHARS = 42  # broadcast subtitle guidelines: about 42 characters per line
MIN_CUE_S = 0.5


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    text: str


def cues(events: Iterable[CaptionEvent]) -> list[Cue]:
    """Finals as cues with monotonic, non-overlapping times."""
    out: list[Cue] = []
    for ev in events:
        if ev.type != "final" or not ev.text.strip():
            continue
        start = max(ev.start, out[-1].end if out else 0.0)
        end = max(ev.end, start + MIN_CUE_S)
        out.append(Cue(start, end, "\n".join(textwrap.wrap(ev.text.strip(), LINE_CHARS))))
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_webvtt(events: Iterable[CaptionEvent]) -> str:
    parts = ["WEBVTT", ""]
    for i, cue in enumerate(cues(events), 1):
        # "-->" must never appear in cue text; Whisper does not emit it, but be sure.
        text = cue.text.replace("-->", "->")
        parts += [str(i), f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}", text, ""]
    return "\n".join(parts)


def to_srt(events: Iterable[CaptionEvent]) -> str:
    parts: list[str] = []
    for i, cue in enumerate(cues(events), 1):
        parts += [str(i), f"{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}", cue.text, ""]
    return "\n".join(parts)
