"""Distil the embedding topic tagger (teacher) into a small linear student over hashed word and character n-grams.

The teacher is edge/tagging/topics.py on the MiniLM embedder (22M parameters,
an ONNX session). The student is one softmax layer over 2^18 hashed features
(word unigrams and bigrams, and the character 3- to 5-grams of each word, so
"firefighters" shares most of its features with "firefighter"), numpy only:
the box can run it without torch or an inference engine. It is trained on the
teacher's soft labels (its topic distribution, softened by a distillation
temperature) with cross-entropy, so it learns the teacher's uncertainty and
its second choices, not only its top one. The corpus (distill_corpus.py) is
text installed here; a tenth of it, chosen by a hash of the text, is held out
to measure agreement, and the labelled set it is judged on is never in it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from quantize import distill_corpus
from quantize.gates import gate_for

DIM = 1 << 18
_WORD_SPLIT = str.maketrans({c: " " for c in "!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~-"})
# Softening the teacher's distribution before learning it (Hinton et al.'s temperature): its
# softmax at T=0.05 puts almost all mass on one subject, which hides which subjects come next.
DISTILL_TEMPERATURE = 2.0
BAGS = 30000
NEWS_PAIRS = 12000
# AdaGrad's base step on the full corpus: 1.5 agreed with the teacher on one more labelled sentence than 0.5.
LEARNING_RATE = 1.5
# Set by this toolkit's own runs: 0.5 kept enough words per subject in every pool.
CONFIDENT_WORD = 0.5
HELD_OUT_SHARE = 10  # one text in 10, by hash


@lru_cache(maxsize=1 << 20)  # words and their n-grams repeat across texts; hashing is the slow part
def _hash(gram: str) -> int:
    # blake2b, not hash(): the same text must give the same features in every process.
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=4).digest(), "little") % DIM


def features(text: str) -> np.ndarray:
    """Sorted unique feature indices of `text`: words, word pairs and in-word character 3- to 5-grams."""
    words = text.lower().translate(_WORD_SPLIT).split()
    grams = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    for w in words:
        marked = f"<{w}>"
        grams += [f"c:{marked[i:i + n]}" for n in (3, 4, 5) for i in range(len(marked) - n + 1)]
    return np.array(sorted({_hash(g) for g in grams}), dtype=np.int64)


def _pack(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts' features in one flat array, and where each text's start (CSR row pointers)."""
    feats = [features(t) for t in texts]
    ptr = np.zeros(len(feats) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(f) for f in feats])
    flat = np.concatenate(feats) if feats else np.zeros(0, np.int64)
    return flat, ptr


def _logits(w: np.ndarray, b: np.ndarray, flat: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    counts = np.diff(ptr)
    # One zero row appended so a text without features (empty, or punctuation only) still has a start.
    gathered = np.vstack([w[flat], np.zeros((1, w.shape[1]), dtype=w.dtype)])
    out = np.add.reduceat(gathered, ptr[:-1], axis=0)
    out[counts == 0] = 0.0
    # A mean, not a sum: a long text is not more certain than a short one.
    return out / np.maximum(counts, 1)[:, None] + b


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Student:
    weights: np.ndarray  # [DIM, topics] float32
    bias: np.ndarray
    codes: list[str]
    # Trained against the teacher's distribution softened by this temperature: its logits times the
    # temperature give the teacher's own scale back (what MIN_SCORE in topics() assumes).
    temperature: float = 1.0

    def scores(self, texts: list[str]) -> np.ndarray:
        """Per text, a distribution over the subjects (rows sum to 1), on the teacher's scale."""
        return _softmax(self.temperature * _logits(self.weights, self.bias, *_pack(texts)))

    def best(self, texts: list[str]) -> list[str]:
        return [self.codes[i] for i in np.argmax(self.scores(texts), axis=1)]

    def topics(self, text: str):
        """The teacher's output format (edge/tagging/topics.py): up to 3 subjects above its minimum score."""
        from edge.tagging.topics import MAX_TOPICS, MIN_SCORE, SUBJECTS, Topic

        if not text.strip():
            return []
        p = self.scores([text])[0]
        return [Topic(self.codes[i], SUBJECTS[self.codes[i]][0], float(p[i]))
                for i in np.argsort(-p)[:MAX_TOPICS] if p[i] >= MIN_SCORE]

    def save(self, path: Path) -> Path:
        # Only the rows some feature of the corpus reached (the rest stay zero), in float16: the
        # argmax on the labelled set is unchanged by the rounding (checked by the tests' round trip).
        used = np.flatnonzero(np.abs(self.weights).sum(axis=1) > 0).astype(np.int32)
        np.savez_compressed(path, rows=used, weights=self.weights[used].astype(np.float16),
                            bias=self.bias.astype(np.float32), codes=np.array(self.codes), dim=np.int64(DIM),
                            temperature=np.float32(self.temperature))
        return path

    @classmethod
    def load(cls, path: Path) -> Student:
        try:
            data = np.load(path, allow_pickle=False)
            dim, rows = int(data["dim"]), data["rows"]
            codes = [str(c) for c in data["codes"]]
            w = np.zeros((dim, len(codes)), dtype=np.float32)
            w[rows] = data["weights"].astype(np.float32)
            bias = data["bias"].astype(np.float32)
            temperature = float(data["temperature"])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path} is not a tagger student (.npz from python -m quantize distill): {exc}") from None
        if dim != DIM:
            raise ValueError(f"{path} hashes into {dim} features, this code into {DIM}: re-run python -m quantize distill")
        return cls(w, bias, codes, temperature)


