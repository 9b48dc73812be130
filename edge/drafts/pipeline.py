"""Segments in, a verified draft out: extract, generate, verify, fall back.

    draft_from_segments(segments, event=..., model=...) -> Draft

Nothing the model wrote reaches the draft unverified: sentences that fail are
listed in `removed` with the reasons. When too few of the model's sentences
survive (or there is no usable model), the body is extractive: ranked source
sentences as reported speech and direct quotes, verified the same way.
Long inputs are bounded: the model sees at most `max_prompt_chars` of source
chosen window by window (map: the best sentences of each window; reduce: one
model call over them), and verification reads at most MAX_SEGMENTS segments.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from edge.backends.base import TextGenerator
from edge.drafts.extract import STOPWORDS, Facts, Segment, Sentence, content_words, extract, words
from edge.drafts.generate import Generated, generate
from edge.drafts.numbers import numbers_in
from edge.drafts.verify import Checked, Sources, check
from edge.errors import EdgeError

log = logging.getLogger(__name__)

MIN_MODEL_SENTENCES = 2  # fewer verified model sentences than this: the body is extractive
MAX_QUOTES = 3
MAX_FACTS = 6
EXTRACTIVE_SENTENCES = 3
MAX_SEGMENTS = 20_000  # about five hours of caption finals: the most one draft reads
WINDOW_CHARS = 4000  # map step: source text per window
PER_WINDOW = 2  # best sentences each window contributes to the model's prompt
# Share of words that are English function words below which the text is not English (English prose: ~40%).
ENGLISH_MIN_SHARE = 0.15


class DraftError(EdgeError):
    """No draft can be made from these inputs; the message says why and what to do."""


@dataclass(frozen=True)
class EventInfo:
    name: str | None = None
    place: str | None = None

    def segment(self) -> Segment | None:
        """Event metadata is a source too: its name and place may appear in the draft."""
        parts = [p for p in (self.name, self.place) if p]
        if not parts:
            return None
        return Segment(0, "event", "event", 0.0, 0.0, 0.0, 0.0, ". ".join(parts) + ".", type="event")


@dataclass
class Draft:
    headline: Checked
    body: list[Checked]
    quotes: list[Checked]
    facts: list[Checked]
    removed: list[Checked]
    mode: str  # "model" or "extractive"
    fallback_reason: str | None
    language: str
    event: EventInfo
    model: dict[str, Any] | None
    sources: dict[str, Any]
    model_sentences: int = 0  # sentences the model wrote (headline included)
    model_accepted: int = 0  # of those, how many the verifier kept
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def sentences(self) -> list[Checked]:
        return [self.headline, *self.body, *self.quotes, *self.facts]


def english_share(text: str) -> float:
    ws = words(text)
    return sum(1 for w in ws if w in STOPWORDS) / len(ws) if ws else 0.0


def _windows(sentences: list[Sentence]) -> list[list[Sentence]]:
    out, cur, size = [], [], 0
    for s in sentences:
        if cur and size + len(s.text) > WINDOW_CHARS:
            out.append(cur)
            cur, size = [], 0
        cur.append(s)
        size += len(s.text) + 1
    if cur:
        out.append(cur)
    return out


def _map_reduce_quotes(facts: Facts) -> list[Sentence]:
    """Quotes ranked so every part of a long event is represented: each window's best first, then the rest."""
    rank = {id(s): i for i, s in enumerate(facts.quotes)}
    firsts: list[Sentence] = []
    for window in _windows(facts.sentences):
        ranked = sorted((s for s in window if id(s) in rank), key=lambda s: rank[id(s)])
        firsts.extend(ranked[:PER_WINDOW])
    chosen = {id(s) for s in firsts}
    return sorted(firsts, key=lambda s: rank[id(s)]) + [s for s in facts.quotes if id(s) not in chosen]


def _lower_first(text: str, names: list[str]) -> str:
    first = text.split(" ", 1)[0]
    if first == "I" or any(n.split()[0] == first for n in names):
        return text
    return text[:1].lower() + text[1:]


_FIRST_PERSON = re.compile(r"\b(i|i'm|i've|me|my|we|we're|our|us)\b", re.IGNORECASE)


_ATTRIBUTED = re.compile(r"\b(said|says|told|announced|confirmed|according to)\b", re.IGNORECASE)


def _as_speech(s: Sentence, names: list[str]) -> str:
    """A source sentence as attributed speech, its words untouched."""
    text = s.text.strip()
    if not text.endswith((".", "!", "?")):
        text += "."
    if _ATTRIBUTED.search(text) and not _FIRST_PERSON.search(text):
        return text  # it names its own speaker already
    if _FIRST_PERSON.search(text) or text.endswith(("?", "!")):
        return f"\u201c{text[:-1]},\u201d a speaker said." if text.endswith(".") else f"\u201c{text}\u201d a speaker said."
    return f"A speaker said that {_lower_first(text, names)}"


def _headline_from(s: Sentence) -> str:
    text = s.text.strip().rstrip(".!?")
    if len(text.split()) > 16 and "," in text:
        text = text.split(",")[0]
    return " ".join(text.split()[:16])


def _sources_info(segments: list[Segment]) -> dict[str, Any]:
    real = [s for s in segments if s.type != "event"]
    runs = sorted({s.run for s in real})
    return {"runs": runs, "streams": sorted({s.stream for s in real}), "segments": len(real),
            "first_seq": min((s.seq for s in real), default=None), "last_seq": max((s.seq for s in real), default=None),
            "wall_start": min((s.wall_start for s in real), default=None),
            "wall_end": max((s.wall_end for s in real), default=None)}


