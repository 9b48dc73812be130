"""Languages: a stream's language is set or detected and held; every caption says which it is in."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.asr.language import LanguageLock, check_language
from edge.asr.options import CaptionOptions
from edge.cli import main
from edge.errors import ConfigError
from edge.events import SAMPLE_RATE, AudioChunk, CaptionEvent
from tests.conftest import speak, write_wav

SPANISH = ["El alcalde de Sevilla anunció hoy un nuevo plan de transporte público.",
           "La lluvia ha causado inundaciones en el centro de la ciudad."]


# -- the rule ---------------------------------------------------------------------------------


def test_auto_detects_each_utterance_until_one_detection_is_confident_then_holds_it():
    lock = LanguageLock("auto", confident_p=0.6)
    assert lock.for_utterance(0.0) == "auto"
    lock.observe("en", 0.45, end=3.0)  # a doubtful first guess is used for its utterance only
    assert lock.for_utterance(4.0) == "auto" and lock.current is None
    lock.observe("es", 0.83, end=8.0)
    assert lock.for_utterance(9.0) == "es" and lock.current == "es"
    lock.observe("es", 1.0, end=12.0)
    assert lock.for_utterance(12.0 + lock.redetect_after_s + 1) == "auto"  # a long pause: detect again


def test_a_set_language_is_never_detected():
    lock = LanguageLock("de")
    lock.observe("en", 0.99, end=1.0)
    assert lock.for_utterance(100.0) == "de" and lock.current == "de"


@pytest.mark.parametrize("code, multilingual, expected", [
    ("xx", True, "'xx' is not a Whisper language code"),
    ("es", False, "'es' needs a multilingual model"),
])
def test_a_language_the_model_cannot_caption_is_refused_naming_the_setting(code, multilingual, expected):
    with pytest.raises(ConfigError, match=expected) as err:
        check_language(code, multilingual=multilingual, where="streams.0.language")
    assert "streams.0.language" in str(err.value) and "fix:" in str(err.value)


def test_edge_transcribe_refuses_a_language_the_profiles_model_cannot_do(tmp_path, capsys):
    clip = write_wav(tmp_path / "x.wav", np.zeros(SAMPLE_RATE, np.float32))
    assert main(["transcribe", str(clip), "--language", "es"]) == 2
    assert "--model whisper-base" in capsys.readouterr().err


# -- on the real models -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def multilingual():
    from edge.asr.models import SpeechModels
    from edge.profiles import load_profile

    return SpeechModels.load(load_profile("x86-cpu-multilingual"))


@pytest.fixture(scope="module")
def spanish_audio() -> np.ndarray:
    silence = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    return np.concatenate([silence, speak(SPANISH[0], "es"), silence, speak(SPANISH[1], "es"), silence])


def _captions(models, audio: np.ndarray, options: CaptionOptions) -> list[CaptionEvent]:
    stream = models.caption_stream("es-cam", live=False, options=options)
    return [e for e in stream.run([AudioChunk("es-cam", 0.0, audio)]) if e.type == "final"]


@pytest.mark.slow
def test_whisper_base_detects_spanish_and_every_caption_carries_its_language(multilingual, spanish_audio):
    # One utterance, as a live stream's VAD hands it over, is detected as Spanish.
    detected = multilingual.whisper.detect_language(speak(SPANISH[0], "es"))
    assert detected[0][0] == "es"
    # A file's window holds both sentences, and on this espeak Spanish whisper-base's guess flips
    # with what it hears (th at 3, 4 and 6 s of it, es at 5 and 8 s; the second sentence alone is
    # th at p 0.93), so here only the plumbing is checked: one detected language, on every caption.
    # Detection accuracy per utterance is measured in bench.languages.
    auto = _captions(multilingual, spanish_audio, CaptionOptions(language="auto"))
    assert auto and len({e.language for e in auto}) == 1 and len(auto[0].language) == 2
    finals = _captions(multilingual, spanish_audio, CaptionOptions(language="es"))
    assert finals and all(e.language == "es" for e in finals)
    assert all(e.to_json()["language"] == "es" for e in finals)
    text = " ".join(e.text for e in finals).lower()
    # espeak-ng's Spanish costs whisper-base some words ("alcalde NSE anuncio"); these it gets (measured).
    assert "transporte" in text and "centro" in text


@pytest.mark.slow
def test_english_captions_say_they_are_english(speech_models):
    audio = np.concatenate([np.zeros(8000, np.float32), speak("The bridge will remain closed."),
                            np.zeros(8000, np.float32)])
    finals = [e for e in speech_models.caption_stream("cam", live=False).run([AudioChunk("cam", 0.0, audio)])
              if e.type == "final"]
    assert finals and all(e.language == "en" for e in finals)
    assert json.loads(json.dumps(finals[0].to_json()))["language"] == "en"
