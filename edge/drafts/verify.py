"""Verify every sentence of a draft against its sources; remove and list what fails.

A sentence stays only if all of these hold:
- every quoted span ("...", “...”) occurs verbatim in the sources (case, spacing and
  punctuation aside: captions carry no reliable punctuation);
- every number in it, digits or words ("thirty" = "30"), has the same value somewhere in the sources;
- every name in it occurs in the sources, and so does every weekday, month, year,
  clock time and relative time ("yesterday");
- it does not speak in the first person outside a quote (the box cannot say who "I" is);
- it is supported by one source passage (a sentence with its neighbours): at least
  SUPPORT_THRESHOLD of its content words (lightly stemmed) occur in that passage.

Lexical support is chosen over embeddings on purpose: a small model's typical
error is a changed number or name inside an otherwise faithful sentence, which an
embedding scores as similar; the number, name and quote checks catch those,
and the word overlap catches sentences about something no one said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edge.drafts.extract import Sentence, content_words, names_in, sentences_of, times_in, words, Segment
from edge.drafts.numbers import numbers_in

SUPPORT_THRESHOLD = 0.6  # share of a sentence's content words found in its best source passage
PASSAGE = 1  # neighbouring source sentences on each side that form one passage
_QUOTE = re.compile(r"[\"“”]([^\"“”]{2,}?)[\"“”]")
_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|i'll|i'd|me|my|mine|we|we're|we've|our|ours|us)\b")


def normalise(text: str) -> str:
    """Lower case, words only: how quotes are compared (captions' punctuation is the recogniser's guess)."""
    return " ".join(words(text))


@dataclass(frozen=True)
class Support:
    score: float
    seqs: tuple[int, ...]
    run: str
    stream: str
    start: float
    end: float
    wall_start: float
    wall_end: float

    def to_json(self) -> dict:
        return {"score": round(self.score, 3), "seqs": list(self.seqs), "run": self.run, "stream": self.stream,
                "start": round(self.start, 3), "end": round(self.end, 3),
                "wall_start": round(self.wall_start, 3), "wall_end": round(self.wall_end, 3)}


@dataclass(frozen=True)
class Checked:
    text: str
    role: str  # headline, body, quote, fact
    support: Support | None
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict:
        out = {"text": self.text, "role": self.role}
        if self.support is not None:
            out["support"] = self.support.to_json()
        if self.reasons:
            out["reasons"] = list(self.reasons)
        return out


class Sources:
    """The source text in the forms the checks need, built once per draft."""

    def __init__(self, segments: list[Segment]) -> None:
        self.sentences: list[Sentence] = sentences_of(segments)
        joined = " ".join(s.text for s in self.sentences)
        self.normalised = " " + normalise(joined) + " "
        self.values = {n.value for n in numbers_in(joined)}
        self.words = set(words(joined))
        self.times = set(times_in(joined))
        self.passages: list[tuple[set[str], list[Sentence]]] = []
        for i in range(len(self.sentences)):
            group = self.sentences[max(0, i - PASSAGE): i + PASSAGE + 1]
            self.passages.append(({w for s in group for w in content_words(s.text)}, group))

    def contains(self, phrase: str) -> bool:
        n = normalise(phrase)
        return bool(n) and f" {n} " in self.normalised

    def best_support(self, text: str) -> Support | None:
        wanted = content_words(text)
        if not wanted or not self.passages:
            return None
        best, best_group = -1.0, None
        for vocab, group in self.passages:
            score = sum(1 for w in wanted if w in vocab) / len(wanted)
            if score > best:
                best, best_group = score, group
        assert best_group is not None
        # Cite only the sentences of the passage that share words with the claim.
        cited = [s for s in best_group if set(content_words(s.text)) & set(wanted)] or best_group
        # The event's name and place are a source of words, not of a time: cite captions when there are any.
        cited = [s for s in cited if s.run != "event"] or cited
        return Support(best, tuple(sorted({q for s in cited for q in s.seqs})), cited[0].run, cited[0].stream,
                       min(s.start for s in cited), max(s.end for s in cited),
                       min(s.wall_start for s in cited), max(s.wall_end for s in cited))


def check(text: str, sources: Sources, *, role: str = "body") -> Checked:
    reasons: list[str] = []
    for quoted in _QUOTE.findall(text):
        if not sources.contains(quoted):
            reasons.append(f"quote not verbatim in the sources: \u201c{quoted.strip()[:80]}\u201d")
    outside_quotes = _QUOTE.sub(" ", text)
    for n in numbers_in(text):
        if n.value not in sources.values:
            reasons.append(f"number not in the sources: {n.text}")
    for name in names_in(text):
        if name.startswith("^"):
            word = name[1:]
            if word.lower() not in sources.words:
                reasons.append(f"name not in the sources: {word}")
        elif not sources.contains(name):
            reasons.append(f"name not in the sources: {name}")
    for t in times_in(text):
        if t not in sources.times:
            reasons.append(f"time or date not in the sources: {t}")
    if _FIRST_PERSON.search(outside_quotes.lower()):
        reasons.append("first person outside a quote (whose words are these?)")
    support = sources.best_support(text)
    if support is None:
        reasons.append("no content words to check")
    elif support.score < SUPPORT_THRESHOLD:
        reasons.append(f"not supported by any source passage (best word overlap {support.score:.0%}, "
                       f"needs {SUPPORT_THRESHOLD:.0%})")
    return Checked(text, role, support, tuple(dict.fromkeys(reasons)))


@dataclass
class Verdict:
    kept: list[Checked] = field(default_factory=list)
    removed: list[Checked] = field(default_factory=list)

    @property
    def accepted_share(self) -> float:
        total = len(self.kept) + len(self.removed)
        return len(self.kept) / total if total else 0.0


def verify(items: list[tuple[str, str]], sources: Sources) -> Verdict:
    """Check (role, text) items; the ones that fail are removed and listed with why."""
    verdict = Verdict()
    for role, text in items:
        c = check(text, sources, role=role)
        (verdict.kept if c.ok else verdict.removed).append(c)
    return verdict
