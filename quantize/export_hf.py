"""Export a Hugging Face model directory or a GGUF file to ONNX (optimum-onnx) or OpenVINO IR (optimum-intel).

This is the torch path, for models the box does not build itself: it runs in
`.venv-quantize` (`make quantize-venv`, the `quantize` extra). The box's own
embedder keeps its torch-free exporter (quantize/bert_onnx.py) for
provisioning. Everything a user can get wrong (a missing path, a file that is
not a model, an output that would overwrite something) is checked here before
torch is imported, so a refusal is quick and names the fix.

Output layouts are the ones the runtimes load directly:
- onnx: optimum's directory: model.onnx (+ model.onnx_data for large graphs),
  config.json, tokenizer files. A causal LM gets past key values as inputs and
  present key values and logits as outputs (task text-generation-with-past).
- openvino: openvino_model.xml/.bin, config.json, tokenizer files and the
  OpenVINO tokenizer/detokenizer models (what OpenVINO GenAI needs).

A GGUF file is read through transformers (gguf_file=, which de-quantizes to
fp32) into a temporary HF directory next to the output, then exported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edge.errors import EdgeError

TARGETS = ("onnx", "openvino")
GGUF_MAGIC = b"GGUF"
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
EXTRA_FIX = ("build the torch environment with `make quantize-venv`, then run the same command with "
             ".venv-quantize/bin/python -m quantize ...")


class ExportError(EdgeError):
    """The source, the target or the output of an export is unusable; the message says which and how to fix it."""


def describe_source(src: Path) -> str:
    """'hf' for a Hugging Face model directory, 'gguf' for a GGUF file; anything else is refused."""
    if not src.exists():
        raise ExportError(f"{src} does not exist",
                          "give a Hugging Face model directory (config.json + weights) or a .gguf file")
    if src.is_dir():
        if not (src / "config.json").is_file():
            raise ExportError(f"{src} is not a Hugging Face model directory: it has no config.json",
                              "point at the folder that holds config.json and the weights (for a GGUF model, "
                              "at the .gguf file itself)")
        try:
            config = json.loads((src / "config.json").read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExportError(f"{src / 'config.json'} is not valid JSON ({exc})",
                              "restore the model's config.json") from None
        if not isinstance(config, dict) or "model_type" not in config:
            raise ExportError(f"{src / 'config.json'} has no model_type, so it is not a transformers model config",
                              "restore the model's config.json")
        if not any(any(src.glob(p)) for p in WEIGHT_PATTERNS):
            raise ExportError(f"{src} has a config.json but no weights (*.safetensors or pytorch_model.bin)",
                              "copy the model's weight files into the directory")
        return "hf"
    with src.open("rb") as fh:
        head = fh.read(4)
    if head != GGUF_MAGIC:
        raise ExportError(f"{src} is not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r})",
                          "give a .gguf file or a Hugging Face model directory")
    return "gguf"


def check_output(out: Path) -> None:
    """The output must be a new or empty directory: an export never writes over an earlier one."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty directory",
                          "choose a new output directory, or remove the old one first")


def require_extra(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        raise ExportError(f"this needs {', '.join(missing)} (the `quantize` extra with PyTorch), which this Python "
                          "environment does not have", EXTRA_FIX)


def task_for(config: dict) -> str:
    """optimum's task name: causal LMs keep their KV cache as graph inputs/outputs; encoders give hidden states."""
    architectures = config.get("architectures") or []
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "text-generation-with-past"
    return "feature-extraction"


@contextlib.contextmanager
def hf_directory(src: Path, work: Path) -> Iterator[Path]:
    """A Hugging Face directory for `src`: itself, or for a GGUF file a de-quantized fp32 copy removed afterwards."""
    if describe_source(src) == "hf":
        yield src
        return
    require_extra("torch", "transformers", "gguf", "accelerate")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hf-from-gguf-", dir=work) as tmp:
        tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
        # The GGUF's quantization description would make save_pretrained write a config that no exporter reads.
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        yield Path(tmp)


def export(src: Path, out: Path, to: str, *, task: str | None = None) -> Path:
    """Export `src` (HF directory or GGUF file) to `out` (a new directory) as `to` (onnx or openvino)."""
    if to not in TARGETS:
        raise ExportError(f"unknown export target {to!r}", f"use --to {' or --to '.join(TARGETS)}")
    describe_source(src)
    check_output(out)
    require_extra("torch", "transformers", "optimum")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never wait on a hub that cannot be reached
    with published(out) as partial, hf_directory(src, out.parent) as model_dir:
        chosen = task or task_for(json.loads((model_dir / "config.json").read_text()))
        if to == "onnx":
            _to_onnx(model_dir, partial, chosen)
        else:
            _to_openvino(model_dir, partial, chosen)
    return out


@contextlib.contextmanager
def published(out: Path) -> Iterator[Path]:
    """A directory to build `out` in, moved in place whole once the block succeeds.

    Written beside the output, so a failed build leaves no half directory named
    `out` (check_output has made sure `out` is absent or empty).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        yield partial
        if out.exists():
            out.rmdir()
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _to_onnx(model_dir: Path, out: Path, task: str) -> None:
    require_extra("optimum.exporters.onnx")
    from optimum.exporters.onnx import main_export

    # fp32 stated: the exporter would otherwise follow the checkpoint's dtype, and a gate compares against fp32.
    main_export(str(model_dir), out, task=task, library_name="transformers", local_files_only=True, dtype="fp32",
                device="cpu")


def _to_openvino(model_dir: Path, out: Path, task: str) -> None:
    require_extra("optimum.intel", "openvino", "nncf")
    from optimum.exporters.openvino import main_export
    from optimum.intel import OVConfig

    # dtype fp32: optimum-intel compresses weights of larger models to int8 by default; compression is a separate,
    # gated step here (quantize/nncf_compress.py), so the export itself stays the fp32 reference.
    main_export(str(model_dir), out, task=task, library_name="transformers", local_files_only=True,
                convert_tokenizer=True, ov_config=OVConfig(dtype="fp32"))
    if not (out / "openvino_tokenizer.xml").is_file():
        # Seen with SmolLM2's tokenizer as transformers rebuilds it from a GGUF: openvino-tokenizers 2026.4.1 fails
        # ("index '2' out of range") and optimum-intel only logs it. OpenVINO core loads the IR (with tokenizer.json);
        # OpenVINO GenAI cannot, so say so rather than leave a directory that looks complete.
        print(f"warning: no OpenVINO tokenizer model was written to {out.name} (openvino-tokenizers could not convert "
              "this tokenizer): OpenVINO core and quantize.llm_eval load the IR with tokenizer.json; OpenVINO GenAI "
              "needs openvino_tokenizer.xml (for a GGUF, GenAI writes it itself: quantize.llm_eval.ir_from_gguf)",
              file=sys.stderr)
