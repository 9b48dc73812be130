"""Caption text and caption files (WebVTT, SRT) from final caption events.

How finals become cues is one rule, in cues.py; how caption texts are joined
(punctuation sticks to the word before it) is one function, `join_text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from edge.asr.cues import LINE_CHARS, MAX_CUE_S, Cue, build_cues, is_punctuation, join_words
from edge.events import CaptionEvent

__all__ = ["LINE_CHARS", "MAX_CUE_S", "Cue", "PunctuationJoin", "cues", "join_text", "to_srt", "to_webvtt",
           "vtt_escape"]

join_text = join_words
cues = build_cues


class PunctuationJoin:
    """Keeps punctuation with the words it follows in the live events of one or more streams.

    A final that is only punctuation (a lone "," committed on its own) is
    never sent alone: it is held and leads the stream's next final, whose
    text then starts with it (", shared the prize"), so every consumer that
    joins with `join_text` reads "pounds, shared". Partials are tidied the
    same way. What is still held when a stream ends is punctuation only, and
    is dropped.
    """

    def __init__(self) -> None:
        self._held: dict[str, CaptionEvent] = {}

    def feed(self, ev: CaptionEvent) -> Iterator[CaptionEvent]:
        text = tidy(ev.text)
        if ev.type != "final":
            if text != ev.text:
                ev = replace(ev, text=text)
            yield ev
            return
        held = self._held.pop(ev.stream, None)
        if held is not None:
            text = tidy(held.text + (" " if not is_punctuation(text) else "") + text)
            ev = replace(ev, text=text, start=min(held.start, ev.start))
        elif text != ev.text:
            ev = replace(ev, text=text)
        if _only_punctuation(text):
            self._held[ev.stream] = ev
            return
        yield ev

    def end(self, stream: str) -> None:
        self._held.pop(stream, None)


def _only_punctuation(text: str) -> bool:
    return bool(text.strip()) and not any(c.isalnum() for c in text)


def tidy(text: str) -> str:
    """One caption text with no space before punctuation: "pounds , shared" -> "pounds, shared"."""
    out = ""
    for token in text.split():
        out = join_text(out, token)
    return out


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
    for i, cue in enumerate(build_cues(events), 1):
        parts += [str(i), f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}", vtt_escape(cue.text), ""]
    return "\n".join(parts)


def to_srt(events: Iterable[CaptionEvent]) -> str:
    parts: list[str] = []
    for i, cue in enumerate(build_cues(events), 1):
        parts += [str(i), f"{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}", cue.text, ""]
    return "\n".join(parts)
