"""One cue-building rule for every caption file, and punctuation that sticks to its word (issue 9).

The stored caption track of a live run (many small finals) and `edge
transcribe --format vtt` (one final per utterance) go through the same rule:
sentence cues, long sentences cut where a reader pauses, no one-word cues.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.asr.captions import PunctuationJoin, join_text, tidy, to_webvtt
from edge.asr.cues import LINE_CHARS, MAX_CUE_S, MAX_LINES, MIN_WORDS, build_cues
from edge.events import AudioChunk, CaptionEvent
from tests.conftest import speak


def final(text: str, start: float, end: float, stream: str = "main") -> CaptionEvent:
    return CaptionEvent("final", stream, text, start, end, end + 0.5)


def word_by_word(sentence: str, start: float, seconds_per_word: float = 0.32) -> list[CaptionEvent]:
    """A sentence committed a word at a time, the way LocalAgreement often commits live finals."""
    out = []
    for i, word in enumerate(sentence.split()):
        t = start + i * seconds_per_word
        out.append(final(word, t, t + seconds_per_word))
    return out


def assert_readable(cues) -> None:
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= MAX_LINES and all(len(line) <= LINE_CHARS for line in lines), cue
        assert cue.end - cue.start <= MAX_CUE_S + 1e-9, cue
    for a, b in zip(cues, cues[1:]):
        assert a.start < a.end <= b.start < b.end


LONG = ("The council agreed last night to spend eighteen million pounds, shared between the two towns, "
        "on a new flood wall to protect the harbour and to build.")


def test_a_long_sentence_committed_word_by_word_makes_the_fewest_cues_and_no_one_word_tails():
    cues = build_cues(word_by_word(LONG, 0.0))

    assert_readable(cues)
    assert len(cues) == 2  # 145 characters need two cues of two lines, not three
    assert all(len(c.text.split()) >= MIN_WORDS for c in cues), [c.text for c in cues]
    assert " ".join(c.text.replace("\n", " ") for c in cues) == LONG


def test_a_sentence_too_long_for_one_cue_is_cut_after_its_comma():
    sentence = ("Firefighters worked through the night near the old harbour, "
                "and officials said the bridge would stay closed.")
    cues = build_cues(word_by_word(sentence, 0.0))

    assert [c.text.replace("\n", " ") for c in cues] == [
        "Firefighters worked through the night near the old harbour,",
        "and officials said the bridge would stay closed."]


def test_short_sentences_each_make_one_cue_and_a_one_word_sentence_joins_its_neighbour():
    events = [*word_by_word("Good evening from Ashford.", 0.0), *word_by_word("The wall opened today.", 2.0),
              final("Thanks.", 3.5, 3.9)]
    cues = build_cues(events)

    assert [c.text for c in cues] == ["Good evening from Ashford.", "The wall opened today. Thanks."]


def test_a_long_silence_ends_a_cue_even_without_a_full_stop():
    cues = build_cues([*word_by_word("and then the lights went", 0.0), *word_by_word("Back in the studio now.", 5.0)])

    assert [c.text for c in cues] == ["and then the lights went", "Back in the studio now."]


def test_punctuation_joins_the_word_before_it_on_every_text():
    assert tidy("18 million pounds , shared") == "18 million pounds, shared"
    assert join_text("18 million pounds", ", shared") == "18 million pounds, shared"
    assert join_text("the", "mayor's") == "the mayor's"
    cues = build_cues([final("18 million pounds", 0.0, 1.5), final(",", 1.5, 1.6), final("shared out.", 1.6, 2.5)])
    assert [c.text for c in cues] == ["18 million pounds, shared out."]


def test_a_lone_comma_final_is_never_sent_alone_but_leads_the_next_final():
    join = PunctuationJoin()
    out = [ev for e in [final("18 million pounds", 0.0, 1.5), final(",", 1.5, 1.6),
                        CaptionEvent("partial", "main", "shared , between", 1.6, 2.0, 2.0),
                        final("shared", 1.6, 2.0)] for ev in join.feed(e)]

    assert [(e.type, e.text) for e in out] == [("final", "18 million pounds"), ("partial", "shared, between"),
                                              ("final", ", shared")]
    assert out[-1].start == 1.5
    assert join_text(out[0].text, out[-1].text) == "18 million pounds, shared"


def test_streams_hold_their_punctuation_separately():
    join = PunctuationJoin()
    assert list(join.feed(final(",", 0.0, 0.1, stream="a"))) == []
    (b,) = join.feed(final("hello", 0.0, 0.5, stream="b"))
    (a,) = join.feed(final("there", 0.2, 0.6, stream="a"))
    assert b.text == "hello" and a.text == ", there"


# -- the real model: live finals and offline finals make the same cues ---------------------------


@pytest.fixture(scope="module")
def long_sentence_audio() -> np.ndarray:
    silence = np.zeros(8000, np.float32)
    return np.concatenate([silence, speak(LONG), silence])


def caption(speech_models, audio: np.ndarray, live: bool) -> list[CaptionEvent]:
    # live without a clock: the live commit policy (partials, LocalAgreement finals) as fast as the CPU goes.
    stream = speech_models.caption_stream("main", live=live)
    if live:
        # This 9 s sentence is under the profile's min_commit_audio_s (committed whole at its pause);
        # the rule is checked on words committed in pieces, as a longer utterance is.
        from edge.asr.streaming import CaptionStream
        from edge.asr.vad import SileroVad

        profile = speech_models.profile
        streaming = profile.asr.streaming.model_copy(update={"min_commit_audio_s": 2.5})
        asr = profile.asr.model_copy(update={"streaming": streaming})
        stream = CaptionStream(speech_models.whisper, SileroVad(speech_models.vad_session), asr,
                               profile.vad_settings, stream="main", live=True)
    join = PunctuationJoin()
    step = 1600
    chunks = (AudioChunk("main", i / 16000, audio[i:i + step]) for i in range(0, len(audio), step))
    return [ev for raw in stream.run(chunks) if raw.type == "final" for ev in join.feed(raw)]


@pytest.mark.slow
def test_the_live_track_of_a_long_sentence_reads_like_the_offline_one(speech_models, long_sentence_audio):
    live = caption(speech_models, long_sentence_audio, live=True)
    offline = caption(speech_models, long_sentence_audio, live=False)
    assert len(live) > len(offline)  # the live path really committed in pieces

    live_cues, offline_cues = build_cues(live), build_cues(offline)
    assert_readable(live_cues)
    assert all(len(c.text.split()) >= MIN_WORDS for c in live_cues), [c.text for c in live_cues]
    assert not any(e.text.strip() in {",", "."} for e in live)
    # Same words, so the same rule cuts them into the same number of cues.
    assert len(live_cues) == len(offline_cues), ([c.text for c in live_cues], [c.text for c in offline_cues])
    assert to_webvtt(live).count(" --> ") == len(live_cues)


# -- the stored caption track of a run: the same rule, and a name that shows the run --------------


def test_a_runs_stored_track_uses_the_same_rule_and_each_run_has_its_own_names(tmp_path):
    import time

    from edge.runtime.tracks import TrackBuilder
    from edge.store import AssetStore

    with AssetStore(tmp_path / "store") as store:
        builder = TrackBuilder(store)
        names = []
        for _ in range(2):
            run = store.records.open_run("demo", "rtsp://127.0.0.1:8554/demo", live=True)
            finals = [*word_by_word(LONG, 0.0), final("Back to you", 9.0, 9.6), final(",", 9.6, 9.7),
                      final("Ashford.", 9.7, 10.3)]
            store.records.append_captions(run, PunctuationJoin_all(finals))
            builder.build(store.records.close_run(run.id, "ended"))
            (track,) = store.list(kind="caption_track", run=run.id)
            (transcript,) = store.list(kind="transcript", run=run.id)
            names += [track.name, transcript.name]
            vtt = store.content_path(track.id).read_text()
            assert vtt == to_webvtt(PunctuationJoin_all(finals))
            assert "Back to you, Ashford." in store.content_path(transcript.id).read_text()
            assert not [r for r in store.records.read(run=run.id) if r.text == ","]
            time.sleep(1.0)  # run names carry the start to the second

    assert len(set(names)) == 4 and all(n.startswith("demo-2") for n in names), names


def PunctuationJoin_all(finals: list[CaptionEvent]) -> list[CaptionEvent]:  # noqa: N802 - reads as the class
    join = PunctuationJoin()
    return [out for ev in finals for out in join.feed(ev)]
