"""Repeated on-screen text is one span with a time range, not a line per frame."""

from __future__ import annotations

from edge.vision.ocr import OcrLine
from edge.vision.text_track import TextTracker, normalise

BOX = [[10.0, 10.0], [200.0, 10.0], [200.0, 40.0], [10.0, 40.0]]


def line(text: str) -> OcrLine:
    return OcrLine(text, BOX, 0.99)


def test_text_seen_on_many_reads_is_one_span_extended_while_it_stays():
    tracker = TextTracker("cam", grace_s=10)
    changes = [tracker.observe(t, [line("MARIA LOPEZ")]) for t in (0.0, 4.0, 8.0)]
    assert [[(e.change, e.start, e.end) for e in c] for c in changes] == [
        [("appeared", 0.0, 0.0)], [("extended", 0.0, 4.0)], [("extended", 0.0, 8.0)]]
    assert {e.key for c in changes for e in c} == {0}


def test_a_misread_character_joins_the_span_instead_of_opening_another():
    tracker = TextTracker("cam")
    tracker.observe(0.0, [line("MARIA LOPEZ")])
    (event,) = tracker.observe(4.0, [line("MARIA L0PEZ")])
    assert (event.change, event.text, event.key) == ("extended", "MARIA LOPEZ", 0)


def test_different_text_opens_its_own_span():
    tracker = TextTracker("cam")
    tracker.observe(0.0, [line("Fire Chief")])
    (event,) = tracker.observe(4.0, [line("Fire Chief"), line("Fire Station")])[1:]
    assert (event.change, event.text, event.key) == ("appeared", "Fire Station", 1)


def test_text_ends_where_it_was_last_seen_once_gone_longer_than_the_grace():
    tracker = TextTracker("cam", grace_s=6)
    tracker.observe(0.0, [line("BREAKING NEWS")])
    tracker.observe(4.0, [line("BREAKING NEWS")])
    assert tracker.observe(8.0, []) == []  # missed on one read: still open
    (event,) = tracker.observe(12.0, [])
    assert (event.change, event.start, event.end) == ("ended", 0.0, 4.0)


def test_close_ends_every_open_span():
    tracker = TextTracker("cam")
    tracker.observe(0.0, [line("LIVE"), line("ASHFORD")])
    assert sorted((e.change, e.text) for e in tracker.close()) == [("ended", "ASHFORD"), ("ended", "LIVE")]
    assert tracker.close() == []


def test_normalise_ignores_case_punctuation_and_spacing():
    assert normalise("  Reporter,  ASHFORD! ") == "reporter ashford"
    assert normalise("—") == ""
