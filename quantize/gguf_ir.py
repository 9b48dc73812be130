"""The box's GGUF language model as an OpenVINO IR that keeps the GGUF's weights exactly, without torch.

OpenVINO GenAI (2026.4) converts a GGUF in memory at every load. A Q4_1 block
stores 32 four-bit values q, a scale d and an offset m (w = d*q + m); GenAI
turns it into OpenVINO's u4 weight compression, w = d*(q - z), whose zero
point z is a u4 integer, so the offset is rounded: z = round(-m/d). That
moves every weight of a block by up to half a step (measured on SmolLM2-135M:
|round(-m/d) + m/d| averages 0.25 step over all 210 Q4_1 matrices), and cost
the model x1.21 perplexity against the same GGUF dequantized exactly (52.26
vs 43.27 on the held passages). No pipeline property changes the conversion.

build_ir() therefore takes the IR GenAI builds (its graph, its tokenizer and
chat template: what the box ran before) and replaces each rounded zero point
by the exact offset -m/d, read from the GGUF itself, as an f16 constant (its
spacing is at most 1/128 of a step for |z| < 16). The weights stay 4-bit and
in place, so the CPU plugin still runs them as compressed weights. Measured:
perplexity 43.28, x1.0004 the fp32 reference.

The GGUF reader below is the few lines this needs (header, metadata skipped,
tensor table, Q4_1 blocks); the `gguf` package would pull requests and tqdm
into the box for the same.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np

from edge.errors import ModelError

Q4_1 = 3  # ggml_type
Q4_1_BLOCK = 32
Q4_1_BYTES = 20  # f16 d, f16 m, 16 bytes of nibbles
OUTPUTS = ("openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml", "openvino_tokenizer.bin",
           "openvino_detokenizer.xml", "openvino_detokenizer.bin")

# GGUF metadata value types: fixed sizes; 8 is a string, 9 an array.
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _Reader:
    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise ModelError(f"{self.path} ends inside its GGUF header (truncated?)", "provision the model again")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return bytes(self.take(self.u64())).decode("utf-8", "replace")

    def value(self, vtype: int) -> object:
        if vtype in _SCALAR:
            raw = bytes(self.take(_SCALAR[vtype]))
            return struct.unpack("<I", raw)[0] if vtype == 4 else raw
        if vtype == 8:
            return self.string()
        if vtype == 9:
            item, count = self.u32(), self.u64()
            if item in _SCALAR:  # skipped whole: the tokenizer's arrays hold ~50k entries
                self.take(_SCALAR[item] * count)
                return None
            for _ in range(count):
                self.value(item)
            return None
        raise ModelError(f"{self.path}: unknown GGUF metadata type {vtype}", "is it a GGUF file of version 2 or 3?")


def q4_1_offsets(path: Path) -> dict[bytes, np.ndarray]:
    """Every Q4_1 weight row's offsets m (f16), keyed by the bytes of that row's scales d.

    Keyed by content, not by name: GenAI's graph names its constants itself
    and reorders rows (the q and k projections are permuted back for RoPE), but
    a row's block scales travel with it, and a row of 18+ f16 scales is unique.
    """
    data = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(data)
    r = _Reader(buf, path)
    if bytes(r.take(4)) != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file", "point at the model's .gguf file")
    version = r.u32()
    if version not in (2, 3):
        raise ModelError(f"{path} is GGUF version {version}; this reader knows 2 and 3", "convert it with llama.cpp")
    n_tensors, n_kv = r.u64(), r.u64()
    alignment = 32
    for _ in range(n_kv):
        key, vtype = r.string(), r.u32()
        value = r.value(vtype)
        if key == "general.alignment" and isinstance(value, int):
            alignment = value
    tensors = []
    for _ in range(n_tensors):
        r.string()
        dims = [r.u64() for _ in range(r.u32())]
        tensors.append((dims, r.u32(), r.u64()))
    start = -(-r.pos // alignment) * alignment
    rows: dict[bytes, np.ndarray] = {}
    for dims, ttype, offset in tensors:
        if ttype != Q4_1:
            continue
        per_row, n_rows = dims[0] // Q4_1_BLOCK, int(np.prod(dims[1:]))
        blocks = np.asarray(data[start + offset:start + offset + n_rows * per_row * Q4_1_BYTES])
        if blocks.size != n_rows * per_row * Q4_1_BYTES:
            raise ModelError(f"{path} is shorter than its tensor table says (truncated?)", "provision the model again")
        blocks = blocks.reshape(n_rows, per_row, Q4_1_BYTES)
        d = np.ascontiguousarray(blocks[:, :, 0:2]).view(np.float16)[..., 0]
        m = np.ascontiguousarray(blocks[:, :, 2:4]).view(np.float16)[..., 0]
        for i in range(n_rows):
            rows[d[i].tobytes()] = m[i]
    return rows


def exact_zero_points(model, offsets: dict[bytes, np.ndarray]) -> int:
    """Replace each u4 zero point of GenAI's Q4_1 weights by -m/d; the number of weights changed."""
    import openvino as ov
    from openvino import opset13 as ops

    changed = 0
    for sub in model.get_ordered_ops():
        if sub.get_type_name() != "Subtract":
            continue
        convert = sub.input(1).get_source_output().get_node()
        zp = convert.input(0).get_source_output().get_node() if convert.get_type_name() == "Convert" else None
        if zp is None or zp.get_type_name() != "Constant" or zp.get_element_type() != ov.Type.u4:
            continue
        users = list(sub.output(0).get_target_inputs())
        scale = users[0].get_node().input(1).get_source_output().get_node() if len(users) == 1 else None
        if scale is None or scale.get_type_name() != "Constant":
            raise ModelError("OpenVINO GenAI's Q4_1 weights are not (q - z) * scale any more",
                             "check the openvino-genai version this was written for (2026.4)")
        shape = tuple(scale.get_output_shape(0))  # [rows, blocks, 1]
        d = scale.get_data().astype(np.float16).reshape(shape[0], -1)
        try:
            m = np.stack([offsets[row.tobytes()] for row in d]).astype(np.float32)
        except KeyError:
            raise ModelError("a Q4_1 weight of GenAI's IR has no matching rows in the GGUF",
                             "build the IR from the same GGUF file") from None
        df = d.astype(np.float32)
        exact = np.where(df != 0, -m / np.where(df != 0, df, 1), 0).reshape(shape).astype(np.float16)
        convert.output(0).replace(ops.constant(exact).output(0))
        changed += 1
    return changed


