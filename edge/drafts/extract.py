"""Extract first: the facts a draft may use, each tied to the source segments it came from.

Sources are segments of what the box captured (caption finals, later OCR lines
and sensor alerts), each with its record seq, run and times. From them:
quotable sentences (with their time), numbers with their units, names,
places and times of day or dates. Captions split sentences across finals, so
sentences are cut from the joined text of a run and map back to every segment
they overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edge.drafts.numbers import Number, numbers_in
from edge.drafts.numbers import is_word_number as _is_number_word

# Speech that carries no content: a transcript of only these is "no speech" for a draft.
FILLER = frozenset("uh um er ah eh hmm mm mhm oh okay ok so like yeah yes no well right you know i mean".split())
STOPWORDS = frozenset("""a an the and or but if then so of in on at to for from by with about as into over after
before under between is are was were be been being am do does did have has had will would shall should can could
may might must this that these those it its it's there here they them their we our us you your he him his she her
i me my not no yes also just very more most some any all each every which who whom what when where why how than
too up down out off again once said says say told tell according""".split())
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = ("january february march april may june july august september october november december").split()
# Relative times invent a date as surely as a wrong weekday does: a draft may use them only when said.
RELATIVE_TIMES = ("yesterday", "today", "tomorrow", "tonight", "last night", "this morning", "this afternoon",
                  "this evening", "last week", "next week", "last month", "next month", "last year", "next year")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”']))\s+(?=\S)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d,.:]*")
_CAP_SEQ = re.compile(r"\b([A-ZÀ-Ý][\w'’-]+(?:\s+(?:of|de|van|von|the|and)?\s*[A-ZÀ-Ý][\w'’-]+)*)")
_NOT_NAMES = frozenset(w.capitalize() for w in STOPWORDS | FILLER | set(WEEKDAYS) | set(MONTHS)) | {"I", "I'm", "I've", "I'll", "I'd", "Mr", "Mrs", "Ms", "Dr"}
_PLACE_PREPS = frozenset({"in", "at", "near", "from", "to", "across", "outside"})


@dataclass(frozen=True, slots=True)
class Segment:
    """One source record a draft may cite."""

    seq: int
    run: str
    stream: str
    start: float  # stream seconds of the run
    end: float
    wall_start: float
    wall_end: float
    text: str
    type: str = "caption"


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    seqs: tuple[int, ...]
    run: str
    stream: str
    start: float
    end: float
    wall_start: float
    wall_end: float


@dataclass
class Facts:
    sentences: list[Sentence] = field(default_factory=list)
    quotes: list[Sentence] = field(default_factory=list)  # the quotable ones, best first
    numbers: list[tuple[Number, Sentence]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)

    @property
    def has_speech(self) -> bool:
        return any(content_words(s.text) for s in self.sentences)


def words(text: str) -> list[str]:
    return [w.lower().strip("'’") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A light stemmer: 'reached'/'reaches'/'reaching' meet at 'reach' (enough for lexical support)."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and w not in FILLER and len(w) > 1]


def is_filler_only(text: str) -> bool:
    return not content_words(text)


def sentences_of(segments: list[Segment]) -> list[Sentence]:
    """Sentences cut from each run's joined captions, each mapped to the segments it overlaps."""
    out: list[Sentence] = []
    by_run: dict[str, list[Segment]] = {}
    for s in segments:
        by_run.setdefault(s.run, []).append(s)
    for run_segments in by_run.values():
        run_segments.sort(key=lambda s: (s.start, s.seq))
        text, spans = "", []
        for s in run_segments:
            piece = " ".join(s.text.split())
            if not piece:
                continue
            if text:
                text += " "
            spans.append((len(text), len(text) + len(piece), s))
            text += piece
        pos = first = 0
        for part in _SENTENCE_END.split(text):
            start = text.find(part, pos)
            end = start + len(part)
            pos = end
            part = part.strip()
            if not part:
                continue
            # Spans are in text order: skip those that end before this sentence (linear over a long run).
            while first < len(spans) and spans[first][1] <= start:
                first += 1
            hit = []
            for a, b, s in spans[first:]:
                if a >= end:
                    break
                hit.append(s)
            if not hit:
                continue
            out.append(Sentence(part, tuple(s.seq for s in hit), hit[0].run, hit[0].stream, hit[0].start,
                                hit[-1].end, hit[0].wall_start, hit[-1].wall_end))
    out.sort(key=lambda s: (s.wall_start, s.seqs))
    return out


