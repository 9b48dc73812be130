"""An event's glossary: the names a crew knows before the event starts.

A glossary is a UTF-8 text file, one term per line, as it must be written in
the captions, optionally followed by how it sounds (spellings a listener, or
the model, might write for it), separated by `|`:

    # names for the harbour press conference
    Siobhan Ní Bhriain | shivawn nee vreen | shivon
    Llanfairfechan
    Ouagadougou | wagadoogoo

It is used two ways (see `GlossaryMode`); by default only `correct` (DEFAULT_MODE):
- `correct`: after decoding, each final's runs of words that sound like a term
  (by spelling and by a per-word sound key, `Matcher`) are replaced by the term.
  Text only: a few ms per final, and it cannot drop a sentence.
- `prompt`: the terms are given to Whisper as earlier context, before the
  stream's previous captions (faster-whisper's `hotwords` form). With
  faster-whisper's own hotwords, sentences were dropped (NOTES.md; bench:
  56% WER on speech without names); here the prompt keeps the per-utterance
  window, the repetition and no-speech guards, and the previous captions.
The matcher's settings were chosen on the TUNING set only, on finals decoded
once without a glossary (`python -m bench.glossary --set tuning --text-only`,
tiny.en): recall 1/32 without a glossary, 14/32 offline and 12/32 live with the
previous matcher, 17/32 and 17/32 with this one; WER on speech without names
unchanged on both paths (11.8% offline, 7.1% live), no false name in it.
Confirmed once on the HELD-OUT set (34 other names, five other voices; nothing
chosen on it, though the small-word edge guard answers a false replacement the
previous held-out run showed): offline recall 9/34 (previous matcher 7/34),
names-speech WER 55.4% (58.6%); live 3/34 (previous 4/34), WER 67.5% (68.2%);
speech without names unchanged on both paths (+0.0 points), no false name.
Earlier, `prompt` and `both` cost +2.2 points offline and +3.3 live on the
held-out speech without names (the limit is +0.5): they stay selectable for
crews who accept that for more names, and `correct` is the default.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process

from edge.errors import ConfigError

GlossaryMode = Literal["correct", "prompt", "both"]
DEFAULT_MODE: GlossaryMode = "correct"

MAX_BYTES = 64 * 1024  # a glossary is a page of names, not a dictionary
MAX_TERMS = 300
MAX_LINE_CHARS = 200
MAX_TERM_WORDS = 6
# Whisper's context is 224 tokens; earlier captions need room too.
MAX_PROMPT_TOKENS = 96
# Score (0-100, spelling and sound averaged) from which a run of words is taken
# for a term. Chosen on the tuning set's cached tiny.en finals (bench.glossary
# --text-only): without the length guard (`Matcher.min_length`) the best chance
# match in its 24 sentences without names scored 64 and 60-64 let a false name
# in; 60-68 took at most one name more than 70, which keeps clear of that.
THRESHOLD = 70.0
# Whisper capitalises what it takes for a name, so a capitalised word inside a
# final is evidence (not proof) of one: +4 took one more name on each path of
# the tuning set and no false one.
CAPITAL_BONUS = 4.0

_WORD = re.compile(r"\S+")
_EDGE_PUNCT = re.compile(r"^([\"'(\[¿¡]*)(.*?)([\"')\].,;:!?…]*)$")
_STOP = re.compile(r"[.?!;:…]")


def _ends_sentence(core: tuple[str, str, str]) -> bool:
    # Whisper writes initials and titles with a full stop ("D. Lamini", "Dr.", "Ms."): not an end.
    return bool(_STOP.search(core[2])) and (core[2] != "." or len(core[1]) > 3)


class GlossaryError(ConfigError):
    """A glossary file that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # as captions must write it
    sounds_like: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.text, *self.sounds_like)


