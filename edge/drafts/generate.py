"""Let the model write around the extracted facts, inside a constrained prompt and decoding limits.

The model's output is untrusted text: it is parsed into a headline and
sentences here and every one of them goes through verify.py before anyone
sees it. Generation runs at the scheduler's lowest priority and gives the
cores back after every token when more urgent work (a caption) waits.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from edge.backends.base import TextGenerator
from edge.drafts.extract import Facts, Sentence

SYSTEM = ("You are a news agency editor. Rewrite the transcript lines as a short news report in the third person. "
          "Use only facts from the lines. Do not add any name, number, date or place that is not in the lines. "
          "First line: a headline. Then two or three short sentences.")
_PREAMBLE = re.compile(r"^(?:here(?:'s| is)|sure|certainly|of course|rewritten|news report|report)\b[^.:\n]*[:.]\s*",
                       re.IGNORECASE)
_LABEL = re.compile(r"^\s*(?:#+\s*|\*\*)?(?:headline|title|lede|lead|summary|report|body)\s*[:\-–]\s*",
                    re.IGNORECASE)
_ENUM = re.compile(r"^\(?\d{1,2}[.)]\s+")  # "1) ..." or "2. ..." list markers
_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”']))\s+(?=\S)")


@dataclass(frozen=True)
class Generated:
    headline: str | None
    sentences: list[str]
    raw: str
    tokens: int
    seconds: float
    stopped: str | None = None  # why generation stopped early (deadline), if it did
    prompt_chars: int = 0  # source text the model was shown (bounded by max_prompt_chars)


def prompt_lines(facts: Facts, *, limit_chars: int) -> list[Sentence]:
    """The source sentences the model sees: the best quotes first, then in time order, within the limit."""
    chosen: list[Sentence] = []
    used = 0
    for s in facts.quotes:
        if used + len(s.text) > limit_chars:
            continue
        chosen.append(s)
        used += len(s.text) + 1
    return sorted(chosen, key=lambda s: (s.wall_start, s.seqs))


def messages_for(lines: list[Sentence], *, event: str | None, place: str | None) -> list[dict[str, str]]:
    context = "".join(f"Event: {event}\n" if event else "") + (f"Place: {place}\n" if place else "")
    body = "\n".join(f"- {s.text}" for s in lines)
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{context}Transcript lines:\n{body}\n\nWrite the news report."}]


def parse(raw: str) -> tuple[str | None, list[str]]:
    """A headline (the first short line) and the sentences after it; markdown and chat filler dropped."""
    lines = [ln.strip().strip("*#_ ").strip() for ln in raw.replace("\r", "").split("\n")]
    lines = [_LABEL.sub("", _PREAMBLE.sub("", ln)).strip() for ln in lines if ln.strip()]
    lines = [_ENUM.sub("", ln.lstrip("-•* ")).strip() for ln in lines if ln and not ln.endswith(":")]
    if not lines:
        return None, []
    headline = None
    if len(lines) > 1 and len(lines[0].split()) <= 16:
        headline = lines[0].rstrip(".").strip("\"“” ")
        lines = lines[1:]
    sentences = [s.strip() for ln in lines for s in _SPLIT.split(ln) if len(s.split()) >= 3]
    return headline or None, sentences


def generate(model: TextGenerator, facts: Facts, *, event: str | None = None, place: str | None = None,
             max_new_tokens: int = 160, max_prompt_chars: int = 2400, scheduler: object | None = None,
             deadline_s: float | None = None, cancel: object | None = None) -> Generated:
    """One model call over the prompt lines. `scheduler`: an edge.runtime.scheduler.Scheduler or None."""
    lines = prompt_lines(facts, limit_chars=max_prompt_chars)
    messages = messages_for(lines, event=event, place=place)
    t0 = time.monotonic()
    count = [0]
    stopped: list[str] = []

    def step(lease: object | None) -> bool:
        count[0] += 1
        if cancel is not None and cancel():  # type: ignore[operator]  # the box is stopping
            stopped.append("the box is stopping")
            return False
        if deadline_s is not None and time.monotonic() - t0 > deadline_s:
            stopped.append(f"deadline of {deadline_s:.0f} s reached")
            return False
        if lease is not None:
            lease.yield_point()  # type: ignore[attr-defined]  # captions go first
        return True

    if scheduler is None:
        raw = model.generate(messages, max_new_tokens=max_new_tokens, on_token=lambda: step(None))
    else:
        from edge.runtime.scheduler import Priority

        with scheduler.slot(Priority.GENERATION) as lease:  # type: ignore[attr-defined]
            raw = model.generate(messages, max_new_tokens=max_new_tokens, on_token=lambda: step(lease))
    headline, sentences = parse(raw)
    return Generated(headline, sentences, raw, count[0], time.monotonic() - t0, stopped[0] if stopped else None,
                     sum(len(s.text) for s in lines))