def names_in(text: str) -> list[str]:
    """Capitalised word sequences that are not ordinary words at the start of a sentence."""
    found = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip().lstrip("\"“'‘(")
        for m in _CAP_SEQ.finditer(sentence):
            name = m.group(1).strip()
            tokens = name.split()
            while tokens and tokens[0] in _NOT_NAMES:
                tokens = tokens[1:]
            while tokens and tokens[-1] in _NOT_NAMES:
                tokens = tokens[:-1]
            if not tokens:
                continue
            name = " ".join(tokens)
            at_start = m.start() == 0 and name == m.group(1).strip()
            if len(tokens) == 1 and _is_number_word(tokens[0].lower()):
                continue  # "Forty homes...": a number, which the number check judges
            if at_start and len(tokens) == 1:
                # "Residents said...": a capital from the sentence start only; the verifier judges these
                # by whether the word occurs at all in the sources (see verify.py).
                found.append("^" + name)
                continue
            found.append(name)
    return found


def places_in(text: str) -> list[str]:
    out = []
    for m in re.finditer(r"\b(?:in|at|near|from|across|outside)\s+((?:the\s+)?[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*)", text):
        place = m.group(1)
        if place.split()[-1] not in _NOT_NAMES:
            out.append(place)
    return out


def times_in(text: str) -> list[str]:
    low = text.lower()
    found = [w for w in WEEKDAYS + MONTHS if re.search(rf"\b{w}\b", low) and not (w == "may" and not re.search(r"\bMay\b", text))]
    found += [t for t in RELATIVE_TIMES if re.search(rf"\b{t}\b", low)]
    found += re.findall(r"\b\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d{2}\b|\b(?:noon|midnight)\b", low)
    found += re.findall(r"\b(?:1[89]|20)\d{2}\b", text)  # years
    return found


def _quotable(s: Sentence) -> float:
    """How good a direct quote this sentence makes (0: not one)."""
    n = len(words(s.text))
    content = content_words(s.text)
    if n < 5 or n > 45 or len(content) < 3:
        return 0.0
    score = len(set(content)) / n
    score += 0.5 * len(numbers_in(s.text)) + 0.3 * len([x for x in names_in(s.text) if not x.startswith("^")])
    if re.search(r"\b(we|our|i|my)\b", s.text.lower()):
        score += 0.3  # first person: what someone at the event said, in their words
    return score


def extract(segments: list[Segment], *, marked_seqs: frozenset[int] = frozenset()) -> Facts:
    """Every fact a draft may use. Segments a crew marked as quotes rank first."""
    facts = Facts(sentences=sentences_of([s for s in segments if s.text.strip()]))
    scored = [(_quotable(s) + (2.0 if marked_seqs.intersection(s.seqs) else 0.0), s) for s in facts.sentences]
    facts.quotes = [s for score, s in sorted(scored, key=lambda x: -x[0]) if score > 0]
    seen_names, seen_places, seen_times = {}, {}, {}
    for s in facts.sentences:
        facts.numbers.extend((n, s) for n in numbers_in(s.text))
        for name in names_in(s.text):
            if not name.startswith("^"):
                seen_names.setdefault(name.lower(), name)
        for p in places_in(s.text):
            seen_places.setdefault(p.lower(), p)
        for t in times_in(s.text):
            seen_times.setdefault(t, t)
    facts.names = list(seen_names.values())
    facts.places = list(seen_places.values())
    facts.times = list(seen_times.values())
    return facts
