"""The English track of a non-English stream: Whisper's translate task, re-decoded in the background.

Off unless a stream asks (`translate: true`); refused at start-up, naming the
field, where it cannot work (an English-only model, an English stream).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.asr.language import AUTO
from edge.asr.options import CaptionOptions
from edge.asr.polish import ClosedSpeech, Polisher
from edge.asr.translation import Translator, check_translate, translation_complete, translator_for, with_translation
from edge.config import BoxConfig
from edge.errors import ConfigError
from edge.events import SAMPLE_RATE, AudioChunk
from edge.runtime.tracks import TrackBuilder
from edge.store import AssetStore
from edge.store.records import CAPTION, TRANSLATION
from tests.conftest import speak

SPANISH = "El alcalde de Sevilla anunció hoy un nuevo plan de transporte público."
ENGLISH_WORDS = {"the", "of", "a", "an", "in", "to", "is", "has", "today", "new", "plan", "public", "transport"}


def config(**stream) -> BoxConfig:
    return BoxConfig.model_validate({"streams": [{"name": "cam", "source": "rtsp://10.0.0.5/a"},
                                                 {"name": "rueda", "source": "rtsp://10.0.0.5/b", **stream}]})


# -- the setting ----------------------------------------------------------------------------------


def test_translation_is_off_unless_a_stream_asks_for_it():
    assert check_translate(config(language="es"), multilingual=True) == []
    assert check_translate(config(language="es", translate=True), multilingual=True) == ["rueda"]
    assert check_translate(config(language=AUTO, translate=True), multilingual=True) == ["rueda"]


def test_translate_on_the_english_only_model_is_refused_naming_the_field(tmp_path, speech_models):
    with AssetStore(tmp_path / "store") as store, pytest.raises(ConfigError) as err:
        translator_for(config(language="es", translate=True), speech_models, store)  # tiny.en
    message = str(err.value)
    assert "streams.1.translate" in message and "English-only" in message and "x86-cpu-multilingual" in message


@pytest.mark.parametrize("stream", [{"translate": True}, {"translate": True, "language": "en"}])
def test_translating_a_stream_captioned_in_english_is_refused_naming_the_field(stream):
    with pytest.raises(ConfigError, match=r"streams\.1\.translate: stream 'rueda' is captioned in English") as err:
        check_translate(config(**stream), multilingual=True)
    assert "streams.1.language" in str(err.value)


def test_english_speech_is_not_sent_for_translation_and_undetected_speech_is_detected_first():
    class Multilingual:
        multilingual = True

        def detect_language(self, audio):
            return [("en", 0.9), ("es", 0.1)]

    translator = Translator(None, Multilingual(), None)
    quiet = np.zeros(SAMPLE_RATE, np.float32)
    translator.submit(ClosedSpeech("r", "rueda", 0.0, quiet, "en"))
    assert not translator._queue
    for language in (None, AUTO, "es"):
        translator.submit(ClosedSpeech("r", "rueda", 0.0, quiet, language))
    assert [s.language for s in translator._queue] == [None, AUTO, "es"]
    assert not translator.decodes(translator.language_for(None, quiet))  # heard as English: left alone
    polisher = Polisher(None, Multilingual(), None)  # the polisher, too, decodes in the detected language
    assert polisher.language_for(AUTO, quiet) == "en" and polisher.decodes("en")


def test_only_the_streams_that_translate_hand_their_speech_to_the_translator():
    handed: list[tuple] = []

    class Spy:
        def submit(self, speech):
            handed.append(("translate", speech.stream, speech.language))

    class Run:
        id = "run-1"

    def options_for(stream, run=None):
        return CaptionOptions(on_utterance=lambda start, audio, language: handed.append(("polish", stream, language)))

    options = with_translation(options_for, Spy(), frozenset({"rueda"}))
    options("rueda", Run()).on_utterance(0.0, np.zeros(10, np.float32), "es")
    options("cam", Run()).on_utterance(0.0, np.zeros(10, np.float32), "en")
    assert handed == [("polish", "rueda", "es"), ("translate", "rueda", "es"), ("polish", "cam", "en")]


# -- on the real multilingual model -------------------------------------------------------------


@pytest.fixture(scope="module")
def multilingual():
    from edge.asr.models import SpeechModels
    from edge.profiles import load_profile

    return SpeechModels.load(load_profile("x86-cpu-multilingual"))


@pytest.mark.slow
def test_a_spanish_run_gets_an_english_translation_track_beside_its_spanish_one(tmp_path, multilingual):
    silence = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([silence, speak(SPANISH, "es"), silence])
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("rueda", "rueda.wav", live=True)
        translator = Translator(store, multilingual.whisper, multilingual.profile.asr.offline,
                                live_vad=multilingual.profile.vad_settings,
                                offline_vad=multilingual.profile.offline_vad_settings)
        translator.start()
        try:
            def closed(start, samples, language):
                translator.submit(ClosedSpeech(run.id, "rueda", start, samples, language))

            stream = multilingual.caption_stream("rueda", live=False,
                                                 options=CaptionOptions(language="es", on_utterance=closed))
            finals = [e for e in stream.run([AudioChunk("rueda", 0.0, audio)]) if e.type == "final"]
            live = store.records.append_captions(run, finals)
            store.records.close_run(run.id, "ended")
            builder = TrackBuilder(store, pending=translator.pending)
            assert builder.step() == 0  # the English track is still being made
            translator.finish_run(run.id)
            assert translator.drain(timeout=120)
        finally:
            translator.stop()
        assert translation_complete(store, run.id)
        (english,) = store.records.read(run=run.id, type=TRANSLATION)
        assert english.data["from"] == "es" and english.data["language"] == "en"
        assert english.data["source"] == [r.seq for r in live]
        assert ENGLISH_WORDS & set(english.text.lower().replace(".", " ").split()), english.text
        assert [r.text for r in store.records.read(run=run.id, type=CAPTION)] == [e.text for e in finals]  # kept

        assert builder.step() == 1
        tracks = {a.name.rsplit("-", 1)[-1]: a for a in store.list(kind="caption_track", run=run.id)}
        assert set(tracks) == {"captions.vtt", "captions.en.vtt"}
        en = tracks["captions.en.vtt"]
        assert en.meta["language"] == "en" and en.meta["translated_from"] == "es" and "translation" in en.tags
        vtt = store.content_path(en.id).read_text()
        cue_text = " ".join(line for line in vtt.splitlines()[1:] if line and "-->" not in line and not line.isdigit())
        assert vtt.startswith("WEBVTT") and " ".join(english.text.split()) == " ".join(cue_text.split())  # cues wrap
        spanish = store.content_path(tracks["captions.vtt"].id).read_text()
        assert " ".join(english.text.split()) not in " ".join(spanish.split())
