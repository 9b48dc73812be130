"""One small interface for inference engines, chosen by the device profile.

A backend turns a verified model directory into something a task can run.
Graph engines (ONNX Runtime, OpenVINO) return a `TensorSession`; sequence
engines (CTranslate2) return their native generator object. Tasks ask for the
kind they need, and the profile validator rejects a backend that cannot serve it.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from edge.errors import ModelError

# Backends are imported only when a profile selects them, so a box without
# OpenVINO (or CUDA) never pays for, or breaks on, importing it.
BACKEND_MODULES = {
    "onnxruntime": "edge.backends.onnxruntime",
    "openvino": "edge.backends.openvino",
    "ctranslate2": "edge.backends.ctranslate2",
    "openvino_genai": "edge.backends.openvino_genai",
}
TENSOR_BACKENDS = frozenset({"onnxruntime", "openvino"})

Precision = Literal["f32", "f16", "bf16"]


@dataclass(frozen=True)
class RuntimeSettings:
    """How to run a model on this device (from the profile)."""

    device: str = "cpu"
    compute_type: str = "default"
    threads: int = 1
    execution_providers: tuple[str, ...] = ()
    # Per provider, its ONNX Runtime options (TensorRT: engine cache, fp16/int8), from the profile.
    provider_options: Mapping[str, Mapping[str, str | int | bool]] = field(default_factory=dict)
    # The arithmetic precision a graph engine must run in. Stated, never left to
    # the engine: OpenVINO's CPU plugin silently picks bf16 on CPUs with AMX or
    # AVX-512 BF16, which moved Silero VAD probabilities by up to 0.14, so the
    # box's speech decisions depended on which CPU it had.
    precision: Precision = "f32"
    # Language models on OpenVINO (openvino_genai): its CPU plugin otherwise quantizes activations on the fly
    # for compressed weights (group 32) and keeps the KV cache in u8, choices that depend on the CPU and version.
    dynamic_quantization_group_size: int = 0  # 0 = activations stay in `precision`
    kv_cache_precision: str = "f32"


class TensorSession(Protocol):
    """A loaded graph: named numpy inputs in, named numpy outputs out."""

    input_names: frozenset[str]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class TextGenerator(Protocol):
    """A loaded instruction-tuned language model (the text-generation task).

    `on_token` is called after every generated token; returning False stops
    generation early. Callers use it to give the cores back between steps.
    """

    model_name: str
    quantization: str

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int,
                 on_token: Callable[[], bool] | None = None) -> str: ...


class Backend(ABC):
    key: ClassVar[str]

    @abstractmethod
    def load(self, model_path: Path, settings: RuntimeSettings) -> Any:
        """Load the model at `model_path` (a file or a directory)."""


_registered: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    _registered[cls.key] = cls
    return cls


def get_backend(key: str) -> Backend:
    module = BACKEND_MODULES.get(key)
    if module is None:
        raise ModelError(f"unknown inference backend '{key}'", f"use one of: {', '.join(sorted(BACKEND_MODULES))}")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"backend '{key}' is not installed on this box ({exc.name or exc})",
            f"pip install the '{key}' package, or choose a profile that does not use it",
        ) from None
    return _registered[key]()
