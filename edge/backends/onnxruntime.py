"""ONNX Runtime: CPU, CUDA and TensorRT execution providers from the profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.backends.base import Backend, RuntimeSettings, register
from edge.errors import ModelError


class OrtSession:
    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._outputs = [o.name for o in session.get_outputs()]
        self.input_names = frozenset(i.name for i in session.get_inputs())

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._outputs, self._session.run(self._outputs, inputs)))


def providers(settings: RuntimeSettings) -> list[str | tuple[str, dict]]:
    """ONNX Runtime's providers argument: a name, or (name, options) where the profile gives options."""
    wanted = list(settings.execution_providers) or ["CPUExecutionProvider"]
    stray = set(settings.provider_options) - set(wanted)
    if stray:
        raise ModelError(f"provider_options name {', '.join(sorted(stray))}, which execution_providers does not list",
                         "add the provider to execution_providers or remove its options")
    for options in settings.provider_options.values():
        cache = options.get("trt_engine_cache_path")
        if cache and options.get("trt_engine_cache_enable"):
            try:
                Path(str(cache)).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ModelError(f"TensorRT engine cache {cache} cannot be created: {exc}",
                                 "set trt_engine_cache_path to a directory the box may write") from None
    return [(p, dict(settings.provider_options[p])) if p in settings.provider_options else p for p in wanted]


@register
class OnnxRuntimeBackend(Backend):
    key = "onnxruntime"

    def load(self, model_path: Path, settings: RuntimeSettings) -> OrtSession:
        wanted = list(settings.execution_providers) or ["CPUExecutionProvider"]
        available = set(ort.get_available_providers())
        missing = [p for p in wanted if p not in available]
        if missing:
            raise ModelError(
                f"ONNX Runtime on this box lacks execution provider(s) {', '.join(missing)} "
                f"(available: {', '.join(sorted(available))})",
                "install the matching onnxruntime build (onnxruntime-gpu for CUDA/TensorRT) or pick another profile",
            )
        chosen = providers(settings)
        opts = ort.SessionOptions()
        # Small models on a 2-core box: one intra-op thread each lets several
        # streams run side by side instead of fighting over both cores.
        opts.intra_op_num_threads = max(1, settings.threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            session = ort.InferenceSession(str(model_path), sess_options=opts, providers=chosen)
        except Exception as exc:  # ORT raises its own untyped errors for bad graphs
            raise ModelError(f"ONNX Runtime cannot load {model_path}: {exc}", "re-provision the model") from None
        return OrtSession(session)