def soften(probs: np.ndarray, temperature: float = DISTILL_TEMPERATURE) -> np.ndarray:
    """The same distribution with its logits divided by `temperature` (>1 flattens, keeps the order)."""
    return _softmax(np.log(np.clip(probs, 1e-12, 1.0)) / temperature)


def train(texts: list[str], targets: np.ndarray, codes: list[str], *, epochs: int = 12, lr: float = 0.5,
          batch: int = 64, seed: int = 0, temperature: float = 1.0) -> Student:
    """Softmax regression on soft targets, minibatch AdaGrad (each feature row gets its own step size,
    so rare character n-grams learn as fast as common words)."""
    rng = np.random.default_rng(seed)
    k = len(codes)
    w = np.zeros((DIM, k), dtype=np.float32)
    b = np.zeros(k, dtype=np.float32)
    gw2 = np.full((DIM, 1), 1e-8, dtype=np.float32)
    gb2 = np.full(k, 1e-8, dtype=np.float32)
    flat, ptr = _pack(texts)
    targets = np.asarray(targets, dtype=np.float32)
    for _ in range(epochs):
        order = rng.permutation(len(texts))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            seg = [flat[ptr[i]:ptr[i + 1]] for i in idx]
            counts = np.array([len(s) for s in seg])
            bflat = np.concatenate(seg)
            bptr = np.zeros(len(idx) + 1, dtype=np.int64)
            bptr[1:] = np.cumsum(counts)
            grad = (_softmax(_logits(w, b, bflat, bptr)) - targets[idx]) / len(idx)
            per_feature = np.repeat(grad / np.maximum(counts, 1)[:, None], counts, axis=0)
            uniq, inv = np.unique(bflat, return_inverse=True)
            g = np.stack([np.bincount(inv, weights=per_feature[:, c], minlength=len(uniq)) for c in range(k)],
                         axis=1).astype(np.float32)
            gw2[uniq] += (g * g).sum(axis=1, keepdims=True)
            w[uniq] -= lr * g / np.sqrt(gw2[uniq])
            gbb = grad.sum(axis=0)
            gb2 += gbb * gbb
            b -= lr * gbb / np.sqrt(gb2)
    return Student(w, b, list(codes), temperature)


def held_out(text: str) -> bool:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=2).digest(), "little") % HELD_OUT_SHARE == 0


class Teacher:
    """The box's embedding tagger, with its labels of a text list cached on disk (labelling is the slow part)."""

    def __init__(self, registry=None, cache_dir: Path | None = None) -> None:
        from edge.registry import Registry
        from edge.tagging.embeddings import Embedder, EmbedderChoice
        from edge.tagging.topics import SUBJECTS, TEMPERATURE, TopicTagger

        self.registry = registry or Registry()
        # Two threads: labelling is an offline step with the machine to itself (the box uses one).
        self.embedder = Embedder.load(EmbedderChoice(threads=2), self.registry)
        self.tagger = TopicTagger(self.embedder)
        self.codes = list(SUBJECTS)
        self.tokenizer_json = self.registry.resolve(EmbedderChoice().model)[1] / "tokenizer.json"
        self._identity = json.dumps([self.embedder.name, TEMPERATURE, SUBJECTS])
        self.cache_dir = cache_dir

    def label(self, texts: list[str]) -> np.ndarray:
        key = hashlib.sha256("\n".join([self._identity, *texts]).encode()).hexdigest()[:16]
        cached = self.cache_dir / f"teacher-labels-{key}.npy" if self.cache_dir else None
        if cached and cached.is_file():
            return np.load(cached)
        probs = self.tagger.scores(self.embedder.embed(texts)).astype(np.float32)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, probs)
        return probs