def fold(text: str) -> str:
    """Lower case, accents and punctuation removed, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.replace("ø", "o").replace("ł", "l").replace("ß", "ss").split())


# Words a name span may not start or end with unless the term's own spelling does: padding a
# misheard name with its neighbours ("wing with a") must not hand those neighbours to the name.
# Also the words that, alone, are never taken for a term (see Matcher.common_guard).
FUNCTION_WORDS = frozenset("""
a an the of and or but nor in on at to for from by with without into onto over under about after before
as is was are were be been being am it its this that these those he she they we you i me him her his
their them our us my your not no so if then than there here who whom whose which what when where why how
will would can could shall should may might must has have had do does did said says say told just also
very more most some any all each both one two three four five six seven ten new old up down out off
""".split())

# Letter groups that spell one sound, in the order they are tried. Whisper writes what it hears with
# English spelling, and the crew's sounds-like spellings are English too, so the key folds the
# English ways of writing a sound (and a few of the names' own, as Polish sz/cz/rz) together.
_SOUND_RULES = [(re.compile(p), r) for p, r in [
    (r"^(kn|gn|pn)", "n"), (r"^wr", "r"), (r"^ps", "s"), (r"^x", "s"), (r"^wh", "w"), (r"mb$", "m"),
    (r"tch", "X"), (r"sch", "X"), (r"(sz|cz|rz|zh|sh|ch|ti(?=[ao]n)|si(?=[ao]n))", "X"),
    (r"ph", "f"), (r"th", "t"), (r"dh", "d"), (r"gh", ""), (r"ck", "k"), (r"c(?=[eiy])", "s"), (r"c", "k"),
    (r"q", "k"), (r"x", "ks"), (r"z", "s"), (r"dg", "j"), (r"[vw]", "f"), (r"(?<=.)h", ""),
    (r"(?<=[aeiou])y", ""), (r"[aeiouy]+", "a"),
]]


def word_sound(word: str) -> str:
    """A metaphone-like key of one folded word: one letter per sound class, vowel runs as one 'a'.

    Not a real phonetic algorithm for any one language: it only has to put a
    model's guess ("shivon nee vreen") near the crew's spelling of the same sounds.
    """
    for pattern, repl in _SOUND_RULES:
        word = pattern.sub(repl, word)
    return re.sub(r"(.)\1+", r"\1", word)


def phonetic(text: str) -> str:
    """The sound key of a run of words, word boundaries dropped (the model splits names anywhere)."""
    return re.sub(r"(.)\1+", r"\1", "".join(word_sound(w) for w in fold(text).split()))



@dataclass(frozen=True)
class Glossary:
    terms: tuple[Term, ...]
    source: str = "glossary"  # file name, for messages

    # -- loading ------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str) -> "Glossary":
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise GlossaryError(f"glossary {path} cannot be read: {exc.strerror or exc}",
                                "give the path of a text file, one term per line") from None
        if size > MAX_BYTES:
            raise GlossaryError(f"glossary {path} is {size} bytes, more than the {MAX_BYTES // 1024} KiB a glossary may be",
                                f"keep it to the event's names (at most {MAX_TERMS} terms)")
        return cls.parse(path.read_bytes(), source=str(path))

    @classmethod
    def parse(cls, data: bytes | str, *, source: str = "glossary") -> "Glossary":
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise GlossaryError(f"glossary {source} is {len(data)} bytes, more than the {MAX_BYTES // 1024} KiB "
                                "a glossary may be", f"keep it to the event's names (at most {MAX_TERMS} terms)")
        if b"\x00" in data:  # text never holds NUL bytes; images, archives and documents do
            line = data[: data.index(b"\x00")].count(b"\n") + 1
            raise GlossaryError(f"glossary {source} line {line} is not text (NUL bytes: a binary file?)",
                                "save the glossary as plain UTF-8 text, one term per line")
        terms: list[Term] = []
        seen: dict[str, int] = {}
        for number, raw in enumerate(data.split(b"\n"), 1):
            where = f"glossary {source} line {number}"
            try:
                line = raw.decode("utf-8").strip().lstrip("\ufeff")
            except UnicodeDecodeError:
                raise GlossaryError(f"{where} is not UTF-8 text", "save the glossary as UTF-8 text") from None
            if any(unicodedata.category(c) == "Cc" for c in line if c != "\t"):
                raise GlossaryError(f"{where} holds control characters", "save the glossary as plain text")
            if not line or line.startswith("#"):
                continue
            if len(line) > MAX_LINE_CHARS:
                raise GlossaryError(f"{where} is {len(line)} characters long (at most {MAX_LINE_CHARS})",
                                    "one term per line: a name, then '|' and how it sounds")
            text, *alts = (part.strip() for part in line.split("|"))
            if not fold(text):
                raise GlossaryError(f"{where} has no term before '|'", "write the term first: Name | sounds like")
            if len(text.split()) > MAX_TERM_WORDS:
                raise GlossaryError(f"{where}: '{text[:60]}' has more than {MAX_TERM_WORDS} words",
                                    "a term is a name, not a sentence")
            if fold(text) in seen:
                raise GlossaryError(f"{where} repeats '{text}' (first on line {seen[fold(text)]})",
                                    "keep one line per term")
            seen[fold(text)] = number
            terms.append(Term(text, tuple(a for a in alts if fold(a))))
            if len(terms) > MAX_TERMS:
                raise GlossaryError(f"glossary {source} has more than {MAX_TERMS} terms (line {number})",
                                    "keep it to the names of this event")
        if not terms:
            raise GlossaryError(f"glossary {source} has no terms", "write one name per line ('#' starts a comment)")
        return cls(tuple(terms), source)

    def to_text(self) -> str:
        return "".join(" | ".join(t.spellings) + "\n" for t in self.terms)

    # -- prompting ----------------------------------------------------------------

    def prompt_tokens(self, encode: Callable[[str], list[int]]) -> list[int]:
        """The terms as Whisper context tokens (faster-whisper's hotwords form), within the prompt budget."""
        return encode(" " + ", ".join(t.text for t in self.terms) + ".")[:MAX_PROMPT_TOKENS]

    # -- correcting -----------------------------------------------------------------

    @cached_property
    def prepared(self) -> tuple["_Spelling", ...]:
        """Every spelling of every term, folded and keyed once (a stream corrects every final with them)."""
        out = []
        for term in self.terms:
            for spelling in term.spellings:
                folded = fold(spelling)
                words = folded.split()
                out.append(_Spelling(term, folded, folded.replace(" ", ""), phonetic(folded), words[0], words[-1]))
        return tuple(out)

    def correct(self, text: str, *, matcher: "Matcher | None" = None) -> str:
        """`text` with runs of words that sound like a glossary term replaced by the term."""
        return (matcher or DEFAULT_MATCHER).correct(self, text)

    def found(self, text: str) -> list[Term]:
        """The terms written in `text` (after folding case and accents)."""
        hay = f" {fold(text)} "
        return [t for t in self.terms if f" {fold(t.text)} " in hay]


@dataclass(frozen=True)
class _Spelling:
    term: "Term"
    folded: str
    letters: str  # folded, without spaces
    sound: str
    first: str
    last: str


@dataclass(frozen=True)
class Matcher:
    """How a final's words are matched to terms; the defaults are the settings chosen on the tuning set."""

    threshold: float = THRESHOLD
    sound_weight: float = 0.5  # share of the phonetic key in the score; the rest is spelling
    spell_floor: float = 60.0  # a spelling this far off is no match however it sounds
    extra_words: int = 2  # spans up to the longest spelling's word count plus this
    edge_guard: bool = True  # a run starts and ends with a small word only as the spelling does
    common_guard: bool = True  # a run of small words only is never a term
    # A run shorter than this share of a spelling is no match: one right word of a term
    # ("Logistics") is not the whole term.
    min_length: float = 0.65
    extend_margin: float = 10.0  # see correct()
    stop_guard: bool = True  # a run does not cross the end of a sentence
    capital_bonus: float = CAPITAL_BONUS  # added when a span holds a capitalised word that does not start the final

    def spans(self, glossary: "Glossary", text: str) -> list[tuple[float, int, int, "_Spelling"]]:
        """Every run of words scoring at least `threshold` against a spelling: (score, first, end, spelling)."""
        words = _WORD.findall(text)
        cores = [_EDGE_PUNCT.match(w).groups() for w in words]  # type: ignore[union-attr]
        folded = [fold(c[1]) for c in cores]
        spellings = glossary.prepared
        longest = max(len(s.folded.split()) for s in spellings) + self.extra_words
        runs: list[tuple[int, int]] = []
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + longest) + 1):
                if not folded[j - 1] or (self.stop_guard and j - 1 > i and _ends_sentence(cores[j - 2])):
                    break  # names do not run across punctuation alone or the end of a sentence
                if not (self.common_guard and all(w in FUNCTION_WORDS for w in folded[i:j])):
                    runs.append((i, j))
        if not runs:
            return []
        letters = ["".join(folded[i:j]) for i, j in runs]
        # Every run against every spelling at once (rapidfuzz's C loop): a final is scored against
        # a few hundred spellings in milliseconds. Below spell_floor a pair scores 0 and is out:
        # both must agree somewhat, as sound alone maps common words onto names.
        spelled = process.cdist(letters, [s.letters for s in spellings], scorer=fuzz.ratio,
                                score_cutoff=self.spell_floor, dtype=np.float32)
        hits = np.argwhere(spelled > 0)
        if not len(hits):
            return []
        sounds: dict[int, str] = {}
        found = []
        for r, k in hits:
            (i, j), s, n = runs[r], spellings[k], len(letters[r])
            if letters[r] == s.letters:
                found.append((100.0, i, j, s))
                continue
            # Short spellings match too much by chance ("Bo" ~ "to"); lengths far apart are no match.
            if len(s.letters) < 4 or not self.min_length * len(s.letters) <= n <= 2 * len(s.letters):
                continue
            if self.edge_guard and ((folded[i] in FUNCTION_WORDS and folded[i] != s.first)
                                    or (folded[j - 1] in FUNCTION_WORDS and folded[j - 1] != s.last)):
                continue
            if r not in sounds:
                sounds[r] = phonetic(" ".join(folded[i:j]))
            score = (1 - self.sound_weight) * float(spelled[r, k]) + self.sound_weight * fuzz.ratio(sounds[r], s.sound)
            if self.capital_bonus and any(c[1][:1].isupper() for c in cores[max(i, 1):j]):
                score += self.capital_bonus
            if score >= self.threshold:
                found.append((min(100.0, score), i, j, s))
        return found

    def correct(self, glossary: "Glossary", text: str) -> str:
        if not text.strip():
            return text
        matches = self.spans(glossary, text)
        if not matches:
            return text
        words = _WORD.findall(text)
        cores = [_EDGE_PUNCT.match(w).groups() for w in words]  # type: ignore[union-attr]
        # Best matches first; a word belongs to at most one term.
        taken = [False] * len(words)
        chosen: list[tuple[int, int, Term]] = []
        for score, i, j, spelling in sorted(matches, key=lambda m: (-m[0], m[1], m[2])):
            if any(taken[i:j]):
                continue
            # A short sounds-like spelling ("shivon") can match part of a name the model wrote
            # whole ("Shivon nee vreen"): take the whole when another spelling of the same term
            # matches it nearly as well.
            wider = [(b - a, a, b) for sc, a, b, sp in matches
                     if sp.term is spelling.term and sp is not spelling and a <= i and b >= j
                     and sc >= score - self.extend_margin and not any(taken[a:b])]
            _, i, j = max(wider, default=(0, i, j))
            taken[i:j] = [True] * (j - i)
            chosen.append((i, j, spelling.term))
        out: list[str] = []
        k = 0
        for i, j, term in sorted(chosen, key=lambda c: c[0]):
            out += words[k:i]
            out.append(cores[i][0] + term.text + cores[j - 1][2])
            k = j
        out += words[k:]
        # Whisper's text starts with a space that joining captions relies on.
        lead = text[: len(text) - len(text.lstrip())]
        return lead + " ".join(out)


