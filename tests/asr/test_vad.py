"""Silero VAD through ONNX Runtime finds speech and ignores silence and noise."""

from __future__ import annotations

import numpy as np

from edge.asr.vad import FRAME_S, SileroVad, SpeechSegmenter
from tests.conftest import read_wav


def _segments(models, samples: np.ndarray, settings) -> list[tuple[float, float]]:
    seg = SpeechSegmenter(SileroVad(models.vad_session), settings)
    out, start = [], None
    frames = list(seg.feed(samples)) + list(seg.flush())
    for f in frames:
        if f.event == "start":
            start = f.start
        elif f.event == "end":
            out.append((start, f.end))
    return out


def test_each_sentence_is_one_speech_segment(speech_models, profile, news_clip):
    wav, _ = news_clip
    segments = _segments(speech_models, read_wav(wav), profile.vad_settings)
    assert len(segments) == 4
    assert all(end - start > 2.0 for start, end in segments)


def test_silence_and_low_noise_have_no_speech(speech_models, profile):
    rng = np.random.default_rng(1)
    quiet = np.concatenate([np.zeros(16000 * 3, np.float32), (rng.standard_normal(16000 * 3) * 0.01).astype(np.float32)])
    assert _segments(speech_models, quiet, profile.vad_settings) == []


def test_frames_are_32_ms():
    assert abs(FRAME_S - 0.032) < 1e-9
