"""The embedder built without torch computes what sentence-transformers computes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.registry import Registry
from edge.tagging.embeddings import Embedder, EmbedderChoice

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference.json").read_text())


def test_fp32_graph_matches_the_pytorch_reference(embedder):
    fp32 = Embedder.load(EmbedderChoice(file="model.onnx"))
    got = fp32.embed(REFERENCE["sentences"])
    # Same fp32 arithmetic in another order of summation: measured 6e-7 apart; 1e-4 leaves room
    # for other CPUs' kernels (AVX-512 vs AVX2) without hiding a wrong layer, which moves values by > 1e-2.
    np.testing.assert_allclose(got, np.array(REFERENCE["vectors"]), atol=1e-4)


def test_int8_graph_agrees_with_the_reference_in_direction(embedder):
    got = embedder.embed(REFERENCE["sentences"])
    cosines = (got * np.array(REFERENCE["vectors"])).sum(axis=1)
    # int8 weights move vectors a little: measured 0.970 (the empty sentence) to 0.991 here.
    assert cosines.min() >= 0.95
    assert cosines.mean() >= 0.98


def test_vectors_are_unit_length_and_similar_sentences_are_closer(embedder):
    a, b, c = embedder.embed(["The river burst its banks and homes were flooded.",
                              "Floodwater poured into houses after the river overflowed.",
                              "The striker scored twice in the second half."])
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-3)
    assert float(a @ b) > float(a @ c) + 0.3


def test_a_tampered_build_output_is_refused(tmp_path):
    registry = Registry()
    manifest = registry.manifest("minilm-l6-v2")
    registry.provision(manifest)
    copy = Registry(tmp_path)
    shutil.copy(registry.root / "minilm-l6-v2.yaml", tmp_path)
    shutil.copytree(registry.directory(manifest), tmp_path / "minilm-l6-v2")
    assert copy.status(manifest).state == "ok"
    graph = tmp_path / "minilm-l6-v2" / "model-int8.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    status = copy.status(manifest)
    assert status.state == "corrupt" and "build record" in status.detail
    (tmp_path / "minilm-l6-v2" / "build.json").unlink()
    assert copy.status(manifest).state == "missing"
