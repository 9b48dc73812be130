"""TensorRT engines for Jetson profiles: FP16, or INT8 calibrated on our own data, built from an ONNX graph.

Runs only where TensorRT's Python package is installed (a Jetson with
JetPack); elsewhere it stops with a clear message and builds nothing. The
Jetson profiles run graphs through ONNX Runtime's TensorRT execution provider
with an engine cache (firmware_configs/jetson-orin.yaml), so an engine is built
once per device and reused at start-up.

INT8 needs a calibration set: numpy batches this module writes
(`write_calibration_set`, an .npz with one array per graph input, first axis
the samples) and feeds to TensorRT's entropy calibrator
(IInt8EntropyCalibrator2). The feeding logic (`CalibrationFeeder`: fixed
batch size, inputs by name, end of data, the calibration cache) is plain
Python over a small device-memory interface, so it is tested on any machine;
only `CudaMemory` and the build itself need a GPU. The calibration cache it
writes is TensorRT's native table: ONNX Runtime's TensorRT provider reads it
with trt_int8_use_native_calibration_table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np


class TensorRTUnavailable(RuntimeError):
    pass


SKIP_MESSAGE = ("TensorRT is not installed on this machine: engines are built on the Jetson itself "
                "(JetPack provides the tensorrt package). Skipped; nothing was built.")


def _tensorrt():
    try:
        import tensorrt as trt  # JetPack ships it; PyPI wheels here do not fit a Jetson
    except ImportError:
        raise TensorRTUnavailable(SKIP_MESSAGE) from None
    return trt


# --- the calibration set -------------------------------------------------------------------------------

def write_calibration_set(path: Path, inputs: dict[str, np.ndarray]) -> Path:
    """Store calibration samples: one array per graph input name, all with the same number of samples."""
    counts = {name: len(a) for name, a in inputs.items()}
    if not inputs or len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"calibration inputs must be non-empty and agree on the number of samples: {counts}")
    np.savez(path, **{name: np.ascontiguousarray(a) for name, a in inputs.items()})
    return Path(path)


def read_calibration_set(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a calibration set (.npz of input arrays): {exc}") from None


def sentence_calibration_set(tokenizer_json: Path, texts: list[str], *, seq_len: int = 64) -> dict[str, np.ndarray]:
    """Token ids and masks of `texts` for a BERT-family encoder, padded or cut to one length (a fixed
    shape: the calibrator's batches must all match the optimization profile)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.enable_truncation(seq_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=seq_len)
    enc = tok.encode_batch(texts)
    return {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}


class DeviceMemory(Protocol):
    """Where calibration batches go: TensorRT reads them from device pointers."""

    def alloc(self, nbytes: int) -> int: ...
    def copy_in(self, pointer: int, array: np.ndarray) -> None: ...
    def free(self, pointer: int) -> None: ...


class CalibrationFeeder:
    """Hands TensorRT one batch after another, each input copied to its own device buffer.

    TensorRT asks for inputs by name (`next(names)`), in an order it chooses,
    and takes None as the end of data. Every batch has exactly `batch_size`
    samples (the calibrator's contract): a last partial batch is left out and
    counted in `dropped`. The buffers are allocated once, at the first batch.
    """

    def __init__(self, inputs: dict[str, np.ndarray], batch_size: int, memory: DeviceMemory,
                 cache: Path | None = None) -> None:
        n = {len(a) for a in inputs.values()}
        if len(n) != 1:
            raise ValueError(f"calibration inputs disagree on the number of samples: "
                             f"{ {k: len(a) for k, a in inputs.items()} }")
        total = n.pop()
        if batch_size < 1 or total < batch_size:
            raise ValueError(f"the calibration set has {total} samples, fewer than one batch of {batch_size}")
        self.inputs = inputs
        self.batch_size = batch_size
        self.batches = total // batch_size
        self.dropped = total - self.batches * batch_size
        self.memory = memory
        self.cache = Path(cache) if cache else None
        self._next = 0
        self._buffers: dict[str, int] = {}

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for b in range(self.batches):
            yield {k: np.ascontiguousarray(a[b * self.batch_size:(b + 1) * self.batch_size])
                   for k, a in self.inputs.items()}

    def next(self, names: list[str]) -> list[int] | None:
        if self._next >= self.batches:
            return None
        unknown = [n for n in names if n not in self.inputs]
        if unknown:
            raise KeyError(f"TensorRT asks for input(s) {unknown} the calibration set lacks "
                           f"(it has {sorted(self.inputs)})")
        lo, hi = self._next * self.batch_size, (self._next + 1) * self.batch_size
        pointers = []
        for name in names:
            batch = np.ascontiguousarray(self.inputs[name][lo:hi])
            if name not in self._buffers:
                self._buffers[name] = self.memory.alloc(batch.nbytes)
            self.memory.copy_in(self._buffers[name], batch)
            pointers.append(self._buffers[name])
        self._next += 1
        return pointers

    def read_cache(self) -> bytes | None:
        # A cache from an earlier run skips calibration: TensorRT then never asks for a batch.
        return self.cache.read_bytes() if self.cache and self.cache.is_file() else None

    def write_cache(self, table: bytes) -> None:
        if self.cache:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            self.cache.write_bytes(bytes(table))

    def close(self) -> None:
        for pointer in self._buffers.values():
            self.memory.free(pointer)
        self._buffers.clear()


class CudaMemory:
    """Device buffers through cuda-python's runtime API (NVIDIA's own TensorRT samples use it)."""

    def __init__(self) -> None:
        try:
            from cuda import cudart  # cuda-python
        except ImportError:
            raise TensorRTUnavailable("INT8 calibration copies batches to the GPU with cuda-python: "
                                      "pip install cuda-python (the version matching JetPack's CUDA)") from None
        self._rt = cudart

    def _check(self, result):
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise RuntimeError(f"CUDA runtime error {err}")
        return rest[0] if rest else None

    def alloc(self, nbytes: int) -> int:
        return int(self._check(self._rt.cudaMalloc(nbytes)))

    def copy_in(self, pointer: int, array: np.ndarray) -> None:
        self._check(self._rt.cudaMemcpy(pointer, array.ctypes.data, array.nbytes,
                                        self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice))

    def free(self, pointer: int) -> None:
        self._check(self._rt.cudaFree(pointer))


def entropy_calibrator(trt, feeder: CalibrationFeeder):
    """A trt.IInt8EntropyCalibrator2 that delegates to `feeder` (made here: the base class exists only with TensorRT)."""

    class _Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self) -> int:
            return feeder.batch_size

        def get_batch(self, names, *_):
            return feeder.next(list(names))

        def read_calibration_cache(self):
            return feeder.read_cache()

        def write_calibration_cache(self, cache) -> None:
            feeder.write_cache(cache)

    return _Calibrator()


