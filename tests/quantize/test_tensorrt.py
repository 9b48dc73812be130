"""TensorRT: skipped with a reason where it is absent (simulated here, so these run on any machine); INT8 calibration batches fed the way TensorRT asks for them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edge.profiles import load_profile
from edge.registry import Registry
from quantize.tensorrt import (CalibrationFeeder, read_calibration_set, sentence_calibration_set,
                               write_calibration_set)



class HostMemory:
    """Buffers in host memory standing where device buffers would: they keep what was copied in."""

    def __init__(self) -> None:
        self.buffers: dict[int, np.ndarray] = {}
        self.allocations = 0

    def alloc(self, nbytes: int) -> int:
        self.allocations += 1
        pointer = 0x1000 * self.allocations
        self.buffers[pointer] = np.zeros(nbytes, dtype=np.uint8)
        return pointer

    def copy_in(self, pointer: int, array: np.ndarray) -> None:
        assert array.flags.c_contiguous and array.nbytes == self.buffers[pointer].nbytes
        self.buffers[pointer][:] = array.view(np.uint8).ravel()

    def free(self, pointer: int) -> None:
        del self.buffers[pointer]


def _cli(*args: str) -> subprocess.CompletedProcess:
    # A machine without TensorRT, whatever this one has: the child's import of tensorrt finds None.
    hide = "import sys, runpy; sys.modules['tensorrt'] = None; sys.argv = ['quantize', *sys.argv[1:]]; " \
           "runpy.run_module('quantize', run_name='__main__')"
    return subprocess.run([sys.executable, "-c", hide, *args], capture_output=True, text=True, timeout=60)


def test_tensorrt_is_skipped_with_a_reason_where_it_is_not_installed(tmp_path):
    for extra in ([], ["--precision", "int8", "--calibration", str(tmp_path / "c.npz")]):
        if extra:
            write_calibration_set(tmp_path / "c.npz", {"x": np.zeros((4, 2), np.float32)})
        out = _cli("tensorrt", "x.onnx", str(tmp_path / "x.engine"), *extra)
        assert out.returncode == 0 and "TensorRT is not installed" in out.stderr and "Skipped" in out.stderr
        assert not (tmp_path / "x.engine").exists()


def test_int8_without_a_calibration_set_is_an_error_naming_the_flag(tmp_path):
    out = _cli("tensorrt", "x.onnx", str(tmp_path / "x.engine"), "--precision", "int8")
    assert out.returncode == 2 and "--calibration" in out.stderr
    out = _cli("tensorrt", "x.onnx", str(tmp_path / "x.engine"), "--precision", "int8",
               "--calibration", str(tmp_path / "missing.npz"))
    assert out.returncode == 2 and "is not a calibration set" in out.stderr


def test_the_feeder_hands_fixed_size_batches_by_name_then_ends(tmp_path):
    ids = np.arange(10 * 3, dtype=np.int64).reshape(10, 3)
    mask = np.ones((10, 3), dtype=np.int64) * np.arange(10)[:, None]
    memory = HostMemory()
    feeder = CalibrationFeeder({"input_ids": ids, "attention_mask": mask}, 4, memory)
    assert (feeder.batches, feeder.dropped) == (2, 2)  # 10 samples: two batches of 4, the last 2 left out
    seen = []
    # TensorRT names the inputs in its own order; each pointer must hold that input's batch.
    while (pointers := feeder.next(["attention_mask", "input_ids"])) is not None:
        got_mask, got_ids = (memory.buffers[p].view(np.int64).reshape(4, 3) for p in pointers)
        seen.append((got_ids.copy(), got_mask.copy()))
    assert len(seen) == 2 and memory.allocations == 2  # buffers allocated once, reused per batch
    assert np.array_equal(seen[0][0], ids[:4]) and np.array_equal(seen[1][0], ids[4:8])
    assert np.array_equal(seen[1][1], mask[4:8])
    assert feeder.next(["input_ids"]) is None  # stays ended
    feeder.close()
    assert memory.buffers == {}


def test_the_feeder_refuses_sets_that_cannot_calibrate():
    with pytest.raises(ValueError, match="disagree"):
        CalibrationFeeder({"a": np.zeros((4, 1)), "b": np.zeros((5, 1))}, 2, HostMemory())
    with pytest.raises(ValueError, match="fewer than one batch"):
        CalibrationFeeder({"a": np.zeros((3, 1))}, 8, HostMemory())
    feeder = CalibrationFeeder({"a": np.zeros((4, 1))}, 2, HostMemory())
    with pytest.raises(KeyError, match="token_type_ids"):
        feeder.next(["a", "token_type_ids"])


def test_a_calibration_cache_skips_calibration_next_time(tmp_path):
    cache = tmp_path / "tables" / "embedder.calib"
    first = CalibrationFeeder({"a": np.zeros((2, 1))}, 2, HostMemory(), cache)
    assert first.read_cache() is None
    first.write_cache(b"TRT-8601-EntropyCalibration2\ninput_ids: 3c010a14\n")
    again = CalibrationFeeder({"a": np.zeros((2, 1))}, 2, HostMemory(), cache)
    assert again.read_cache().startswith(b"TRT-8601-EntropyCalibration2")


def test_the_embedders_calibration_set_is_fixed_shape_token_batches(tmp_path):
    tokenizer = Registry().resolve("minilm-l6-v2")[1] / "tokenizer.json"
    texts = ["Floodwater closed the bridge.", "The striker scored a late winner in the derby."]
    path = write_calibration_set(tmp_path / "cal.npz", sentence_calibration_set(tokenizer, texts, seq_len=16))
    data = read_calibration_set(path)
    assert set(data) == {"input_ids", "attention_mask"}
    assert data["input_ids"].shape == (2, 16) and data["input_ids"].dtype == np.int64
    assert data["input_ids"][0, 0] == 101  # [CLS]
    assert 0 < data["attention_mask"][0].sum() < data["attention_mask"][1].sum() <= 16


def test_the_jetson_profiles_run_tensorrt_with_an_engine_cache():
    for name in ("jetson-orin", "jetson-orin-nano", "jetson-agx-orin"):
        vad = load_profile(name).vad
        assert vad.execution_providers[0] == "TensorrtExecutionProvider"
        options = vad.runtime().provider_options["TensorrtExecutionProvider"]
        assert options["trt_engine_cache_enable"] is True and options["trt_engine_cache_path"].startswith("/")
        # The profile states f32 for the VAD: TensorRT may not lower it on its own.
        assert options["trt_fp16_enable"] is False and options["trt_int8_enable"] is False
