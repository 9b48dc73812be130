"""Shared fixtures: the real speech models (loaded once) and synthesized speech."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

SENTENCES = [
    "The city council voted on Tuesday to approve a new budget for public transport.",
    "Firefighters worked through the night to contain the fire near the old harbour.",
    "Officials said the bridge would remain closed until engineers complete their inspection.",
    "The hospital has opened a second emergency ward to cope with rising patient numbers.",
]


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def speak(text: str, voice: str = "en-us") -> np.ndarray:
    raw = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "165", "--stdout", text], check=True, capture_output=True
    ).stdout
    out = subprocess.run(
        ["sox", "-t", "wav", "-", "-r", "16000", "-c", "1", "-b", "16", "-t", "wav", "-"],
        input=raw, check=True, capture_output=True,
    ).stdout
    return np.frombuffer(out[44:], np.int16).astype(np.float32) / 32768


@pytest.fixture(scope="session")
def news_clip(tmp_path_factory) -> tuple[Path, str]:
    """Four news sentences in two voices, joined with 0.9 s pauses, and their text."""
    silence = np.zeros(int(0.9 * 16000), np.float32)
    parts = [silence]
    for i, s in enumerate(SENTENCES):
        parts += [speak(s, "en-us" if i % 2 == 0 else "en-gb"), silence]
    path = tmp_path_factory.mktemp("speech") / "news.wav"
    return write_wav(path, np.concatenate(parts)), " ".join(SENTENCES)


@pytest.fixture(scope="session")
def profile():
    from edge.profiles import load_profile

    return load_profile("x86-cpu")


@pytest.fixture(scope="session")
def speech_models(profile):
    from edge.asr.models import SpeechModels

    return SpeechModels.load(profile)


@pytest.fixture(scope="session")
def embedder():
    """The box's sentence embedder as the x86-cpu profile runs it (int8 ONNX on ONNX Runtime), provisioned for real."""
    from edge.registry import Registry
    from edge.tagging.embeddings import Embedder

    registry = Registry()
    registry.provision(registry.manifest("minilm-l6-v2"))
    return Embedder.load(registry=registry)
