"""The quality gate per task: what a variant must keep against its reference to be registered.

One place for the thresholds, so `register`, `report` and the box's start-up
check (edge/evidence.py) agree on what "passing" means.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gate:
    metric: str
    limit: float
    higher_is_better: bool
    why: str

    def check(self, quality: dict[str, float]) -> tuple[bool, str]:
        value = quality.get(self.metric)
        if value is None:
            return False, f"no {self.metric} was measured"
        ok = value >= self.limit if self.higher_is_better else value <= self.limit
        op = ">=" if self.higher_is_better else "<="
        return ok, f"{self.metric} {value:.4g} {'meets' if ok else 'fails'} {op} {self.limit:g} ({self.why})"


class LlmGate:
    """Two figures against the fp32 reference (the same weights, dequantized, on ONNX Runtime f32):

    - perplexity on held news text may rise at most PERPLEXITY_RATIO times. Measured on SmolLM2-135M:
      ORT weight-only int8 x1.006 (43.5 vs 43.3); ORT dynamic int8, which writes nonsense, x339,000. Sound
      8-bit weights cost under 1%; 10% is room for 4-bit rounding, not for damage.
    - the draft verifier keeps at most ACCEPTANCE_DROP less of the model's sentences than it keeps of the
      reference's, on the same three fixed transcripts. They give 20-25 sentences, so one sentence moves the
      share by 4-5 points: the margin lets about three go. (SmolLM2-135M's drafts rarely pass the verifier
      at all, fp32 0/20, so for it this half of the gate cannot bind; it is there for a model that writes
      usable drafts.)
    """

    metric = "perplexity_ratio"
    PERPLEXITY_RATIO = 1.10
    ACCEPTANCE_DROP = 0.15

    def check(self, quality: dict[str, float]) -> tuple[bool, str]:
        ratio, drop = quality.get("perplexity_ratio"), quality.get("acceptance_drop")
        if ratio is None:
            return False, "no perplexity_ratio was measured (perplexity on held text against the fp32 reference)"
        ppl, ref = quality.get("perplexity"), quality.get("perplexity_reference")
        said = f"perplexity {ppl:.4g} vs {ref:.4g} for fp32" if ppl is not None and ref is not None else "perplexity"
        ok_ppl = ratio <= self.PERPLEXITY_RATIO
        parts = [f"{said}: x{ratio:.3g} {'meets' if ok_ppl else 'fails'} <= x{self.PERPLEXITY_RATIO:g}"
                 + ("" if ok_ppl else " (the quantization damaged the model: its text is not the reference's)")]
        ok_acc = False
        if drop is not None:
            ok_acc = drop <= self.ACCEPTANCE_DROP
            acc, acc_ref = quality.get("acceptance"), quality.get("acceptance_reference")
            parts.append(f"draft sentences kept {acc:.0%} vs {acc_ref:.0%} for fp32: drop {drop:.2f} "
                         f"{'meets' if ok_acc else 'fails'} <= {self.ACCEPTANCE_DROP:g}"
                         if acc is not None and acc_ref is not None else f"acceptance_drop {drop:.2f}")
        else:
            parts.append("no acceptance_drop was measured (draft sentences the verifier keeps, against fp32)")
        return ok_ppl and ok_acc, "; ".join(parts)


GATES: dict[str, Gate | LlmGate] = {
    # WER points the variant may lose against the fp32 decode of the same model on the same speech.
    "asr": Gate("wer_delta", 0.01, False, "at most 1 WER point worse than float32"),
    "embeddings": Gate("cosine_mean", 0.99, True, "vectors point where the fp32 model's do"),
    # Frames where speech/no-speech (threshold 0.5) matches the f32 ONNX Runtime reference.
    "vad": Gate("decision_agreement", 0.99, True, "the same speech decisions as f32"),
    "ocr": Gate("char_accuracy_delta", 0.01, False, "at most 1 point of character accuracy lost"),
    "llm": LlmGate(),
    "tagger": Gate("teacher_agreement", 0.75, True, "the student picks the teacher's topic"),
}


def gate_for(task: str) -> Gate | LlmGate:
    try:
        return GATES[task]
    except KeyError:
        raise ValueError(f"no quality gate for task {task!r} (known: {', '.join(GATES)})") from None
