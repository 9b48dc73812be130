"""OpenVINO: Intel CPUs and iGPUs (the intel-nuc profile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

from edge.backends.base import Backend, RuntimeSettings, register
from edge.errors import ModelError


class OpenVinoSession:
    def __init__(self, compiled: ov.CompiledModel) -> None:
        self._request = compiled.create_infer_request()
        # ONNX names survive import as one of several tensor names; key by all of them.
        self._outputs = [sorted(o.get_names()) for o in compiled.outputs]
        self.input_names = frozenset(i.get_any_name() for i in compiled.inputs)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self._request.infer(inputs)
        return {name: np.asarray(result[i]) for i, names in enumerate(self._outputs) for name in names}


@register
class OpenVinoBackend(Backend):
    key = "openvino"

    def load(self, model_path: Path, settings: RuntimeSettings) -> OpenVinoSession:
        core = ov.Core()
        device = settings.device.upper()
        if device not in core.available_devices and device not in {"AUTO", "CPU"}:
            raise ModelError(
                f"OpenVINO device '{device}' is not present (available: {', '.join(core.available_devices)})",
                "set device: cpu (or auto) in the profile",
            )
        config = {"INFERENCE_NUM_THREADS": max(1, settings.threads), "PERFORMANCE_HINT": "LATENCY"}
        try:
            compiled = core.compile_model(str(model_path), device, config)
        except Exception as exc:
            raise ModelError(f"OpenVINO cannot compile {model_path}: {exc}", "re-provision the model") from None
        return OpenVinoSession(compiled)
