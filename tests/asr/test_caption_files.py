"""Caption files group committed words into readable cues."""

from __future__ import annotations

from edge.asr.captions import LINE_CHARS, cues, join_text, to_srt, to_webvtt
from edge.events import CaptionEvent


def final(text: str, start: float, end: float) -> CaptionEvent:
    return CaptionEvent("final", "main", text, start, end, end + 0.5)


def test_words_committed_one_by_one_become_one_cue_per_sentence():
    events = [final("Good evening", 0.0, 0.8), final(",", 0.8, 0.9), final("we are live", 0.9, 1.8),
              final("from Ashford.", 1.8, 2.6), final("The wall", 3.0, 3.6), final("opened today.", 3.6, 4.5)]
    out = cues(events)
    assert [c.text for c in out] == ["Good evening, we are live from Ashford.", "The wall opened today."]
    assert out[0].start == 0.0 and out[0].end == 2.6


def test_a_cue_never_exceeds_two_lines_or_seven_seconds():
    events = [final(f"word{i} more", i * 0.5, i * 0.5 + 0.4) for i in range(60)]
    for cue in cues(events):
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= LINE_CHARS for line in lines)
        assert cue.end - cue.start <= 7.0 + 1e-9


def test_partials_never_reach_a_caption_file():
    events = [CaptionEvent("partial", "main", "maybe", 0, 1, 1), final("Certainly.", 0, 1)]
    assert "maybe" not in to_webvtt(events) and "maybe" not in to_srt(events)


def test_cue_times_are_monotonic_even_when_finals_overlap():
    out = cues([final("One.", 0.0, 2.0), final("Two.", 1.5, 2.5), final("Three.", 2.5, 2.6)])
    for a, b in zip(out, out[1:]):
        assert a.start < a.end <= b.start < b.end


def test_punctuation_joins_without_a_space():
    assert join_text("evening", ",") == "evening,"
    assert join_text("the", "mayor's") == "the mayor's"


def test_webvtt_cue_text_escapes_markup_and_cannot_end_a_cue_early():
    vtt = to_webvtt([CaptionEvent("final", "cam", "Fish & chips <b>cost</b> more --> than ever.", 0.0, 3.0, 3.0)])
    cue = vtt.split("\n\n")[1].splitlines()
    assert cue[2] == "Fish &amp; chips &lt;b&gt;cost&lt;/b&gt; more --&gt; than"
    assert cue[3] == "ever."
    assert vtt.count("-->") == 1  # only the timing line