DEFAULT_MATCHER = Matcher()


def load_glossaries(*paths: Path | str | None) -> Glossary | None:
    """Box-wide and per-stream glossaries merged (a later file's term replaces an earlier one's)."""
    merged: dict[str, Term] = {}
    sources = []
    for path in paths:
        if path is None:
            continue
        g = Glossary.load(path)
        sources.append(g.source)
        for term in g.terms:
            merged[fold(term.text)] = term
    if not merged:
        return None
    if len(merged) > MAX_TERMS:
        raise GlossaryError(f"glossaries {' + '.join(sources)} have {len(merged)} terms together, more than {MAX_TERMS}",
                            "keep the box-wide glossary short and put each stream's names in its own")
    return Glossary(tuple(merged.values()), " + ".join(sources))


class GlossaryBook:
    """The box's glossaries: from the config file (read-only here) and as edited on the dashboard.

    A stream's glossary is the box-wide terms plus its own, each from the config
    file and from the dashboard (`<data>/glossaries/`). Files are re-read when
    they change, so an edit reaches streams that are running at their next caption.
    """

    def __init__(self, data_dir: Path, *, box_file: Path | None = None,
                 stream_files: dict[str, Path] | None = None) -> None:
        self.dir = Path(data_dir) / "glossaries"
        self.box_file = box_file
        self.stream_files = dict(stream_files or {})
        self._cache: dict[tuple, Glossary | None] = {}

    def edited_path(self, stream: str | None) -> Path:
        return self.dir / ("box-wide.txt" if stream is None else f"streams/{stream}.txt")

    def text(self, stream: str | None) -> str:
        path = self.edited_path(stream)
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def save(self, stream: str | None, text: str) -> Glossary | None:
        """Validate and store the dashboard's text for the box (None) or one stream; empty text removes it."""
        from edge.durable import fsync_dir

        path = self.edited_path(stream)
        where = f"the {'box-wide' if stream is None else stream + ' stream'} glossary"
        if not any(line.strip() and not line.strip().startswith("#") for line in text.splitlines()):
            path.unlink(missing_ok=True)
            return None
        glossary = Glossary.parse(text, source=where)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
            fh.flush()
            import os

            os.fsync(fh.fileno())
        tmp.replace(path)
        fsync_dir(path.parent)
        return glossary

    def files(self, stream: str | None) -> list[Path]:
        paths = [self.box_file, self.edited_path(None)]
        if stream is not None:
            paths += [self.stream_files.get(stream), self.edited_path(stream)]
        return [p for p in paths if p is not None and (p.is_file() or p in (self.box_file, self.stream_files.get(stream)))]

    def for_stream(self, stream: str | None) -> Glossary | None:
        """The merged glossary a stream uses now (None when it has no terms)."""
        paths = self.files(stream)
        key = tuple((str(p), *_stamp(p)) for p in paths)
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = load_glossaries(*paths)
        return self._cache[key]

    def provider(self, stream: str | None) -> Callable[[], Glossary | None]:
        return lambda: self.for_stream(stream)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)