# --- the build -------------------------------------------------------------------------------------------

def build_engine(onnx_path: Path, out: Path, *, precision: str = "fp16", calibration: Path | None = None,
                 batch_size: int = 8, cache: Path | None = None) -> Path:
    """Build a serialized engine. `precision` is fp16 or int8; int8 needs `calibration` (an .npz from
    write_calibration_set) and writes TensorRT's calibration table to `cache` (default: OUT.calib)."""
    if precision not in ("fp16", "int8"):
        raise ValueError(f"precision {precision!r}: use fp16 or int8")
    if precision == "int8":
        if calibration is None:
            raise ValueError("int8 needs a calibration set: --calibration SET.npz (see quantize/README.md)")
        inputs = read_calibration_set(calibration)  # checked before TensorRT: a bad set fails everywhere
    trt = _tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 8.x needs explicit batch asked for; 10.x has only explicit batch and ignores the flag.
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    network = builder.create_network(0 if flag is None else 1 << int(flag))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {parser.get_error(0)}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)  # INT8 layers fall back to FP16, not FP32, where INT8 has no kernel
    feeder = None
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            if tensor.name not in inputs:
                raise ValueError(f"the calibration set has no {tensor.name!r} (it has {sorted(inputs)})")
            shape = (batch_size, *inputs[tensor.name].shape[1:])
            # Calibration runs at the set's own shape; inference may use any batch up to it.
            profile.set_shape(tensor.name, (1, *shape[1:]), shape, shape)
        config.add_optimization_profile(profile)
        config.set_calibration_profile(profile)
        feeder = CalibrationFeeder(inputs, batch_size, CudaMemory(), cache or out.with_suffix(".calib"))
        config.int8_calibrator = entropy_calibrator(trt, feeder)
    try:
        engine = builder.build_serialized_network(network, config)
    finally:
        if feeder:
            feeder.close()
    if engine is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path} (see its log above)")
    out.write_bytes(bytes(engine))
    return out


def embedder_calibration_set(out: Path, *, seq_len: int = 64, registry=None) -> Path:
    """The sentence embedder's calibration set: the tagger's tuning sentences and the bench news sentences
    (never the labelled test set), tokenized by the registered embedder's own tokenizer."""
    from edge.registry import Registry
    from edge.tagging.embeddings import EmbedderChoice
    from quantize.distill_corpus import news_sentences

    texts = news_sentences()[:512]
    tokenizer = (registry or Registry()).resolve(EmbedderChoice().model)[1] / "tokenizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_calibration_set(out, sentence_calibration_set(tokenizer, texts, seq_len=seq_len))
