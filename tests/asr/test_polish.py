"""The polished transcript: a run's speech re-decoded in the background as the offline path decodes a file
(pauses under 2 s kept, full seeking windows, the text before as prompt), linked to the live finals it replaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.corpus import wer
from edge.asr.options import CaptionOptions
from edge.asr.polish import ClosedSpeech, Polisher, best_records, best_text, polish_complete, read_best
from edge.asr.streaming import CaptionStream
from edge.asr.vad import SileroVad
from edge.asr.whisper import Segment, WindowResult
from edge.events import SAMPLE_RATE, AudioChunk
from edge.profiles import DecodeSettings
from edge.runtime.scheduler import Priority
from edge.store import AssetStore
from edge.store.records import CAPTION, POLISHED, Record
from tests.conftest import read_wav


def rec(seq: int, type_: str, text: str, start: float, end: float, **data) -> Record:
    return Record(seq, type_, "r1", "cam", start, end, start, end, text, data)


def test_polished_text_takes_the_place_of_the_live_finals_it_replaces_and_the_rest_stay():
    records = [
        rec(1, CAPTION, "Police said the", 0.0, 1.0),
        rec(2, CAPTION, "lease was closed.", 1.0, 2.0),
        rec(3, CAPTION, "Rain is expected.", 3.0, 4.0),
        rec(4, POLISHED, "Police said the bridge was closed.", 0.0, 2.0, replaces=[1, 2]),
        rec(5, CAPTION, "More at six.", 5.0, 6.0),
    ]
    assert [r.seq for r in best_records(records)] == [4, 3, 5]
    assert best_text(records) == "Police said the bridge was closed. Rain is expected. More at six."


def test_a_polished_window_that_heard_nothing_keeps_the_live_text():
    records = [rec(1, CAPTION, "Ever tried.", 0.0, 1.0), rec(2, POLISHED, "", 0.0, 1.0, replaces=[1])]
    assert best_text(records) == "Ever tried."


class Scripted:
    """Whisper stand-in for the composition rules: records each window it is given, hears one closed segment."""

    multilingual = False

    def __init__(self, text: str = " Rain is expected tonight."):
        self.windows: list[np.ndarray] = []
        self.text = text

    def sot_sequence(self, language=None, task="transcribe"):
        return [0, 1]

    def decode_window(self, audio, settings, **kwargs):
        self.windows.append(audio)
        seconds = len(audio) / SAMPLE_RATE
        return WindowResult([Segment(0.0, seconds, (1, 2), self.text)], -0.2, 0.01, sequence=(1, 2))


def tone(seconds: float) -> np.ndarray:
    return np.full(int(seconds * SAMPLE_RATE), 0.1, np.float32)


def silent_stretches(audio: np.ndarray) -> list[float]:
    """Lengths in seconds of the runs of exact zeros in `audio` (the silence the polisher laid in)."""
    zero = np.concatenate([[False], audio == 0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(int)))
    return [round((b - a) / SAMPLE_RATE, 2) for a, b in zip(edges[::2], edges[1::2])]


@pytest.mark.parametrize("live, kept", [(True, [1.0, 1.8]), (False, [])])
def test_a_runs_speech_is_laid_out_as_the_offline_vad_would_have_cut_it(tmp_path, live, kept):
    # Live utterances (0.3 s pauses) rebuild offline chunks: a 1 s gap is a pause inside a chunk, kept as
    # silence; a 6 s gap ends a chunk with its trailing silence (2.0 - 0.3 s) and starts the next with the
    # 0.1 s of padding the offline VAD adds beyond the live one. A file's run already hands over the
    # offline chunks: they are laid end to end, as the offline path lays them.
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "cam.wav", live=live)
        engine = Scripted()
        polisher = Polisher(store, engine, DecodeSettings(context_pad_s=None))
        for start in (0.0, 3.0, 10.0):
            polisher.feed(ClosedSpeech(run.id, "cam", start, tone(2.0), "en"))
        assert not engine.windows  # 6 s of speech: nothing is decoded before the run closes
        store.records.close_run(run.id, "ended")
        polisher.close(run.id)
        (window,) = engine.windows
        assert silent_stretches(window[:-int(1.7 * SAMPLE_RATE)] if live else window) == kept
        assert polish_complete(store, run.id)


def test_a_window_is_decoded_once_30_s_of_speech_has_accumulated_past_it_and_the_rest_at_the_close(tmp_path):
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "cam.wav", live=True)
        engine = Scripted()
        polisher = Polisher(store, engine, DecodeSettings(context_pad_s=None))
        at = 0.0
        for _ in range(3):  # 3 x 9 s with 0.5 s pauses kept: 28.5 s, under a window
            polisher.feed(ClosedSpeech(run.id, "cam", at, tone(9.0), "en"))
            at += 9.5
        assert not engine.windows
        polisher.feed(ClosedSpeech(run.id, "cam", at, tone(9.0), "en"))  # now more than a full window
        assert not engine.windows  # full, but it waits for the speech after it (Whisper may seek into it)
        polisher.feed(ClosedSpeech(run.id, "cam", at + 9.5, tone(2.0), "en"))
        assert [len(w) / SAMPLE_RATE for w in engine.windows] == [30.0]
        store.records.close_run(run.id, "ended")
        polisher.close(run.id)
        assert len(engine.windows) == 2 and polish_complete(store, run.id)


def test_a_window_whose_re_decode_was_dropped_keeps_its_live_text_and_the_next_replaces_only_its_own(tmp_path):
    class Dropping(Scripted):
        """The first window falls into a loop (dropped), the second is heard."""

        def decode_window(self, audio, settings, **kwargs):
            self.windows.append(audio)
            if len(self.windows) == 1:
                return WindowResult([], -2.0, 0.9, "repetition loop")
            return WindowResult([Segment(0.1, 1.7, (1, 2), " Rain is expected tonight.")], -0.2, 0.01)

    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "cam.wav", live=True)
        live = add_captions(store, run, [("Ever tried.", 0.4, 29.0), ("Rain is expected to night.", 31.2, 32.8)])
        polisher = Polisher(store, Dropping(), DecodeSettings(context_pad_s=None))
        polisher.feed(ClosedSpeech(run.id, "cam", 0.0, tone(30.0), "en"))
        polisher.feed(ClosedSpeech(run.id, "cam", 31.0, tone(2.0), "en"))  # the first window is decoded
        assert not store.records.read(run=run.id, type=POLISHED)  # dropped: its final keeps its live text
        store.records.close_run(run.id, "ended")
        polisher.close(run.id)
        (record,) = store.records.read(run=run.id, type=POLISHED)
        assert record.data["replaces"] == [live[1].seq]
        assert record.data["cues"] == [[30.1, 31.7, "Rain is expected tonight."]]  # its window starts in the 1 s pause
        assert best_text(read_best(store, run.id)) == "Ever tried. Rain is expected tonight."


def add_captions(store, run, texts):
    return store.records.append([(CAPTION, run.id, run.stream, s, e, run.wall(s), run.wall(e), t, "{}")
                                 for t, s, e in texts])


# -- on the real model ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_run_is_polished_in_the_background_class_window_by_window_and_linked_to_its_live_finals(
        tmp_path, speech_models, news_clip):
    path, reference = news_clip
    audio = np.concatenate([read_wav(path)] * 2)  # ~50 s: more than one window
    reference = " ".join([reference] * 2)
    store = AssetStore(tmp_path / "store")
    try:
        run = store.records.open_run("cam", "news.wav", live=True)
        polisher = Polisher(store, speech_models.whisper, speech_models.profile.asr.offline,
                            live_vad=speech_models.profile.vad_settings,
                            offline_vad=speech_models.profile.offline_vad_settings)
        handed: list[ClosedSpeech] = []

        def closed(start, samples, language):
            handed.append(ClosedSpeech(run.id, "cam", start, samples, language))

        # The live VAD's utterances, as a camera's run hands them over, decoded without pacing for its finals.
        profile = speech_models.profile
        stream = CaptionStream(speech_models.whisper, SileroVad(speech_models.vad_session), profile.asr,
                               profile.vad_settings, stream="cam", options=CaptionOptions(on_utterance=closed))
        finals = [e for e in stream.run([AudioChunk("cam", 0.0, audio)]) if e.type == "final"]
        stored = store.records.append_captions(run, finals)
        before = speech_models.whisper.scheduler.stats().classes[Priority.TAGGING].granted

        polisher.start()
        for speech in handed[:-1]:
            polisher.submit(speech)
        assert polisher.drain(timeout=300)
        early = store.records.read(run=run.id, type=POLISHED, limit=None)
        assert early, "no window was polished while the run was open"  # > 30 s of speech came before its end
        assert polisher.pending(run.id)  # the rest waits for more speech or the close
        polisher.submit(handed[-1])
        store.records.close_run(run.id, "ended")
        assert polisher.drain(timeout=300)
        polisher.stop()

        polished = store.records.read(run=run.id, type=POLISHED, limit=None)
        assert len(polished) > len(early)
        linked = [seq for p in polished for seq in p.data["replaces"]]
        assert sorted(linked) == [r.seq for r in stored]  # every live final replaced exactly once
        assert [r.text for r in store.records.read(run=run.id, limit=None)] == [e.text for e in finals]  # kept
        assert speech_models.whisper.scheduler.stats().classes[Priority.TAGGING].granted > before
        assert polish_complete(store, run.id)

        live_wer = wer(reference, " ".join(e.text for e in finals))
        polished_wer = wer(reference, best_text(read_best(store, run.id)))
        print(json.dumps({"live_wer": live_wer, "polished_wer": polished_wer}))
        # Same audio, offline composition and full windows: no worse than what viewers saw, give or
        # take three words in 100. A re-decode trades an error with the live pass now and then: in one
        # full-suite run live got all 106 words right and the polished text two wrong (alone, both had
        # two wrong). A polisher that lost or garbled a window is far above that (a window is ~50 words).
        assert polished_wer <= live_wer + 3 / 100
    finally:
        store.close()