def build_corpus(teacher: Teacher, *, bags: int = BAGS, docs: int = 3000) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each source's texts with the teacher's distribution over subjects."""
    out = {"news": distill_corpus.news_sentences(), "news_pairs": distill_corpus.news_pairs(NEWS_PAIRS),
           "descriptions": distill_corpus.description_sentences(),
           "docs": distill_corpus.doc_sentences(docs),
           "lexicon": distill_corpus.lexicon(teacher.tokenizer_json)}
    labelled = {name: (texts, teacher.label(texts)) for name, texts in out.items()}
    words, word_probs = labelled["lexicon"]
    bag_texts = distill_corpus.word_bags(words, word_probs, bags, confident=CONFIDENT_WORD)
    labelled["bags"] = (bag_texts, teacher.label(bag_texts))
    return labelled


def _agreement(a: list[str], b: list[str]) -> float:
    return round(float(np.mean([x == y for x, y in zip(a, b)])), 3) if a else float("nan")


def distill(out: Path, *, registry=None, cache_dir: Path | None = None, bags: int = BAGS, epochs: int = 6) -> dict:
    """Train, measure and gate the student; it is written to `out` only if it passes the tagger gate."""
    teacher = Teacher(registry, cache_dir if cache_dir is not None else out.parent / "distill-cache")
    corpus = build_corpus(teacher, bags=bags)
    train_texts, train_probs, held = [], [], {}
    for name, (texts, probs) in corpus.items():
        keep = np.array([not held_out(t) for t in texts])
        train_texts += [t for t, k in zip(texts, keep) if k]
        train_probs.append(probs[keep])
        held[name] = ([t for t, k in zip(texts, keep) if not k], probs[~keep])
    t0 = time.perf_counter()
    student = train(train_texts, soften(np.concatenate(train_probs)), teacher.codes, epochs=epochs,
                    lr=LEARNING_RATE, temperature=DISTILL_TEMPERATURE)
    train_s = time.perf_counter() - t0

    report: dict = {"corpus": {name: len(texts) for name, (texts, _) in corpus.items()},
                    "train_texts": len(train_texts), "train_s": round(train_s, 1),
                    "distill_temperature": DISTILL_TEMPERATURE}
    for name, (texts, probs) in held.items():
        report[f"heldout_agreement_{name}"] = _agreement(student.best(texts), [teacher.codes[i] for i in probs.argmax(1)])
    report["heldout_texts"] = sum(len(t) for t, _ in held.values())

    report.update(judge(student, teacher, out, train_texts, keep_refused=True))
    return report


def judge(student: Student, teacher: Teacher, out: Path, train_texts: list[str] = (), *,
          keep_refused: bool = False) -> dict:
    """The student against the teacher and the truth on the labelled set, and the tagger gate; a passing
    student is written to `out` (and measured again as loaded from it), a failing one is not written."""
    labelled = distill_corpus.labelled_set()
    texts, truth = [x["text"] for x in labelled], [x["code"] for x in labelled]
    if set(texts) & set(train_texts):
        raise RuntimeError("the labelled set leaked into the training corpus")  # a bug here, never expected
    teacher_pred = [teacher.codes[i] for i in teacher.label(texts).argmax(1)]
    student_pred = student.best(texts)
    report = {"labelled_set": distill_corpus.LABELLED_SET, "labelled_texts": len(texts),
              "teacher_agreement": _agreement(student_pred, teacher_pred),
              "student_accuracy": _agreement(student_pred, truth),
              "teacher_accuracy": _agreement(teacher_pred, truth)}
    gate = gate_for("tagger")
    passed, why = gate.check(report)
    report.update({"passed": passed, "gate": why})
    if passed:
        student.save(out)
        saved = Student.load(out)
        report.update({"student_mb": round(out.stat().st_size / 1e6, 2),
                       "teacher_agreement_saved": _agreement(saved.best(texts), teacher_pred),
                       "student": str(out)})
    else:
        report["short_by_points"] = round(100 * (gate.limit - report["teacher_agreement"]), 1)
        if keep_refused:
            # Under another name, never where the box or the report would look: for inspection and timing.
            refused = student.save(out.with_name(out.stem + ".refused.npz"))
            report.update({"refused_student": str(refused), "student_mb": round(refused.stat().st_size / 1e6, 2)})
    return report


def speed(student_path: Path, *, repeats: int = 20, registry=None) -> dict:
    """Sentences per second of the student and the teacher on the labelled set, one sentence per call
    (how the box tags), each on one thread. A timing: run it on a quiet machine."""
    student = Student.load(student_path)
    texts = [x["text"] for x in distill_corpus.labelled_set()] * repeats
    t0 = time.perf_counter()
    for t in texts:
        student.scores([t])
    student_s = time.perf_counter() - t0
    teacher = Teacher(registry)
    sample = texts[: len(texts) // repeats * 2]
    t0 = time.perf_counter()
    for t in sample:
        teacher.tagger.scores(teacher.embedder.embed([t]))
    teacher_s = time.perf_counter() - t0
    return {"student_sentences_per_s": round(len(texts) / student_s, 1),
            "teacher_sentences_per_s": round(len(sample) / teacher_s, 1),
            "student_mb": round(student_path.stat().st_size / 1e6, 2)}
