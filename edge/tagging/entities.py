"""Keywords, people, organisations, places and times, extracted by rules.

No packaged named-entity model runs here without torch or a hub download, so
these are rules over cased text (Whisper and OCR both write capitals):
a title before a name makes a person, an organisation word ends an
organisation, a place word or a preposition of place before a name makes a
place, and clock/day/date patterns make times. They miss names with no such
cue (a bare "Smith said"), which then still appear as keywords. The rules
favour precision: a draft or a search facet built on a wrong entity misleads.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

TITLES = frozenset("""
mr mrs ms miss dr prof professor sir dame lord lady mayor councillor cllr minister president senator
governor chief inspector sergeant constable officer detective superintendent commissioner captain coach
manager chairman chairwoman chair director judge bishop father reverend rabbi imam king queen prince princess
general colonel major lieutenant spokesman spokeswoman spokesperson secretary ambassador premier chancellor
""".split())
ORG_WORDS = frozenset("""
council police ministry department service services agency company corporation ltd inc plc fc united city
university college school hospital bank party committee authority association union club commission board
brigade trust foundation institute office court parliament government army navy force forces guard
airlines railway group bureau network society centre center
""".split())
PLACE_WORDS = frozenset("""
street road avenue lane bridge river park square station hall bay hill valley county airport harbour harbor
beach island lake mountain mount port bank wall estate district quarter town village stadium arena
""".split())
COMPASS = frozenset({"north", "south", "east", "west", "upper", "lower", "old", "new", "central"})
PLACE_PREPOSITIONS = frozenset({"in", "at", "near", "from", "to", "across", "outside", "inside", "towards"})
STOPWORDS = frozenset("""
a an the and or but if then of to in on at by for with from as is are was were be been being it its this that
these those he she they we you i me him her them us our your their his my not no so too very can could will would
shall should may might must do does did done have has had having there here what which who whom whose when where
why how all any both each few more most other some such only own same than just also about into over after before
under again further once up down out off said says say one two three four five six seven eight nine ten today
yesterday tomorrow morning afternoon evening night week year years people told just now new like well going
get got make made still back around because while during through against between per along
""".split())
_CAP_WORD = r"(?:[A-Z][a-zA-Z'’\-]+|[A-Z]{2,6})"
_CAP_SEQ = re.compile(rf"{_CAP_WORD}(?:\s+(?:of|the|de|van|von|al|le|la|du)?\s*{_CAP_WORD})*")
_TIME = re.compile(
    r"\b(?:\d{1,2}[:.]\d{2}(?:\s?[ap]\.?m\.?)?|\d{1,2}\s?[ap]\.?m\.?|noon|midnight"
    r"|(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:january|february|march|april|may|june|july|august|september|october|november|december)"
    r"|(?:january|february|march|april|june|july|august|september|october|november|december)\s+\d{1,2}(?:st|nd|rd|th)?"
    r"|(?:this|last|next)\s+(?:morning|afternoon|evening|night|week|month|year))\b",
    re.IGNORECASE)
_WORD = re.compile(r"[a-zA-Z][a-zA-Z'\-]+")
MAX_KEYWORDS = 8


@dataclass(frozen=True)
class Entity:
    text: str
    type: str  # person | organisation | place | time

    def to_json(self) -> dict:
        return {"text": self.text, "type": self.type}


def entities(text: str) -> list[Entity]:
    found: dict[tuple[str, str], Entity] = {}

    def add(value: str, kind: str) -> None:
        value = value.strip(" ,;:'’\"" if kind == "time" else " .,;:'’\"")
        if value.split(" ", 1)[0] in ("The", "A", "An") and kind != "time":
            value = value.split(" ", 1)[-1]
        if len(value) >= 2:
            found.setdefault((value.casefold(), kind), Entity(value, kind))

    for m in _TIME.finditer(text):
        add(m.group(0), "time")
    for m in _CAP_SEQ.finditer(text):
        words = m.group(0).split()
        before = text[:m.start()].split()
        prev = before[-1].strip(",.;:").casefold() if before else ""
        first = words[0].casefold().rstrip(".")
        last = words[-1].casefold()
        if first in TITLES and len(words) >= 2:
            # "Mayor Jane Okafor": the title stays out of the name.
            add(" ".join(words[1:]), "person")
        elif last in PLACE_WORDS and first in COMPASS:
            add(" ".join(words), "place")  # "East Bank" is a place, "Lloyds Bank" a company
        elif last in ORG_WORDS or (len(words) == 1 and words[0].isupper() and len(words[0]) >= 2):
            add(" ".join(words), "organisation")
        elif last in PLACE_WORDS:
            add(" ".join(words), "place")
        elif prev in TITLES:
            add(" ".join(words), "person")
        elif prev in PLACE_PREPOSITIONS and first not in STOPWORDS and not _TIME.fullmatch(m.group(0)):
            add(" ".join(words), "place")
    # A time word ("Monday") is not also a place.
    times = {e.text.casefold() for e in found.values() if e.type == "time"}
    return [e for e in found.values() if e.type == "time" or e.text.casefold() not in times]


def keywords(text: str, limit: int = MAX_KEYWORDS) -> list[str]:
    """The most repeated content words, longest first among equals (a cheap stand-in for TF-IDF on one text)."""
    words = [w.casefold() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if w not in STOPWORDS and len(w) > 2)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    return [w for w, _ in ranked[:limit]]
