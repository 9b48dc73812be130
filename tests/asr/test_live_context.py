"""Live audio context: an utterance's final is decoded after the previous utterances' audio and text.

On the real Whisper tiny.en and Silero VAD, with a clip of two sentences. A
recorder passes every call through to the real engine and notes what each
decode was given, so the tests can see the window the model heard.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from bench.corpus import normalize_text, wer
from edge.asr.streaming import CaptionStream
from edge.asr.vad import SileroVad
from edge.events import SAMPLE_RATE, AudioChunk
from edge.profiles import StreamingSettings
from tests.conftest import SENTENCES, speak

pytestmark = pytest.mark.slow


class Recorder:
    """The real engine, with a note of each decode's audio length, forced prefix and urgency."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self.calls: list[dict] = []

    def decode(self, audio, settings, prefix=None, previous=None, urgent=True, **options):
        decoded = self._engine.decode(audio, settings, prefix=prefix, previous=previous, urgent=urgent, **options)
        self.calls.append({"samples": len(audio), "prefix": list(prefix or []), "previous": list(previous or []),
                           "urgent": urgent, "tokens": list(decoded.tokens)})
        return decoded

    def __getattr__(self, name):
        return getattr(self._engine, name)


@pytest.fixture(scope="module")
def two_sentences() -> tuple[np.ndarray, str, int]:
    """Two news sentences with a 0.9 s pause, their text, and where the second one starts (samples)."""
    pause = np.zeros(int(0.9 * SAMPLE_RATE), np.float32)
    first, second = speak(SENTENCES[0]), speak(SENTENCES[1], "en-gb")
    audio = np.concatenate([pause, first, pause, second, pause])
    return audio, f"{SENTENCES[0]} {SENTENCES[1]}", len(pause) * 2 + len(first)


def _live(speech_models, audio: np.ndarray, **streaming) -> tuple[Recorder, list]:
    asr = speech_models.profile.asr
    # Partials every 2 s keep the test cheap; commits still come from them.
    settings = asr.streaming.model_copy(update={"partial_interval_s": 2.0, **streaming})
    engine = Recorder(speech_models.whisper)
    stream = CaptionStream(engine, SileroVad(speech_models.vad_session), asr.model_copy(update={"streaming": settings}),
                           speech_models.profile.vad_settings, live=True)
    chunks = [AudioChunk("main", i / SAMPLE_RATE, audio[i : i + 1600]) for i in range(0, len(audio), 1600)]
    return engine, list(stream.run(chunks))


@pytest.fixture(scope="module")
def with_context(speech_models, two_sentences):
    audio, _, _ = two_sentences
    return _live(speech_models, audio, final_context_s=20.0, partial_context_s=0.0)


def test_the_second_final_hears_the_first_sentence_with_its_text_forced(with_context, two_sentences):
    engine, _ = with_context
    _, _, second_start = two_sentences
    finals = [c for c in engine.calls if c["urgent"]]
    assert len(finals) == 2  # one closing decode per sentence
    first, second = finals
    first_text = first["prefix"] + first["tokens"]
    # The window holds the first sentence's audio before the second's...
    assert second["samples"] > len(two_sentences[0]) - second_start
    # ...and the decoder continues after the first sentence's committed text, given once (not also as `previous`).
    assert second["prefix"][: len(first_text)] == first_text
    assert not second["previous"]


def test_context_text_is_not_captioned_again(with_context, two_sentences):
    _, events = with_context
    _, reference, _ = two_sentences
    text = " ".join(e.text for e in events if e.type == "final")
    # Tolerance: tiny.en misreads a word or two of espeak speech (2 of 27 words here).
    assert wer(reference, text) <= 0.1
    assert len(normalize_text(text)) <= len(normalize_text(reference)) + 2


def test_partials_without_partial_context_hear_only_their_utterance(with_context):
    engine, _ = with_context
    first = next(c for c in engine.calls if c["urgent"])
    first_text = first["prefix"] + first["tokens"]
    partials = [c for c in engine.calls if not c["urgent"]]
    assert partials and all(c["prefix"][: len(first_text)] != first_text for c in partials)


@pytest.mark.parametrize("field", ["final_context_s", "partial_context_s"])
@pytest.mark.parametrize("value", [-1.0, 26.0])
def test_context_settings_out_of_range_are_refused_by_name(field, value):
    with pytest.raises(ValidationError, match=field):
        StreamingSettings(**{field: value})
