"""The drafting model, from the device profile's `llm` entry through the registry and a backend plugin.

Loading never raises: a missing, damaged or unloadable model is reported as
a reason, and drafts are then extractive (the speakers' own words), so a bad
model file costs the box its model-written prose, never its drafts or its
captions. One loaded model is shared per process (it is ~100-450 MB).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from edge.backends.base import TextGenerator, get_backend
from edge.errors import EdgeError
from edge.registry import Registry

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[tuple, tuple[TextGenerator | None, str | None, dict[str, Any]]] = {}


def load_llm(llm: Any, registry: Registry | None = None) -> tuple[TextGenerator | None, str | None, dict[str, Any]]:
    """(model, None, info) or (None, why not, info) for a profile's LlmChoice."""
    registry = registry or Registry()
    key = (str(registry.root), llm.model, llm.backend, llm.device, llm.threads, llm.precision,
           llm.dynamic_quantization_group_size, llm.kv_cache_precision)
    with _lock:
        if key in _cache:
            return _cache[key]
        info: dict[str, Any] = {"name": llm.model, "backend": llm.backend, "precision": llm.precision,
                                "threads": llm.threads}
        try:
            manifest, directory = registry.resolve(llm.model)
            if manifest.task != "llm":
                raise EdgeError(f"model '{llm.model}' is a {manifest.task} model, not a language model",
                                "set the profile's llm.model to a manifest with task: llm")
            info["quantization"] = manifest.precision
            model = get_backend(llm.backend).load(directory, llm.runtime())
            model.model_name = manifest.name
            model.quantization = manifest.precision
            result: tuple[TextGenerator | None, str | None, dict[str, Any]] = (model, None, info)
        except EdgeError as exc:
            log.warning("drafts fall back to extractive: %s", exc)
            result = (None, str(exc), info)
        _cache[key] = result
        return result


def forget() -> None:
    """Drop loaded models (tests that swap model files)."""
    with _lock:
        _cache.clear()
