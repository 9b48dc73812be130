"""Convert a Hugging Face directory or a GGUF file to CTranslate2, with its weights stored in a chosen type.

    python -m quantize ct2 SRC OUT_DIR [--quantization int8|int8_float32|float16|...]

The stored type is what the model.bin holds; at load time CTranslate2 may
still run it in another compute type (the box's ASR picks one per profile and
`python -m quantize eval` measures each). The conversion reads the checkpoint
through transformers, so it runs in .venv-quantize (the `quantize` extra);
loading the result needs only ctranslate2 (the box's runtime).
Encoders (BERT family) load as ctranslate2.Encoder, causal LMs (Llama family,
e.g. SmolLM2 from its GGUF) as ctranslate2.Generator.
"""

from __future__ import annotations

import os
from pathlib import Path

from quantize.export_hf import ExportError, check_output, describe_source, hf_directory, published, require_extra

QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")
# Small files a runtime needs beside model.bin (a tokenizer to turn text into the tokens CTranslate2 takes).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                   "generation_config.json", "chat_template.jinja")


def convert(src: Path, out: Path, quantization: str = "int8") -> Path:
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"unknown CTranslate2 quantization {quantization!r}",
                          f"use --quantization {' | '.join(QUANTIZATIONS)}")
    describe_source(src)
    check_output(out)
    require_extra("torch", "transformers", "ctranslate2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ctranslate2.converters import TransformersConverter

    with published(out) as partial, hf_directory(src, out.parent) as model_dir:
        kept = [f for f in TOKENIZER_FILES if (model_dir / f).is_file()]
        TransformersConverter(str(model_dir), copy_files=kept, low_cpu_mem_usage=True).convert(
            str(partial), quantization=quantization, force=True)
    return out


def load(model_dir: Path, compute_type: str = "default", threads: int = 2):
    """The converted model as the CTranslate2 object that runs it (Encoder or Generator), on CPU."""
    import ctranslate2

    if not (model_dir / "model.bin").is_file():
        raise ExportError(f"{model_dir} is not a CTranslate2 model directory: it has no model.bin",
                          "convert first: python -m quantize ct2 SRC OUT_DIR")
    # The model.bin's spec decides which runtime class takes it; the wrong one refuses at load.
    try:
        return ctranslate2.Encoder(str(model_dir), device="cpu", compute_type=compute_type, intra_threads=threads)
    except (RuntimeError, ValueError):
        return ctranslate2.Generator(str(model_dir), device="cpu", compute_type=compute_type, intra_threads=threads)