def build_ir(gguf: Path, out_dir: Path) -> dict[str, int]:
    """Write GenAI's IR of `gguf`, with exact Q4_1 offsets, into out_dir (OUTPUTS); {'matrices': n} patched."""
    import openvino as ov

    from quantize.llm_eval import ir_from_gguf

    offsets = q4_1_offsets(gguf)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gguf-ir-", dir=out_dir) as tmp:
        genai = ir_from_gguf(gguf, Path(tmp))
        model = ov.Core().read_model(str(genai / "openvino_model.xml"))
        changed = exact_zero_points(model, offsets)
        if offsets and not changed:
            raise ModelError(f"OpenVINO GenAI's IR of {gguf.name} has no u4 zero points to correct",
                             "check the openvino-genai version this was written for (2026.4)")
        # f32 constants stay f32 (the norms): the gate compares against fp32.
        ov.save_model(model, str(Path(tmp) / "exact.xml"), compress_to_fp16=False)
        os.replace(Path(tmp) / "exact.xml", Path(tmp) / "openvino_model.xml")
        os.replace(Path(tmp) / "exact.bin", Path(tmp) / "openvino_model.bin")
        for name in OUTPUTS:
            shutil.move(str(Path(tmp) / name), str(out_dir / name))
    return {"matrices": changed}


def build_outputs(directory: Path, outputs: list[str], source: str) -> dict[str, str]:
    """Provisioning's build step (edge/registry.py, tool gguf-openvino): hashes of the files written."""
    from edge.registry import sha256_file

    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
        raise ModelError(f"build.tool gguf-openvino writes {', '.join(OUTPUTS)}, not {', '.join(unknown)}",
                         "fix the manifest's build.outputs")
    build_ir(directory / source, directory)
    return {name: sha256_file(directory / name) for name in outputs}
