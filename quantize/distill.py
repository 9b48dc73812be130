"""Distil the embedding topic tagger (teacher) into a tiny linear student over hashed word n-grams.

The teacher is edge/tagging/topics.py on the MiniLM embedder (22M parameters,
an ONNX session). The student is one softmax layer over 2^15 hashed unigram
and bigram features (~0.5M parameters, numpy only, no model file format
beyond an .npz), trained on the teacher's soft labels (its topic
distribution) with cross-entropy, so it learns the teacher's uncertainty, not
only its top choice. The corpus is assembled from text installed here: the
project's own news sentences (bench corpora, the demo script, drafts
fixtures), sentences recombined from them (halves swapped within each file),
and sentences built from per-subject phrase banks (distill_vocab.py), mixed
across subjects so the teacher also labels ambiguous text.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIM = 1 << 15
_WORD = re.compile(r"[a-z0-9']+")
CORPUS_FILES = ["bench/news_sentences.txt", "bench/test_sentences.txt", "bench/glossary_sentences.txt",
                "edge/demo/script.txt", "bench/data/topics_tune.jsonl"]
HELD_OUT = "bench/data/topics_test.jsonl"  # never in the corpus: the labelled accuracy set


def features(text: str) -> np.ndarray:
    """Indices of the hashed unigrams and bigrams of `text` (stable across processes: blake2b, not hash())."""
    words = _WORD.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return np.array(sorted({int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") % DIM
                            for g in grams}), dtype=np.int64)


def corpus() -> list[str]:
    sentences: list[str] = []
    for rel in CORPUS_FILES:
        path = ROOT / rel
        if not path.is_file():
            continue
        lines = [json.loads(x)["text"] if rel.endswith(".jsonl") else x for x in path.read_text().splitlines()]
        file_sents = [x.strip() for x in lines if len(x.split()) >= 4 and not x.lstrip().startswith("#")]
        sentences += file_sents
        for i, text in enumerate(file_sents):  # recombine: first half of one, second half of the next
            first, second = text.split(), file_sents[(i + 1) % len(file_sents)].split()
            sentences.append(" ".join(first[: len(first) // 2] + second[len(second) // 2:]))
    from quantize.distill_vocab import sentences as recombined

    return list(dict.fromkeys(sentences + recombined()))


@dataclass
class Student:
    weights: np.ndarray  # [DIM, topics] float32
    bias: np.ndarray
    codes: list[str]

    def scores(self, texts: list[str]) -> np.ndarray:
        logits = np.stack([self.weights[features(t)].sum(axis=0) for t in texts]) + self.bias
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def best(self, texts: list[str]) -> list[str]:
        return [self.codes[i] for i in np.argmax(self.scores(texts), axis=1)]

    def save(self, path: Path) -> Path:
        # float16 halves the file; the argmax is unchanged at this scale.
        np.savez_compressed(path, weights=self.weights.astype(np.float16), bias=self.bias, codes=np.array(self.codes))
        return path

    @classmethod
    def load(cls, path: Path) -> Student:
        data = np.load(path)
        return cls(data["weights"].astype(np.float32), data["bias"], [str(c) for c in data["codes"]])


def train(texts: list[str], targets: np.ndarray, codes: list[str], *, epochs: int = 40, lr: float = 0.5,
          l2: float = 1e-5, seed: int = 0) -> Student:
    rng = np.random.default_rng(seed)
    w = np.zeros((DIM, len(codes)), dtype=np.float32)
    b = np.zeros(len(codes), dtype=np.float32)
    feats = [features(t) for t in texts]
    for _ in range(epochs):
        for i in rng.permutation(len(texts)):
            f = feats[i]
            logits = w[f].sum(axis=0) + b
            p = np.exp(logits - logits.max())
            p /= p.sum()
            grad = p - targets[i]  # cross-entropy against the teacher's distribution
            w[f] -= lr * (grad + l2 * w[f])
            b -= lr * grad
    return Student(w, b, codes)


def distill(out: Path, *, registry=None) -> dict:
    from edge.tagging.embeddings import Embedder
    from edge.tagging.topics import SUBJECTS, TopicTagger

    teacher_embedder = Embedder.load(registry=registry)
    teacher = TopicTagger(teacher_embedder)
    texts = corpus()
    held = [json.loads(x) for x in (ROOT / HELD_OUT).read_text().splitlines()]
    t0 = time.perf_counter()
    soft = teacher.scores(teacher_embedder.embed(texts))
    student = train(texts, soft, list(SUBJECTS))
    train_s = time.perf_counter() - t0
    student.save(out)
    held_texts = [h["text"] for h in held]
    t0 = time.perf_counter()
    student_pred = student.best(held_texts)
    student_ms = 1000 * (time.perf_counter() - t0) / len(held_texts)
    t0 = time.perf_counter()
    teacher_pred = teacher.best(teacher_embedder.embed(held_texts))
    teacher_ms = 1000 * (time.perf_counter() - t0) / len(held_texts)
    truth = [h["code"] for h in held]
    return {
        "corpus_sentences": len(texts), "train_s": round(train_s, 1),
        "teacher_agreement": round(float(np.mean([a == b for a, b in zip(student_pred, teacher_pred)])), 3),
        "student_accuracy": round(float(np.mean([a == b for a, b in zip(student_pred, truth)])), 3),
        "teacher_accuracy": round(float(np.mean([a == b for a, b in zip(teacher_pred, truth)])), 3),
        "student_mb": round(out.stat().st_size / 1e6, 2), "student_ms_per_text": round(student_ms, 3),
        "teacher_ms_per_text": round(teacher_ms, 2), "held_out": len(held),
    }