def draft_from_segments(segments: list[Segment], *, event: EventInfo = EventInfo(),
                        model: TextGenerator | None = None, model_error: str | None = None,
                        marked_seqs: frozenset[int] = frozenset(), max_new_tokens: int = 160,
                        max_prompt_chars: int = 2400, scheduler: object | None = None,
                        deadline_s: float | None = 120.0, model_info: dict[str, Any] | None = None,
                        cancel: Any = None) -> Draft:
    t0 = time.monotonic()
    if len(segments) > MAX_SEGMENTS:
        segments = segments[-MAX_SEGMENTS:]
    spoken = [s for s in segments if s.text.strip()]
    if not spoken:
        raise DraftError("no speech to draft from: the transcript has no caption text",
                         "check that the stream had speech (edge transcribe FILE shows what the box heard)")
    facts = extract(spoken, marked_seqs=marked_seqs)
    if not facts.has_speech:
        raise DraftError(f"nothing to draft from: the {len(spoken)} caption(s) hold only filler words "
                         "(um, uh, okay...)", "draft again once the stream has real speech")
    ev = event.segment()
    sources = Sources(spoken + ([ev] if ev else []))
    joined = " ".join(s.text for s in facts.sentences)
    language = "en"
    warnings: list[str] = []
    reason: str | None = None
    generated: Generated | None = None
    if english_share(joined) < ENGLISH_MIN_SHARE:
        language = "und"
        reason = ("the speech does not read as English (the model writes English only): the draft holds the "
                  "speakers' own words")
    elif model is None:
        reason = f"no language model: {model_error or 'none configured'}"
    else:
        facts.quotes = _map_reduce_quotes(facts)
        try:
            generated = generate(model, facts, event=event.name, place=event.place, max_new_tokens=max_new_tokens,
                                 max_prompt_chars=max_prompt_chars, scheduler=scheduler, deadline_s=deadline_s,
                                 cancel=cancel)
        except Exception as exc:  # untrusted engine: its failure costs the model's text, never the draft
            log.warning("draft model failed: %s", exc)
            reason = f"the model failed: {exc}"
        if generated is not None and generated.stopped:
            warnings.append(f"generation stopped early: {generated.stopped}")

    removed: list[Checked] = []
    model_sentences = model_accepted = 0
    headline: Checked | None = None
    body: list[Checked] = []
    if generated is not None:
        items = ([("headline", generated.headline)] if generated.headline else []) + [("body", t) for t in generated.sentences]
        seen: set[str] = set()
        for role, text in items:
            key = " ".join(content_words(text))
            if key in seen:
                removed.append(Checked(text, role, None, ("repeats an earlier sentence",)))
                model_sentences += 1
                continue
            seen.add(key)
            c = check(text, sources, role=role)
            model_sentences += 1
            if c.ok:
                model_accepted += 1
                if role == "headline":
                    headline = c
                else:
                    body.append(c)
            else:
                removed.append(c)
        if len(body) < MIN_MODEL_SENTENCES:
            reason = (f"only {len(body)} of the model's {len(generated.sentences)} sentences passed verification "
                      f"(needs {MIN_MODEL_SENTENCES})")
            # Sentences that passed are dropped with the rest (a story of one model sentence and extracts
            # reads as neither), and listed with why.
            removed.extend(Checked(c.text, c.role, c.support, ("passed, but the body is extractive: too few of the "
                                                                "model's sentences passed",)) for c in body)
            body = []
    mode = "model" if body else "extractive"
    ranked = [s for s in facts.quotes if not s.text.rstrip().endswith("?")]
    if mode == "extractive":
        order = {id(s): i for i, s in enumerate(facts.sentences)}
        chosen = sorted(ranked[:EXTRACTIVE_SENTENCES], key=lambda s: order[id(s)])
        for s in chosen:
            c = check(_as_speech(s, facts.names), sources, role="body")
            (body if c.ok else removed).append(c)
    if headline is None:
        # A short third-person source sentence makes the best headline; a longer one is cut at a comma.
        candidates = [s for s in ranked + facts.sentences if not _FIRST_PERSON.search(s.text)]
        for s in sorted(candidates, key=lambda s: len(s.text.split()) > 16):
            c = check(_headline_from(s), sources, role="headline")
            if c.ok:
                headline = c
                break
    if headline is None:
        title = event.name or "Draft from the event's speech"
        headline = Checked(title, "headline", None, ())
        warnings.append("no source sentence made a headline: the event name stands in")
    quotes = []
    for s in ranked[:MAX_QUOTES]:
        c = check(f"\u201c{s.text.strip()}\u201d", sources, role="quote")
        if c.ok:
            quotes.append(c)
    facts_out: list[Checked] = []
    seen_values: set[tuple[float, str]] = set()
    for n, s in facts.numbers:
        if len(facts_out) >= MAX_FACTS or len(seen_values) >= 4 * MAX_FACTS:
            break
        unit = "" if n.unit in STOPWORDS else n.unit
        if not unit or (n.value, unit) in seen_values:
            continue  # a bare number says nothing on its own ("update 5")
        seen_values.add((n.value, unit))
        c = check(f"{n.text} {unit}".strip(), sources, role="fact")
        if c.ok:
            facts_out.append(c)
    if not body:
        warnings.append("no sentence passed verification: the draft has only its headline")
    info = dict(model_info or {})
    if model is not None:
        info.setdefault("name", getattr(model, "model_name", "unknown"))
        info.setdefault("quantization", getattr(model, "quantization", "unknown"))
    if generated is not None:
        info.update(tokens=generated.tokens, seconds=round(generated.seconds, 3), raw=generated.raw[:4000],
                    prompt_chars=generated.prompt_chars)
    return Draft(headline, body, quotes, facts_out, removed, mode, reason if mode == "extractive" else None,
                 language, event, info or None, _sources_info(spoken), model_sentences, model_accepted,
                 time.monotonic() - t0, warnings)
