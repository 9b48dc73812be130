"""CTranslate2: Whisper (and other seq2seq models) on CPU or CUDA."""

from __future__ import annotations

from pathlib import Path

import ctranslate2

from edge.backends.base import Backend, RuntimeSettings, register
from edge.errors import ModelError


@register
class CTranslate2Backend(Backend):
    key = "ctranslate2"

    def load(self, model_path: Path, settings: RuntimeSettings) -> ctranslate2.models.Whisper:
        device = settings.device
        supported = ctranslate2.get_supported_compute_types(device)
        if settings.compute_type not in supported and settings.compute_type != "default":
            raise ModelError(
                f"compute type '{settings.compute_type}' is not supported on {device} here "
                f"(supported: {', '.join(sorted(supported))})",
                "set compute_type in the profile to one of those",
            )
        try:
            return ctranslate2.models.Whisper(
                str(model_path),
                device=device,
                compute_type=settings.compute_type,
                intra_threads=max(1, settings.threads),
                # One worker: a per-process scheduler decides which stream goes next.
                inter_threads=1,
            )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"CTranslate2 cannot load {model_path}: {exc}", "re-provision the model") from None
