"""Backends are plugins chosen by key; each gives the same answers on the same model."""

from __future__ import annotations

import numpy as np
import pytest

from edge.asr.vad import FRAME, SileroVad
from edge.backends.base import RuntimeSettings, get_backend
from edge.errors import ModelError
from edge.registry import Registry
from tests.conftest import SENTENCES, speak


def _vad_probs(backend: str, model: str, audio: np.ndarray, settings: RuntimeSettings | None = None) -> np.ndarray:
    manifest, directory = Registry().resolve(model)
    session = get_backend(backend).load(directory / manifest.files[0].path, settings or RuntimeSettings())
    vad = SileroVad(session)
    return np.array([vad(audio[i : i + FRAME]) for i in range(0, len(audio) - FRAME, FRAME)])


def _openvino_vad():
    manifest, directory = Registry().resolve("silero-vad-openvino")
    return directory / manifest.files[0].path


def _cpu_has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_onnxruntime_and_openvino_agree_on_speech_probabilities():
    # Both run in f32 on any CPU, so they agree to rounding (measured 2e-5); the
    # bf16 that OpenVINO would pick on AMX CPUs differs by 0.14 and fails here.
    audio = np.concatenate([np.zeros(8000, np.float32), speak(SENTENCES[0])])
    ort = _vad_probs("onnxruntime", "silero-vad", audio)
    ov = _vad_probs("openvino", "silero-vad-openvino", audio)
    assert ort.max() > 0.9 and ort[:10].max() < 0.2  # speech found, leading silence not
    assert np.abs(ort - ov).max() < 1e-3
    for threshold in (0.5, 0.35):  # the profile's speech start and end thresholds
        assert np.array_equal(ort > threshold, ov > threshold)


def test_the_openvino_vad_runs_in_f32_whatever_the_cpu():
    session = get_backend("openvino").load(_openvino_vad(), RuntimeSettings(device="cpu", precision="f32"))

    assert session.compiled.get_property("INFERENCE_PRECISION_HINT") == ov_type("f32")
    assert session.inference_precisions == {"CPU": "f32"}


def test_auto_device_passes_the_precision_to_the_device_it_picks():
    session = get_backend("openvino").load(_openvino_vad(), RuntimeSettings(device="auto", precision="f32"))

    assert session.inference_precisions and set(session.inference_precisions.values()) == {"f32"}


def test_the_shipped_openvino_profile_loads_its_vad_in_f32():
    from edge.profiles import load_profile

    choice = load_profile("intel-nuc").vad
    manifest, directory = Registry().resolve(choice.model)
    session = get_backend(choice.backend).load(directory / manifest.files[0].path, choice.runtime())

    assert session.inference_precisions == {"CPU": "f32"}


def test_left_to_itself_openvino_picks_bf16_exactly_on_cpus_that_have_it():
    # The trap the explicit precision closes; true on machines with and without AMX.
    import openvino as ov

    compiled = ov.Core().compile_model(str(_openvino_vad()), "CPU")
    expected = "bf16" if _cpu_has_bf16() else "f32"
    assert compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == expected


def ov_type(name: str):
    import openvino as ov

    return {"f32": ov.Type.f32, "bf16": ov.Type.bf16, "f16": ov.Type.f16}[name]


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
