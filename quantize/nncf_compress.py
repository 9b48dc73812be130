"""Weight compression of an OpenVINO IR directory with NNCF (int8 / int4 weights, activations stay float).

    python -m quantize int8 IR_DIR OUT_DIR [--method int8-asym|int8-sym]
    python -m quantize int4 IR_DIR OUT_DIR [--method int4-sym|int4-asym] [--group-size 64] [--ratio 1.0]

IR_DIR is what `python -m quantize export --to openvino` writes; OUT_DIR gets
the compressed openvino_model.xml/.bin and a copy of every other file
(tokenizers, config), so it loads exactly as the source did. Data-free: NNCF
compresses from the weights alone, no calibration set. Runs where nncf is
installed (the `quantize` extra, .venv-quantize).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from quantize.export_hf import ExportError, check_output, published, require_extra

MODEL_XML = "openvino_model.xml"
# method -> nncf.CompressWeightsMode member. Symmetric int4 is NNCF's default 4-bit mode; asym keeps a zero point
# per group, which costs a little size and often recovers accuracy on small models.
METHODS = {"int8-asym": "INT8_ASYM", "int8-sym": "INT8_SYM", "int4-sym": "INT4_SYM", "int4-asym": "INT4_ASYM"}


def is_ir_dir(path: Path) -> bool:
    return path.is_dir() and (path / MODEL_XML).is_file()


def check_source(src: Path) -> None:
    if not src.exists():
        raise ExportError(f"{src} does not exist", "give the directory `python -m quantize export --to openvino` wrote")
    if not is_ir_dir(src):
        raise ExportError(f"{src} is not an OpenVINO IR directory: it has no {MODEL_XML}",
                          "export first: python -m quantize export SRC IR_DIR --to openvino")
    if not (src / MODEL_XML).with_suffix(".bin").is_file():
        raise ExportError(f"{src} has {MODEL_XML} but not its weights (openvino_model.bin)", "export the model again")


def compress(src: Path, out: Path, method: str, *, group_size: int | None = None, ratio: float | None = None) -> Path:
    """Write `src`'s IR with NNCF-compressed weights to `out` (a new directory) and return it."""
    if method not in METHODS:
        raise ExportError(f"unknown NNCF method {method!r}", f"use one of {', '.join(METHODS)}")
    check_source(src)
    check_output(out)
    four_bit = method.startswith("int4")
    if not four_bit and (group_size is not None or ratio is not None):
        raise ExportError("--group-size and --ratio apply to int4 only", "drop them, or use the int4 command")
    if ratio is not None and not 0 < ratio <= 1:
        raise ExportError(f"--ratio {ratio} is outside (0, 1]", "give the share of layers to put in 4 bits, e.g. 0.8")
    if group_size is not None and group_size not in (-1, 32, 64, 128):
        raise ExportError(f"--group-size {group_size} is not supported", "use 32, 64, 128 or -1 (per channel)")
    require_extra("nncf", "openvino")
    import nncf
    import openvino as ov

    model = ov.Core().read_model(src / MODEL_XML)
    kwargs: dict = {"mode": getattr(nncf.CompressWeightsMode, METHODS[method])}
    if four_bit:
        # The rest of the layers (1 - ratio) stay int8_asym, NNCF's backup precision.
        kwargs.update(group_size=group_size or 64, ratio=1.0 if ratio is None else ratio)
    compressed = nncf.compress_weights(model, **kwargs)
    with published(out) as partial:
        partial.mkdir()
        # compress_to_fp16=False: the float parts keep the reference's precision; only the weights change.
        ov.save_model(compressed, partial / MODEL_XML, compress_to_fp16=False)
        for item in src.iterdir():
            if item.name not in (MODEL_XML, "openvino_model.bin") and item.is_file():
                shutil.copy2(item, partial / item.name)
    return out
