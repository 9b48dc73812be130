"""OpenVINO: Intel CPUs and iGPUs (the intel-nuc profile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

from edge.backends.base import Backend, RuntimeSettings, register
from edge.errors import ModelError

# Lower precisions lose accuracy; asking for one the device lacks gets a higher one.
_RANK = {"f32": 2, "bf16": 1, "f16": 1}


class OpenVinoSession:
    def __init__(self, compiled: ov.CompiledModel) -> None:
        self.compiled = compiled
        self._request = compiled.create_infer_request()
        # ONNX names survive import as one of several tensor names; key by all of them.
        self._outputs = [sorted(o.get_names()) for o in compiled.outputs]
        self.input_names = frozenset(i.get_any_name() for i in compiled.inputs)

    @property
    def inference_precisions(self) -> dict[str, str]:
        """The precision the model really runs in, per execution device ({"CPU": "f32"})."""
        return _precisions(self.compiled)

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
        threads = max(1, settings.threads)
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if device == "AUTO":
            # AUTO refuses the precision hint itself: each device it may pick gets it.
            devices = sorted({d.split(".")[0] for d in core.available_devices})
            config["DEVICE_PROPERTIES"] = {
                d: {"INFERENCE_PRECISION_HINT": settings.precision} | ({"INFERENCE_NUM_THREADS": threads} if d == "CPU" else {})
                for d in devices
            }
        else:
            config |= {"INFERENCE_PRECISION_HINT": settings.precision}
            if device == "CPU":
                config["INFERENCE_NUM_THREADS"] = threads
        try:
            compiled = core.compile_model(str(model_path), device, config)
        except Exception as exc:
            raise ModelError(f"OpenVINO cannot compile {model_path}: {exc}", "re-provision the model") from None
        for where, got in _precisions(compiled).items():
            if _RANK.get(got, 0) < _RANK[settings.precision]:
                raise ModelError(
                    f"OpenVINO runs {model_path.name} in {got} on {where}, but the profile asks for {settings.precision}",
                    "run this model on a device that supports that precision (device: cpu)",
                )
        return OpenVinoSession(compiled)


def _precisions(compiled: ov.CompiledModel) -> dict[str, str]:
    devices = compiled.get_property("EXECUTION_DEVICES")
    try:
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    except RuntimeError:  # AUTO and MULTI keep it per device
        per_device = compiled.get_property("DEVICE_PROPERTIES")
        return {
            d: props["INFERENCE_PRECISION_HINT"].get_type_name()
            for d, props in per_device.items()
            if d in devices and "INFERENCE_PRECISION_HINT" in props
        }
    return {d: precision.get_type_name() for d in devices}
