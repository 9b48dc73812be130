"""The one rule that turns final captions into caption cues (WebVTT/SRT, stored tracks, `edge transcribe`).

Live finals arrive a few words at a time (LocalAgreement commits), offline
finals one utterance at a time; both must read the same on screen. So the
rule works on words, not on finals:

- a cue is a sentence when it fits: at most MAX_LINES lines of LINE_CHARS
  characters (broadcast subtitle guidance: about 42) and MAX_CUE_S seconds;
- a sentence that does not fit is cut where a reader pauses (after a comma,
  at a silence), else near its middle, never leaving fewer than MIN_WORDS
  words on either side when the sentence is long enough to avoid it;
- a tiny cue (under MIN_WORDS words or MIN_CUE_S) joins its neighbour when
  the two fit together, so no one-word cue flashes past;
- a new sentence after a silence longer than MAX_GAP_S never shares a cue;
- times are monotonic and never overlap; a cue lasts at least MIN_CUE_S
  when the next one leaves room.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edge.events import CaptionEvent

LINE_CHARS = 42
MAX_LINES = 2
CUE_CHARS = MAX_LINES * LINE_CHARS
MAX_CUE_S = 7.0
MIN_CUE_S = 1.0  # shorter is hard to read; also the floor for a cue's display time
MIN_WORDS = 3
MAX_GAP_S = 1.5  # a longer silence ends the cue even mid-sentence
SENTENCE_END = (".", "?", "!", "…")
_CLOSERS = "\"')]”’"
# A cue that ends on one of these leaves its phrase hanging ("... two kilometres along"); one that
# starts with one of the second set starts a clause, a natural place for a reader to pause.
WEAK_ENDINGS = frozenset("a an the to of in on at for with from by into and or but than that this his her their "
                         "our my your its is was were are be been has have had will would not no".split())
CLAUSE_STARTS = frozenset("and but or so because when where which who while whose that if as after before "
                          "until since although though".split())
NO_SPACE_BEFORE = (",", ".", ";", ":", "!", "?", "%", ")", "]", "…", "'s", "n't", "”", "’")


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    text: str  # lines joined by "\n"


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    start: float
    end: float
    gap_before: float  # silence before this word (0 inside a final)

    @property
    def ends_sentence(self) -> bool:
        return self.text.rstrip(_CLOSERS).endswith(SENTENCE_END)

    @property
    def ends_clause(self) -> bool:
        return self.text.rstrip(_CLOSERS).endswith((",", ";", ":", "—", "-"))


def is_punctuation(text: str) -> bool:
    """True for a token that belongs to the word before it ("," "." "'s" ...)."""
    return text.strip().startswith(NO_SPACE_BEFORE)


def join_words(left: str, right: str) -> str:
    """Join two caption texts the way they were spoken: punctuation sticks to the word before it."""
    left, right = left.strip(), right.strip()
    if not left or not right:
        return left or right
    return left + right if is_punctuation(right.split()[0]) else f"{left} {right}"


def build_cues(events: Iterable[CaptionEvent]) -> list[Cue]:
    words = _words(events)
    groups: list[list[_Word]] = []
    for sentence in _sentences(words):
        groups.extend(_split(sentence))
    groups = _merge_tiny(groups)
    return _timed(groups)


# -- words and sentences ------------------------------------------------------------


def _words(events: Iterable[CaptionEvent]) -> list[_Word]:
    """Finals as words, each final's time shared out by character count; punctuation joins its word."""
    words: list[_Word] = []
    last_end = None
    for ev in events:
        if ev.type != "final" or not ev.text.strip():
            continue
        tokens = ev.text.split()
        total = sum(len(t) for t in tokens) or 1
        t, span = ev.start, max(0.0, ev.end - ev.start)
        gap = 0.0 if last_end is None else max(0.0, ev.start - last_end)
        for i, token in enumerate(tokens):
            end = t + span * len(token) / total
            if words and is_punctuation(token):
                prev = words[-1]
                words[-1] = _Word(prev.text + token, prev.start, max(prev.end, end), prev.gap_before)
            else:
                words.append(_Word(token, t, end, gap if i == 0 else 0.0))
            t = end
        last_end = ev.end if last_end is None else max(last_end, ev.end)
    return words


