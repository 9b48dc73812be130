"""The model optimization toolkit: a variant reaches the registry only with a passing measurement."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge import evidence
from edge.errors import ConfigError
from edge.profiles import load_profile
from edge.registry import Registry
from edge.tagging.embeddings import Embedder, EmbedderChoice
from quantize.gates import GATES
from quantize.register import GateRefused, register


@pytest.fixture
def registry(tmp_path, embedder) -> Registry:
    """A registry of its own holding the provisioned embedder (so variants never land in models/)."""
    real = Registry()
    shutil.copy(real.root / "minilm-l6-v2.yaml", tmp_path)
    shutil.copytree(real.root / "minilm-l6-v2", tmp_path / "minilm-l6-v2")
    return Registry(tmp_path)


def test_the_gate_refuses_a_variant_that_moves_the_vectors_and_leaves_nothing_behind(registry):
    # Per-tensor dynamic int8 measured cosine 0.966 to fp32 here: below the 0.99 gate.
    with pytest.raises(GateRefused, match=r"cosine_mean 0\.9[0-8]\d* fails >= 0\.99"):
        register("minilm-l6-v2", "dynamic-int8-per-tensor", "minilm-bad", registry=registry)
    assert not (registry.root / "minilm-bad.yaml").exists()
    assert not (registry.root / "minilm-bad").exists()
    assert evidence.rows("minilm-bad", registry.root) == []


def test_export_quantize_register_and_load_by_the_box(registry):
    done = register("minilm-l6-v2", "weight-int8", "minilm-w8", registry=registry, command="test")
    assert done.row.passed and done.row.quality["cosine_mean"] >= GATES["embeddings"].limit
    (row,) = evidence.rows("minilm-w8", registry.root)
    assert row["selects"]["tagging.embeddings.model"] == "minilm-w8" and row["passed"]
    manifest = registry.manifest("minilm-w8")
    assert manifest.source.registry == "minilm-l6-v2" and manifest.build.method == "weight-int8"
    # A box provisions the variant like any model: deleted, it is rebuilt from the base and checked.
    shutil.rmtree(registry.directory(manifest))
    assert registry.provision(manifest).state == "ok"
    vec = Embedder.load(EmbedderChoice("minilm-w8", "model.onnx"), registry).embed(["The flood wall held."])
    assert vec.shape == (1, 384) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-3
    # ...and a damaged build output is named, not loaded.
    graph = registry.directory(manifest) / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:-10] + b"0123456789")
    assert registry.status(manifest).state == "corrupt"


def test_a_profile_naming_an_unmeasured_variant_is_refused_at_start_up(tmp_path):
    profile = load_profile("x86-cpu")
    changed = profile.model_copy(update={"tagging": profile.tagging.model_copy(update={
        "embeddings": profile.tagging.embeddings.model_copy(update={"file": "model.onnx"})})})
    root = tmp_path
    row = {"selects": {"tagging.embeddings.model": "minilm-l6-v2", "tagging.embeddings.file": "model-int8.onnx",
                       "tagging.embeddings.backend": "onnxruntime"}, "passed": True}
    evidence.record(row, "minilm-l6-v2", root)
    problems = evidence.unbacked(changed, root)
    assert any("tagging.embeddings.file=model.onnx" in p and "never measured" in p for p in problems)
    with pytest.raises(ConfigError, match="python -m quantize eval --profile x86-cpu"):
        evidence.require_backed(changed, root)


def test_the_shipped_profile_is_backed_by_passing_rows():
    assert evidence.unbacked(load_profile("x86-cpu")) == []


def test_report_json_lists_rows_with_the_documented_fields():
    out = subprocess.run([sys.executable, "-m", "quantize", "report", "--json"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    used = [r for r in rows if r["profile"] == "x86-cpu" and r["recommended"]]
    assert {r["task"] for r in used} >= {"asr", "vad", "embeddings", "llm", "ocr"}
    for r in used:
        assert {"task", "variant", "profile", "size_mb", "quality"} <= set(r)
        assert r["latency_ms"] is not None or r["tokens_per_s"] is not None
