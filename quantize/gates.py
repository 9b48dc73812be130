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


GATES: dict[str, Gate] = {
    # WER points the variant may lose against the fp32 decode of the same model on the same speech.
    "asr": Gate("wer_delta", 0.01, False, "at most 1 WER point worse than float32"),
    "embeddings": Gate("cosine_mean", 0.99, True, "vectors point where the fp32 model's do"),
    # Frames where speech/no-speech (threshold 0.5) matches the f32 ONNX Runtime reference.
    "vad": Gate("decision_agreement", 0.99, True, "the same speech decisions as f32"),
    "ocr": Gate("char_accuracy_delta", 0.01, False, "at most 1 point of character accuracy lost"),
    # Share of generated words that are words at all (a broken quantization writes fragments).
    "llm": Gate("word_share", 0.85, True, "output made of real words, as the reference's is"),
    "tagger": Gate("teacher_agreement", 0.75, True, "the student picks the teacher's topic"),
}


def gate_for(task: str) -> Gate:
    try:
        return GATES[task]
    except KeyError:
        raise ValueError(f"no quality gate for task {task!r} (known: {', '.join(GATES)})") from None