def _sentences(words: Sequence[_Word]) -> list[list[_Word]]:
    out: list[list[_Word]] = []
    current: list[_Word] = []
    for w in words:
        if current and w.gap_before > MAX_GAP_S:
            out.append(current)
            current = []
        current.append(w)
        if w.ends_sentence:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


# -- fitting ----------------------------------------------------------------------------


def _text(words: Sequence[_Word]) -> str:
    return " ".join(w.text for w in words)


def _fits(words: Sequence[_Word]) -> bool:
    if not words:
        return True
    if words[-1].end - words[0].start > MAX_CUE_S:
        return False
    lines = wrap(_text(words))
    return len(lines) <= MAX_LINES and all(len(line) <= LINE_CHARS for line in lines)


def wrap(text: str) -> list[str]:
    """Lines of at most LINE_CHARS, filled greedily (a word longer than a line stays whole)."""
    return _greedy(text.split(), LINE_CHARS)


def _greedy(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    if line:
        lines.append(line)
    return lines


def _split(words: list[_Word]) -> list[list[_Word]]:
    """A sentence as the fewest cues that fit; among those, cuts after commas and at silences,
    no pieces of fewer than MIN_WORDS words, and cues of similar length."""
    n = len(words)
    if _fits(words) or n < 2:
        return [words]
    short_allowed = n < 2 * MIN_WORDS
    longest = max(2, CUE_CHARS // 2)  # no cue of words holds more words than this
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n  # (cost, start of the last cue)
    for end in range(1, n + 1):
        for begin in range(max(0, end - longest), end):
            if best[begin][0] == float("inf"):
                continue
            piece = words[begin:end]
            if len(piece) > 1 and not _fits(piece):
                continue
            cost = best[begin][0] + _piece_cost(piece, last=end == n, short_allowed=short_allowed,
                                                 next_word=words[end] if end < n else None)
            if cost < best[end][0]:
                best[end] = (cost, begin)
    pieces: list[list[_Word]] = []
    end = n
    while end > 0:
        begin = best[end][1]
        pieces.append(words[begin:end])
        end = begin
    return pieces[::-1]


def _piece_cost(piece: Sequence[_Word], *, last: bool, short_allowed: bool, next_word: _Word | None) -> float:
    cost = 10.0  # every extra cue costs more than any choice of where to cut
    if len(piece) < MIN_WORDS and not short_allowed:
        cost += 5.0
    if not last:
        if not piece[-1].ends_clause:
            cost += 1.0  # a cut mid-phrase reads worse than one after a comma
            if _bare(piece[-1].text) in WEAK_ENDINGS:
                cost += 0.8
        if next_word is not None and next_word.gap_before > 0.3:
            cost -= 0.5  # a silence is a natural cut too
        if next_word is not None and _bare(next_word.text) in CLAUSE_STARTS:
            cost -= 0.3
    lines = wrap(_text(piece))
    if len(lines) > 1 and len(lines[-1].split()) == 1:
        cost += 0.4  # a lone word on the second line reads like a cue of its own
    cost += (1.0 - min(1.0, len(_text(piece)) / CUE_CHARS)) ** 2  # prefer evenly filled cues
    return cost


def _bare(word: str) -> str:
    return word.lower().strip(".,;:!?\"'()[]…”’")


def _tiny(words: Sequence[_Word]) -> bool:
    return len(words) < MIN_WORDS or words[-1].end - words[0].start < MIN_CUE_S


def _merge_tiny(groups: list[list[_Word]]) -> list[list[_Word]]:
    out: list[list[_Word]] = []
    for group in groups:
        if out and (_tiny(group) or _tiny(out[-1])) and group[0].gap_before <= MAX_GAP_S and _fits(out[-1] + group):
            out[-1] = out[-1] + group
        else:
            out.append(group)
    return out


def _timed(groups: list[list[_Word]]) -> list[Cue]:
    cues: list[Cue] = []
    for i, group in enumerate(groups):
        start = max(group[0].start, cues[-1].end if cues else 0.0)
        end = max(group[-1].end, start + MIN_CUE_S)
        if i + 1 < len(groups):
            # Held on screen for MIN_CUE_S only while the next cue has not started.
            end = max(min(end, groups[i + 1][0].start), group[-1].end, start + 0.001)
        cues.append(Cue(start, end, "\n".join(wrap(_text(group)))))
    return cues
