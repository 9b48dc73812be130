"""Backends are plugins chosen by key; each gives the same answers on the same model."""

from __future__ import annotations

import numpy as np
import pytest

from edge.asr.vad import FRAME, SileroVad
from edge.backends.base import RuntimeSettings, get_backend
from edge.errors import ModelError
from edge.registry import Registry
from tests.conftest import SENTENCES, speak


def _vad_probs(backend: str, model: str, audio: np.ndarray) -> np.ndarray:
    manifest, directory = Registry().resolve(model)
    session = get_backend(backend).load(directory / manifest.files[0].path, RuntimeSettings())
    vad = SileroVad(session)
    return np.array([vad(audio[i : i + FRAME]) for i in range(0, len(audio) - FRAME, FRAME)])


def test_onnxruntime_and_openvino_agree_on_speech_probabilities():
    audio = np.concatenate([np.zeros(8000, np.float32), speak(SENTENCES[0])])
    ort = _vad_probs("onnxruntime", "silero-vad", audio)
    ov = _vad_probs("openvino", "silero-vad-openvino", audio)
    assert ort.max() > 0.9 and ort[:10].max() < 0.2  # speech found, leading silence not
    assert np.abs(ort - ov).max() < 0.05


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(ModelError, match="onnxruntime"):
        get_backend("tflite")


def test_a_missing_execution_provider_is_named():
    manifest, directory = Registry().resolve("silero-vad")
    settings = RuntimeSettings(execution_providers=("TensorrtExecutionProvider",))
    with pytest.raises(ModelError, match="TensorrtExecutionProvider.*onnxruntime-gpu"):
        get_backend("onnxruntime").load(directory / manifest.files[0].path, settings)


def test_an_unsupported_compute_type_is_named():
    _, directory = Registry().resolve("whisper-tiny-en")
    with pytest.raises(ModelError, match="compute type 'int3'"):
        get_backend("ctranslate2").load(directory, RuntimeSettings(compute_type="int3"))


def test_the_box_runtime_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, edge.cli, edge.asr.models, edge.runtime.streams, edge.ingest.gstreamer, edge.backends.openvino;"
        "from edge.asr.models import SpeechModels; from edge.profiles import load_profile;"
        "SpeechModels.load(load_profile('x86-cpu'));"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
