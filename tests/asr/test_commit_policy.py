"""The commit policy, with a scripted decoder: finals are never revised or repeated.

A scripted engine stands in for Whisper here so each rule can be shown in
isolation; test_captions_real.py checks the same rules on the real model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.asr.streaming import CaptionStream
from edge.asr.whisper import Decoded, Word
from edge.events import AudioChunk
from edge.profiles import load_profile


@dataclass
class ScriptedEngine:
    """Returns scripted hypotheses in order; remembers the prefixes it was given."""

    hypotheses: list[str]
    prefixes: list[list[int]] = field(default_factory=list)
    vocab: dict[int, str] = field(default_factory=dict)

    def _tok(self, word: str) -> int:
        for k, v in self.vocab.items():
            if v == word:
                return k
        self.vocab[len(self.vocab) + 1] = word
        return len(self.vocab)

    def decode(self, audio, settings, prefix=None, previous=None, urgent=True, **options) -> Decoded:
        self.prefixes.append(list(prefix or []))
        said = [self.vocab[t] for t in (prefix or [])]
        full = self.hypotheses.pop(0) if len(self.hypotheses) > 1 else self.hypotheses[0]
        words = full.split()
        # Whisper continues after the forced prefix: return only the new words.
        assert words[: len(said)] == [w.strip() for w in said], (words, said)
        tokens = [self._tok(" " + w) for w in words[len(said):]]
        return Decoded(tokens, "".join(self.vocab[t] for t in tokens), -0.1, 0.01)

    def words(self, tokens):
        return [Word(self.vocab[t], (t,)) for t in tokens]

    def word_ends(self, audio, tokens, settings, **options):
        return [0.3 * (i + 1) for i in range(len(tokens))]


class AlwaysSpeech:
    """A VAD that hears speech for the first `speech_s` seconds, then silence."""

    def __init__(self, speech_s: float) -> None:
        self.frames = int(speech_s / 0.032)
        self.n = 0

    def __call__(self, frame) -> float:
        self.n += 1
        return 0.9 if self.n <= self.frames else 0.05


def _run(hypotheses: list[str], speech_s: float = 3.0, live: bool = True, min_audio: float = 0.0,
         offline_pad: float | None = None, margin: float = 0.0):
    profile = load_profile("x86-cpu")
    profile.asr.offline.context_pad_s = offline_pad
    # Each rule in isolation: no minimum audio and no end margin unless a test asks.
    profile.asr.streaming.min_commit_audio_s = min_audio
    profile.asr.streaming.commit_margin_s = margin
    # The scripts hold one hypothesis per partial, every 0.5 s of audio; the finals decode the utterance alone.
    profile.asr.streaming.partial_interval_s = 0.5
    profile.asr.streaming.final_context_s = 0.0
    profile.asr.streaming.early_final_s = None
    engine = ScriptedEngine(hypotheses)
    stream = CaptionStream(engine, AlwaysSpeech(speech_s), profile.asr, profile.vad_settings, live=live)
    audio = np.zeros(int((speech_s + 1.0) * 16000), np.float32)
    chunks = [AudioChunk("main", i / 16000, audio[i : i + 1600]) for i in range(0, len(audio), 1600)]
    return list(stream.run(chunks)), engine


def test_words_two_hypotheses_agree_on_are_committed_and_never_sent_again():
    events, engine = _run([
        "the city",
        "the city council",
        "the city council voted",
        "the city council voted on tuesday",
        "the city council voted on tuesday",
    ])
    finals = [e.text for e in events if e.type == "final"]
    assert " ".join(finals).split() == "the city council voted on tuesday".split()
    # Committed words are the decoder's forced prefix from then on.
    assert any(len(p) > 0 for p in engine.prefixes)


def test_a_word_that_changes_between_hypotheses_is_not_committed_until_it_settles():
    events, _ = _run(["the sitty", "the city", "the city council", "the city council", "the city council"])
    finals = [e.text for e in events if e.type == "final"]
    assert finals[0] == "the"
    assert " ".join(finals).split() == ["the", "city", "council"]


def test_partials_show_only_the_uncommitted_tail():
    events, _ = _run(["a b", "a b c", "a b c d", "a b c d e", "a b c d e"])
    committed: list[str] = []
    for e in events:
        if e.type == "final":
            committed += e.text.split()
        else:
            # A partial starts where the committed words stop.
            assert e.text.split()[0] not in committed


def test_final_times_are_ordered_and_do_not_overlap():
    words = "one two three four five six seven eight nine ten".split()
    events, _ = _run([" ".join(words[: n + 2]) for n in range(len(words) - 1)], speech_s=4.0)
    finals = [e for e in events if e.type == "final"]
    for a, b in zip(finals, finals[1:]):
        assert b.start >= a.end - 1e-9
        assert b.end >= b.start


def test_offline_mode_with_a_short_window_decodes_each_utterance_once_with_no_partials():
    # Packed full windows (the profiles' offline mode) are specified in test_offline.py.
    events, engine = _run(["the whole sentence"], live=False, offline_pad=2.0)
    assert [e.type for e in events] == ["final"]
    assert events[0].text == "the whole sentence"
    assert engine.prefixes == [[]]


def test_nothing_is_committed_before_enough_audio_was_heard():
    events, _ = _run(["the city", "the city council", "the city council voted", "the city council voted on",
                      "the city council voted on tuesday"], speech_s=3.0, min_audio=2.0)
    first_final = next(e for e in events if e.type == "final")
    assert first_final.emitted_at >= 2.0


def test_a_comma_both_hypotheses_agree_on_does_not_hold_back_the_words_after_it():
    events, _ = _run(["well , the", "well , the city", "well , the city council", "well , the city council"])
    finals = [e.text for e in events if e.type == "final"]
    assert finals[0].split() == ["well", ",", "the"] or finals[0].split()[:2] == ["well", ","]


def test_speech_without_a_pause_is_cut_at_the_quietest_moment_before_the_window_fills():
    # 16 s of unbroken speech; utterances are capped at max_utterance_s (14 s).
    events, engine = _run(["one long stretch"], speech_s=16.0, live=False, offline_pad=2.0)
    finals = [e for e in events if e.type == "final"]
    assert len(finals) == 2
    assert finals[0].end <= 14.0 + 0.5 and finals[1].start == finals[0].end
    assert engine.prefixes == [[], []]  # the second part starts fresh, nothing committed carries over


GROWING = ["the city", "the city council", "the city council voted", "the city council voted on",
           "the city council voted on tuesday", "the city council voted on tuesday night"]


def test_a_wider_commit_margin_commits_each_word_later_with_more_audio_after_it():
    # The scripted word ends are 0.3 s apart from the start of the utterance's audio.
    early, _ = _run(list(GROWING), speech_s=4.0, margin=0.0)
    late, _ = _run(list(GROWING), speech_s=4.0, margin=1.5)
    first_early = next(e for e in early if e.type == "final")
    first_late = next(e for e in late if e.type == "final")
    assert first_late.emitted_at > first_early.emitted_at
    assert first_late.emitted_at - first_late.end >= 1.5 - 0.1  # never before 1.5 s of audio follow the word
    # Later, not different: the same words reach the finals, each once.
    for events in (early, late):
        assert " ".join(e.text for e in events if e.type == "final").split() == GROWING[-1].split()


def test_a_minimum_longer_than_the_utterance_commits_only_at_the_pause():
    events, engine = _run(list(GROWING), speech_s=4.0, min_audio=10.0)
    finals = [e for e in events if e.type == "final"]
    assert len(finals) == 1 and finals[0].text.split() == GROWING[-1].split()
    assert finals[0].emitted_at >= 4.0  # after the speech ended
    assert all(p == [] for p in engine.prefixes)  # nothing was forced: the whole utterance decoded at once


class ScriptedVad:
    """A VAD that follows a script of (up to frame n, probability) steps, then hears silence."""

    def __init__(self, script: list[tuple[int, float]]) -> None:
        self.script = script
        self.n = 0

    def __call__(self, frame) -> float:
        self.n += 1
        return self.heard(self.n)

    def heard(self, n: int) -> float:
        return next((p for until, p in self.script if n <= until), 0.05)


def test_no_partial_is_started_in_a_pause_so_a_final_due_there_does_not_wait_for_one():
    # 32 ms frames: speech, a dip shorter than min_silence_s (0.3 s) heard as a pause, speech again, the end.
    profile = load_profile("x86-cpu")
    profile.asr.streaming.partial_interval_s = 0.5
    profile.asr.streaming.final_context_s = 0.0
    profile.asr.streaming.early_final_s = None  # partials alone (early finals: the tests below)
    neg = profile.vad_settings.neg_threshold
    vad = ScriptedVad([(28, 0.9), (35, 0.05), (62, 0.9)])

    class Recording(ScriptedEngine):
        def decode(self, audio, settings, prefix=None, previous=None, urgent=True, **options):
            self.calls.append((len(audio) // 512, urgent))  # frames heard when the decode was started
            return super().decode(audio, settings, prefix, previous, urgent, **options)

    engine = Recording(["the city council"])
    engine.calls = []
    stream = CaptionStream(engine, vad, profile.asr, profile.vad_settings, live=True)
    audio = np.zeros(int(3.0 * 16000), np.float32)
    events = list(stream.run(AudioChunk("main", i / 16000, audio[i : i + 1600]) for i in range(0, len(audio), 1600)))
    partials = [n for n, urgent in engine.calls if not urgent]
    assert partials, "partials still run while the speech goes on"
    for n in partials:
        assert vad.heard(n) >= neg, f"a partial was started at frame {n}, inside a pause"
    assert any(n > 35 for n in partials)  # the one due in the dip ran once the speech went on
    # The pause at the end: the last decode is the final; no partial was started after the speech stopped.
    assert engine.calls[-1][1] is True and max(partials) <= 62
    assert [e.text for e in events if e.type == "final"] == ["the city council"]


class FinalRecording(ScriptedEngine):
    """Records (frames heard, urgent) for every decode."""

    def decode(self, audio, settings, prefix=None, previous=None, urgent=True, **options):
        self.calls.append((len(audio) // 512, urgent))
        return super().decode(audio, settings, prefix, previous, urgent, **options)


def _run_early(script: list[tuple[int, float]], hypotheses: list[str], early_s: float | None = 0.032):
    profile = load_profile("x86-cpu")
    profile.asr.streaming.partial_interval_s = 0.5
    profile.asr.streaming.final_context_s = 0.0
    profile.asr.streaming.early_final_s = early_s
    engine = FinalRecording(hypotheses)
    engine.calls = []
    stream = CaptionStream(engine, ScriptedVad(script), profile.asr, profile.vad_settings, live=True)
    audio = np.zeros(int(4.0 * 16000), np.float32)
    events = list(stream.run(AudioChunk("main", i / 16000, audio[i : i + 1600]) for i in range(0, len(audio), 1600)))
    return events, engine.calls


def test_the_final_is_decoded_at_the_pause_s_first_frame_and_kept_when_the_pause_closes_the_utterance():
    events, calls = _run_early([(40, 0.9)], ["the city council"])
    finals = [e for e in events if e.type == "final"]
    assert [e.text for e in finals] == ["the city council"]
    # One urgent decode, started on the pause's first frame (frame 41), not after min_silence_s (0.3 s) more.
    assert [n for n, urgent in calls if urgent] == [41]
    assert finals[0].emitted_at > finals[0].start  # still emitted when the VAD closes the utterance


def test_an_early_final_is_dropped_when_the_speech_goes_on_and_the_utterance_is_decoded_whole_at_its_end():
    events, calls = _run_early([(30, 0.9), (33, 0.05), (60, 0.9)],
                               ["the city", "the city council", "the city council", "the city council voted"])
    urgent = [n for n, u in calls if u]
    assert urgent[0] == 31 and urgent[-1] == 61  # the dip's early decode, then the real pause's
    assert [e.text for e in events if e.type == "final"] == ["the city council voted"]


def test_without_early_finals_the_final_is_decoded_when_the_vad_closes_the_utterance():
    events, calls = _run_early([(40, 0.9)], ["the city council"], early_s=None)
    assert [n for n, urgent in calls if urgent] == [40 + 9]  # after min_silence_s of pause (0.3 s: 9 frames)
    assert [e.text for e in events if e.type == "final"] == ["the city council"]


def test_words_a_partial_commits_after_an_early_final_are_not_repeated_by_it():
    # A pause long enough for an early final, then sounds the VAD cannot call speech or silence (0.4), long
    # enough for partials to commit the last word, then the real pause.
    profile = load_profile("x86-cpu")
    profile.asr.streaming.partial_interval_s = 0.5
    profile.asr.streaming.final_context_s = 0.0
    profile.asr.streaming.early_final_s = 0.1
    profile.asr.streaming.min_commit_audio_s = 0.0
    profile.asr.streaming.commit_margin_s = 0.0
    engine = FinalRecording(["the city council voted"])
    engine.calls = []
    vad = ScriptedVad([(40, 0.9), (44, 0.05), (110, 0.4)])
    stream = CaptionStream(engine, vad, profile.asr, profile.vad_settings, live=True)
    audio = np.zeros(int(5.0 * 16000), np.float32)
    events = list(stream.run(AudioChunk("main", i / 16000, audio[i : i + 1600]) for i in range(0, len(audio), 1600)))
    assert 43 in [n for n, urgent in engine.calls if urgent]  # the early final was decoded
    assert " ".join(e.text for e in events if e.type == "final").split() == "the city council voted".split()
