"""LLM quality for the toolkit: perplexity arithmetic on real runtimes, and the gate that refuses a broken variant."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from tokenizers import Tokenizer, models, pre_tokenizers

from quantize.gates import GATES, gate_for
from quantize.llm_eval import (DecoderTextGenerator, OnnxDecoder, OpenVINODecoder, greedy, perplexity,
                               perplexity_onnx, perplexity_openvino, token_nll)

WORDS = ["the", "flood", "wall", "held"]
# A bigram "language model": the logits after a token are the row of that token. Rows are log-probabilities
# of powers of two, so every probability below is exact and the perplexity can be worked out by hand.
P = np.array([[1 / 8, 1 / 2, 1 / 4, 1 / 8],   # after "the": flood 1/2
              [1 / 8, 1 / 8, 1 / 2, 1 / 4],   # after "flood": wall 1/2
              [1 / 4, 1 / 8, 1 / 8, 1 / 2],   # after "wall": held 1/2
              [1 / 2, 1 / 4, 1 / 8, 1 / 8]])  # after "held": the 1/2


def _tokenizer(directory: Path) -> None:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="the"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": "{% for m in messages %}{{ m['content'] }} {% endfor %}"}))


def _bigram_graph(path: Path, *, with_past: bool) -> Path:
    """input_ids [1, n] -> logits [1, n, 4]; with_past adds one layer of past/present key and value that
    only grows by the new tokens (an optimum-style export's cache, without attention to use it)."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [4, 4], np.log(P).astype(np.float32).ravel())
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["logits"], axis=0)]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "n"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "total"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "n", 4])]
    inits = [table]
    if with_past:
        inits += [helper.make_tensor("one", TensorProto.INT64, [1], [1]),
                  helper.make_tensor("two", TensorProto.INT64, [1], [2]),
                  helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])]
        nodes += [helper.make_node("Shape", ["input_ids"], ["ids_shape"]),
                  helper.make_node("Slice", ["ids_shape", "one", "two"], ["n"]),
                  helper.make_node("Concat", ["one", "one", "n", "two"], ["kv_shape"], axis=0),
                  helper.make_node("Expand", ["zero", "kv_shape"], ["new_kv"])]
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.0.{kind}", TensorProto.FLOAT,
                                                        [1, 1, "past", 2]))
            outputs.append(helper.make_tensor_value_info(f"present.0.{kind}", TensorProto.FLOAT,
                                                         [1, 1, "total", 2]))
            nodes.append(helper.make_node("Concat", [f"past_key_values.0.{kind}", "new_kv"], [f"present.0.{kind}"],
                                          axis=2))
    graph = helper.make_graph(nodes, "bigram", inputs, outputs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


@pytest.fixture(scope="module")
def bigram(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bigram")
    _tokenizer(d)
    _bigram_graph(d / "model.onnx", with_past=False)
    _bigram_graph(d / "model_past.onnx", with_past=True)
    return d


def test_perplexity_is_the_geometric_mean_of_the_inverse_next_token_probabilities(bigram):
    # "the flood wall held the": every next word has probability 1/2, so the perplexity is exactly 2.
    assert perplexity_onnx(bigram, ["the flood wall held the"]) == pytest.approx(2.0, rel=1e-6)
    # "the wall the held": 1/4, 1/4, 1/8 -> (4 * 4 * 8) ** (1/3) = 128 ** (1/3). The first word is not scored.
    # rel 1e-6: the table is float32 log-probabilities; float32 keeps ~7 significant digits.
    assert perplexity_onnx(bigram, ["the wall the held"]) == pytest.approx(128 ** (1 / 3), rel=1e-6)
    # Two texts are pooled by token, not averaged per text: (2 * 2 * 2 * 2) * (4 * 4 * 8) over 7 tokens.
    pooled = perplexity_onnx(bigram, ["the flood wall held the", "the wall the held"])
    assert pooled == pytest.approx((16 * 128) ** (1 / 7), rel=1e-6)


def test_a_graph_with_a_key_value_cache_gives_the_same_figures_and_grows_its_cache(bigram):
    texts = ["the flood wall held the", "the wall the held"]
    assert perplexity_onnx(bigram / "model_past.onnx", texts) == pytest.approx(perplexity_onnx(bigram, texts), rel=1e-9)
    decoder = OnnxDecoder(bigram / "model_past.onnx")
    out = greedy(decoder, [0], max_new_tokens=3, eos_ids=frozenset())
    # Greedy follows the 1/2 path; the repetition penalty never outweighs a 2x lead here.
    assert out == [1, 2, 3]
    # The prompt, then one token per step except the last one generated (never fed back).
    assert decoder._cache["past_key_values.0.key"].shape == (1, 1, 3, 2)


def test_generation_speaks_through_the_chat_template_and_stops_at_the_end_token(bigram):
    from quantize.llm_eval import load_tokenizer

    tok = load_tokenizer(bigram)
    tok.eos_ids = frozenset({3})  # "held" ends the answer
    gen = DecoderTextGenerator(OnnxDecoder(bigram / "model.onnx"), tok, "bigram", "f32")
    assert gen.generate([{"role": "user", "content": "the"}], max_new_tokens=8) == "flood wall"
    assert gen.tokens == 2


def test_no_repeat_ngrams_ban_a_fourth_token_that_would_repeat_a_four_gram(bigram):
    decoder = OnnxDecoder(bigram / "model.onnx")
    # After "the flood wall held the flood wall", "held" would write the 4-gram "the flood wall held" a second
    # time, so the next most likely word after "wall" ("the", 1/4) is taken instead.
    out = greedy(decoder, [0, 1, 2, 3, 0, 1, 2], max_new_tokens=1, eos_ids=frozenset())
    assert out == [0]


def test_token_nll_is_stable_for_large_logits():
    logits = np.array([[1000.0, 1000.0 + math.log(3)]], dtype=np.float32)
    # abs 1e-4: float32 numbers near 1000 are 6.1e-5 apart, so log(3) is only stored that closely.
    assert token_nll(logits, [1])[0] == pytest.approx(-math.log(3 / 4), abs=1e-4)


def test_openvino_reads_a_stateful_graph_to_the_same_perplexity(bigram, tmp_path):
    import openvino as ov
    from openvino._offline_transformations import apply_make_stateful_transformation

    model = ov.Core().read_model(str(bigram / "model_past.onnx"))
    apply_make_stateful_transformation(model, {"past_key_values.0.key": "present.0.key",
                                               "past_key_values.0.value": "present.0.value"})
    ov.save_model(model, str(tmp_path / "openvino_model.xml"), compress_to_fp16=False)  # exact weights
    _tokenizer(tmp_path)
    assert perplexity_openvino(tmp_path, ["the wall the held"]) == pytest.approx(128 ** (1 / 3), rel=1e-6)
    decoder = OpenVINODecoder(tmp_path)
    assert greedy(decoder, [0], max_new_tokens=3, eos_ids=frozenset()) == [1, 2, 3]


def test_a_graph_that_is_no_language_model_is_named(tmp_path):
    from edge.errors import ModelError

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(tmp_path / "model.onnx"))
    with pytest.raises(ModelError, match="not a causal language model"):
        OnnxDecoder(tmp_path / "model.onnx")
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxDecoder(tmp_path / "model.onnx")


# -- the gate -----------------------------------------------------------------------------------------


def _quality(ppl: float, ref: float, acc: float, acc_ref: float) -> dict[str, float]:
    return {"perplexity": ppl, "perplexity_reference": ref, "perplexity_ratio": ppl / ref,
            "acceptance": acc, "acceptance_reference": acc_ref, "acceptance_drop": acc_ref - acc}


def test_the_gate_refuses_a_variant_whose_perplexity_explodes_and_says_by_how_much():
    # What ORT dynamic int8 did to SmolLM2-135M here (models/smollm2-135m-instruct.evidence.json): perplexity
    # 14.7 million against 43.3; the verifier kept none of either model's draft sentences.
    ok, why = gate_for("llm").check(_quality(14683082.6, 43.265, 0.0, 0.0))
    assert not ok
    assert "perplexity 1.468e+07 vs 43.27 for fp32" in why and "fails <= x1.1" in why
    assert "damaged" in why
    ok, why = gate_for("llm").check(_quality(2000.0, 43.26, 0.0, 0.5))
    assert not ok and "drop 0.50 fails <= 0.15" in why


def test_the_gate_passes_a_faithful_variant_and_a_small_drop_in_acceptance():
    ok, why = GATES["llm"].check(_quality(43.5, 43.26, 0.45, 0.5))
    assert ok and "meets <= x1.1" in why and "drop 0.05 meets" in why


def test_the_gate_refuses_when_the_verifier_keeps_too_few_sentences_even_at_good_perplexity():
    ok, why = GATES["llm"].check(_quality(44.0, 43.26, 0.2, 0.5))
    assert not ok and "drop 0.30 fails" in why


def test_the_gate_refuses_a_row_without_its_figures():
    assert not GATES["llm"].check({})[0]
    assert not GATES["llm"].check({"perplexity_ratio": 1.0})[0]  # acceptance never measured
