"""Caption files (WebVTT, SRT) from final caption events."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

from edge.events import CaptionEvent

LINE_CHARS = 42  # broadcast subtitle guidelines: about 42 characters per line
CUE_CHARS = 2 * LINE_CHARS  # two lines per cue
MAX_CUE_S = 7.0
MAX_GAP_S = 1.0
MIN_CUE_S = 0.5
_NO_SPACE_BEFORE = (",", ".", ";", ":", "!", "?", "'", "%", ")")


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    text: str


def join_text(left: str, right: str) -> str:
    """Join two caption texts the way they were spoken: no space before punctuation."""
    if not left:
        return right
    if not right:
        return left
    return left + right if right.startswith(_NO_SPACE_BEFORE) else f"{left} {right}"


def cues(events: Iterable[CaptionEvent]) -> list[Cue]:
    """Finals grouped into readable cues (a sentence, at most two lines and 7 s),
    with monotonic, non-overlapping times."""
    groups: list[list[CaptionEvent]] = []
    for ev in events:
        if ev.type != "final" or not ev.text.strip():
            continue
        cur = groups[-1] if groups else None
        if cur and _fits(cur, ev):
            cur.append(ev)
        else:
            groups.append([ev])
    out: list[Cue] = []
    for group in groups:
        text = ""
        for ev in group:
            text = join_text(text, ev.text.strip())
        start = max(group[0].start, out[-1].end if out else 0.0)
        end = max(group[-1].end, start + MIN_CUE_S)
        out.append(Cue(start, end, "\n".join(textwrap.wrap(text, LINE_CHARS))))
    return out


def _fits(group: list[CaptionEvent], ev: CaptionEvent) -> bool:
    text = " ".join(e.text for e in group)
    return (
        not text.rstrip().endswith((".", "?", "!"))
        and ev.start - group[-1].end <= MAX_GAP_S
        and ev.end - group[0].start <= MAX_CUE_S
        and len(text) + 1 + len(ev.text) <= CUE_CHARS
    )


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def vtt_escape(text: str) -> str:
    """Cue text per the WebVTT spec: '&' and '<' are markup, so escape them (and '>' so '-->' cannot
    appear); blank lines would end the cue, so collapse them."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(line for line in text.splitlines() if line.strip())


def to_webvtt(events: Iterable[CaptionEvent]) -> str:
    parts = ["WEBVTT", ""]
    for i, cue in enumerate(cues(events), 1):
        parts += [str(i), f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}", vtt_escape(cue.text), ""]
    return "\n".join(parts)


def to_srt(events: Iterable[CaptionEvent]) -> str:
    parts: list[str] = []
    for i, cue in enumerate(cues(events), 1):
        parts += [str(i), f"{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}", cue.text, ""]
    return "\n".join(parts)
