"""The verifier: quotes verbatim, numbers (digits or words), names, dates, third person, lexical support."""

from __future__ import annotations

import pytest

from edge.drafts.numbers import numbers_in
from edge.drafts.verify import SUPPORT_THRESHOLD, Sources, check

from .conftest import FLOOD, segments


@pytest.fixture(scope="module")
def sources() -> Sources:
    return Sources(segments(FLOOD))


def test_numbers_are_read_as_values_whether_written_in_digits_or_words():
    found = [(n.value, n.unit) for n in numbers_in("thirty homes, 4.2 metres, two hundred and five people, "
                                                      "18 million pounds, twenty-five per cent, the third day")]
    assert found == [(30, "homes"), (4.2, "metres"), (205, "people"), (18e6, "pounds"), (25, "percent"), (3, "day")]


def test_one_as_a_pronoun_is_not_a_number():
    assert numbers_in("No one was hurt, one of them said.") == []
    assert [n.value for n in numbers_in("one person died")] == [1]


def test_a_faithful_paraphrase_is_kept_with_its_sources(sources):
    c = check("Thirty homes in Riverside were evacuated after water reached 4.2 metres.", sources)
    assert c.ok, c.reasons
    assert c.support.seqs == (3,) and c.support.run == "r1" and c.support.score >= SUPPORT_THRESHOLD
    assert (c.support.start, c.support.end) == (8.0, 12.0)


def test_a_number_in_words_matches_the_same_number_in_digits(sources):
    assert check("30 homes in Riverside were evacuated.", sources).ok


def test_an_invented_number_is_removed_whether_digits_or_words(sources):
    for text in ("40 homes in Riverside were evacuated.", "Forty homes in Riverside were evacuated."):
        c = check(text, sources)
        assert not c.ok and any("number not in the sources" in r for r in c.reasons)


def test_a_quote_must_be_verbatim(sources):
    assert check("Mayor Ana Ruiz said: \u201cThe flood wall on the east bank held overnight.\u201d", sources).ok
    c = check('Mayor Ana Ruiz said: "The flood wall held overnight."', sources)
    assert any(r.startswith("quote not verbatim") for r in c.reasons)


def test_an_invented_name_or_date_is_removed(sources):
    c = check("Mayor Ana Ruiz of the River Nile said the wall held, CNN reported.", sources)
    assert "name not in the sources: River Nile" in c.reasons and "name not in the sources: CNN" in c.reasons
    c = check("Thirty homes in Riverside were evacuated on Monday.", sources)
    assert c.reasons == ("time or date not in the sources: monday",)
    c = check("Water reached 4.2 metres at the gauge yesterday.", sources)
    assert c.reasons == ("time or date not in the sources: yesterday",)


def test_first_person_outside_a_quote_is_removed(sources):
    c = check("We have opened two shelters at the high school.", sources)
    assert any("first person" in r for r in c.reasons)
    assert check("\u201cWe have opened two shelters at the high school and the library,\u201d a speaker said.",
                 sources).ok


def test_a_sentence_about_something_no_one_said_is_unsupported(sources):
    c = check("The bridge will be rebuilt with federal money.", sources)
    assert any(r.startswith("not supported by any source passage") for r in c.reasons)


def test_a_comma_after_a_number_is_punctuation_not_a_thousands_separator():
    assert [(n.text, n.value) for n in numbers_in("On January 25, 2017, 18,000 people came.")] == [
        ("25", 25), ("2017", 2017), ("18,000", 18000)]
