"""ONNX Runtime quantization of a graph: dynamic int8, static int8 with calibration, weight-only int4/int8.

Each method writes a new file atomically and never touches its input. Which
one keeps a model's quality is an empirical question per model: `evaluate`
measures it and `gates` decides, so nothing here claims a method is safe.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

METHODS = ("dynamic-int8", "dynamic-int8-per-tensor", "static-int8", "weight-int8", "weight-int4")


def _tmp(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.name}.tmp-{os.getpid()}")


def quantize(src: Path, out: Path, method: str, calibration: Iterable[dict[str, np.ndarray]] | None = None) -> Path:
    """Write `src` quantized by `method` (see METHODS) to `out`."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    tmp = _tmp(out)
    try:
        if method.startswith("dynamic-int8"):
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8,
                             per_channel=method == "dynamic-int8", op_types_to_quantize=["MatMul"])
        elif method == "static-int8":
            if calibration is None:
                raise ValueError("static-int8 needs calibration inputs (a few hundred real examples)")
            _static(src, tmp, calibration)
        else:
            _weight_only(src, tmp, bits=8 if method == "weight-int8" else 4)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _static(src: Path, tmp: Path, calibration: Iterable[dict[str, np.ndarray]]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self, batches: Iterable[dict[str, np.ndarray]]) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    quantize_static(str(src), str(tmp), Reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8, op_types_to_quantize=["MatMul"])


def _weight_only(src: Path, tmp: Path, bits: int) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    # accuracy_level 4: int8 activations in the kernel; block 32 keeps small models usable at 4 bits.
    q = MatMulNBitsQuantizer(onnx.load(str(src)), bits=bits, block_size=32, is_symmetric=True, accuracy_level=4)
    q.process()
    q.model.save_model_to_file(str(tmp), use_external_data_format=False)


CALIBRATION_TEXT = Path(__file__).resolve().parent.parent / "bench" / "data" / "topics_tune.jsonl"


def text_calibration(tokenizer_json: Path, batch: int = 4) -> Iterator[dict[str, np.ndarray]]:
    """Calibration inputs for a sentence encoder: the tuning sentences (never the held test set)."""
    import json

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.enable_padding(pad_id=0)
    tok.enable_truncation(256)
    texts = [json.loads(line)["text"] for line in CALIBRATION_TEXT.read_text().splitlines()]
    for i in range(0, len(texts), batch):
        enc = tok.encode_batch(texts[i:i + batch])
        yield {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
               "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}

