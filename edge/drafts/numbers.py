"""Numbers as people say them: "4.2", "18,000", "thirty", "two hundred and five", "5 million", "third".

Both the extractor and the verifier read numbers through this one module, so
"thirty" in a caption and "30" in a draft are the same fact, and a number the
model invented is found whether it wrote digits or words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_ORDINALS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD_NUMBERS = set(_UNITS) | set(_TENS) | set(_SCALES) | {"dozen"}
# "one" is a pronoun as often as a number ("no one", "one of them"): only these uses are numbers.
_ONE_AS_PRONOUN_BEFORE = {"no", "any", "every", "each", "the", "this", "that", "which", "someone", "everyone"}
_ONE_AS_PRONOUN_AFTER = {"of", "another", "day", "another's"}

# Thousands separators only between digit groups: "25," at the end of a clause is 25 and a comma.
_TOKEN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?%?|[A-Za-z]+(?:-[A-Za-z]+)*|[.:]")
_DIGITS = re.compile(r"^(\d+(?:,\d{3})*(?:\.\d+)?)(st|nd|rd|th)?(%)?$")


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    text: str  # as written
    unit: str  # the word after it (lower case), or "" when none
    start: int  # character offsets in the text it was read from
    end: int


def is_word_number(word: str) -> bool:
    return word in _WORD_NUMBERS or word in _ORDINALS


def numbers_in(text: str) -> list[Number]:
    """Every number in `text`, digits or words, with the word after it as its unit."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    out: list[Number] = []
    i = 0
    while i < len(tokens):
        tok, s, e = tokens[i]
        low = tok.lower()
        value: float | None = None
        j = i + 1
        m = _DIGITS.match(tok)
        if m:
            # A clock time "10:30" is one fact, not two numbers.
            if j + 1 < len(tokens) and tokens[j][0] == ":" and _DIGITS.match(tokens[j + 1][0]) \
                    and tokens[j][1] == e and tokens[j + 1][1] == tokens[j][2]:
                hh = float(m.group(1).replace(",", ""))
                mm = float(tokens[j + 1][0].rstrip("%"))
                value, e, j = hh * 100 + mm, tokens[j + 1][2], j + 2
            else:
                value = float(m.group(1).replace(",", "")) if m.group(1).replace(",", "").replace(".", "", 1).isdigit() else None
                if value is not None and m.group(1).endswith("."):
                    value = None
        elif low in _ORDINALS:
            value = float(_ORDINALS[low])
        elif low == "dozen":
            value = 12.0
        elif low in _UNITS or low in _TENS or "-" in low and all(p in _UNITS or p in _TENS for p in low.split("-")):
            if low == "one" and _one_is_pronoun(tokens, i):
                i += 1
                continue
            value, j, e = _read_words(tokens, i)
        if value is None:
            i += 1
            continue
        # "5 million", "4.2 thousand": a scale word after digits multiplies them.
        while j < len(tokens) and tokens[j][0].lower() in _SCALES:
            value *= _SCALES[tokens[j][0].lower()]
            e = tokens[j][2]
            j += 1
        if j < len(tokens) and tokens[j][0].lower() == "point" and j + 1 < len(tokens) and tokens[j + 1][0].lower() in _UNITS:
            # "two point five"
            digits = []
            k = j + 1
            while k < len(tokens) and tokens[k][0].lower() in _UNITS and _UNITS[tokens[k][0].lower()] < 10:
                digits.append(str(_UNITS[tokens[k][0].lower()]))
                k += 1
            if digits:
                value = float(f"{int(value)}.{''.join(digits)}")
                e = tokens[k - 1][2]
                j = k
        unit = ""
        if tok.endswith("%"):
            unit = "percent"
        elif j < len(tokens) and tokens[j][0].isalpha():
            unit = tokens[j][0].lower()
        if unit == "per" and j + 1 < len(tokens) and tokens[j + 1][0].lower() == "cent":
            unit = "percent"
        out.append(Number(value, text[s:e], unit, s, e))
        i = j
    return out


def _one_is_pronoun(tokens: list[tuple[str, int, int]], i: int) -> bool:
    before = tokens[i - 1][0].lower() if i > 0 else ""
    after = tokens[i + 1][0].lower() if i + 1 < len(tokens) else ""
    return before in _ONE_AS_PRONOUN_BEFORE or after in _ONE_AS_PRONOUN_AFTER


def _read_words(tokens: list[tuple[str, int, int]], i: int) -> tuple[float, int, int]:
    """A run of number words from token i: (value, index after it, end offset)."""
    total, current = 0, 0
    j, end = i, tokens[i][2]
    while j < len(tokens):
        w = tokens[j][0].lower()
        parts = w.split("-")
        if all(p in _UNITS or p in _TENS for p in parts):
            current += sum(_UNITS.get(p, 0) + _TENS.get(p, 0) for p in parts)
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in ("thousand", "million", "billion"):
            total += max(current, 1) * _SCALES[w]
            current = 0
        elif w == "and" and j + 1 < len(tokens) and is_word_number(tokens[j + 1][0].lower()) and j > i:
            j += 1
            continue
        else:
            break
        end = tokens[j][2]
        j += 1
    return float(total + current), j, end


def values_in(text: str) -> set[float]:
    return {n.value for n in numbers_in(text)}
