"""TensorRT engines for Jetson profiles: FP16, built from an ONNX graph (INT8 calibration is not built yet).

Runs only where TensorRT's Python package is installed (a Jetson with
JetPack); elsewhere it stops with a clear message and builds nothing. The
Jetson profiles then run the graph through ONNX Runtime's TensorRT execution
provider with an engine cache, so an engine built once is reused at start-up.
"""

from __future__ import annotations

from pathlib import Path


class TensorRTUnavailable(RuntimeError):
    pass


def build_engine(onnx_path: Path, out: Path, *, fp16: bool = True) -> Path:
    try:
        import tensorrt as trt  # noqa: F401  (JetPack ships it; PyPI wheels here do not fit a Jetson)
    except ImportError:
        raise TensorRTUnavailable(
            "TensorRT is not installed on this machine: engines are built on the Jetson itself "
            "(JetPack provides the tensorrt package). Skipped; nothing was built.") from None
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {parser.get_error(0)}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    engine = builder.build_serialized_network(network, config)
    out.write_bytes(bytes(engine))
    return out
