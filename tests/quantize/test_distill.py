"""The topic tagger's student: learns the teacher's soft labels, runs without torch, and is gated."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from quantize import distill_corpus
from quantize.distill import Student, Teacher, features, judge, soften, train
from quantize.gates import GATES

SPORT, WEATHER = "medtop:15000000", "medtop:17000000"


@pytest.fixture(scope="module")
def teacher() -> Teacher:
    return Teacher(cache_dir=None)  # the box's own embedder and topics, nothing cached between tests


def test_the_student_learns_soft_labels_and_shares_them_across_word_forms():
    texts = ["the striker scored a goal", "the match ended in a draw", "rain and wind tonight",
             "snow and frost tomorrow"] * 5
    soft = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8]] * 5, dtype=np.float32)
    student = train(texts, soft, [SPORT, WEATHER], epochs=10)
    # "strikers" and "goals" were never seen: their character n-grams were.
    assert student.best(["two strikers and goals", "heavy rain and snow"]) == [SPORT, WEATHER]
    # Learnt as a distribution: the student is less sure than a one-hot label would make it.
    assert 0.5 < student.scores(["the striker scored a goal"])[0, 0] < 0.99


def test_features_are_words_word_pairs_and_character_ngrams_and_stable():
    # "ab": words <ab> -> 1 char 3-gram "<ab", "ab>", 1 4-gram "<ab>"; plus "w:ab": 4 features for one word.
    assert len(features("ab")) == 4
    assert len(features("ab cd")) == 2 * 4 + 1  # two words and one word pair
    assert features("Storm, floods!").tolist() == features("storm floods").tolist()  # case and punctuation
    assert features("").size == 0


def test_softening_keeps_the_teachers_order_and_flattens_it():
    p = np.array([[0.90, 0.08, 0.02]], dtype=np.float32)
    s = soften(p, 2.0)
    assert s.argmax() == 0 and s[0, 0] < 0.9 and s[0, 2] > 0.02 and abs(s.sum() - 1) < 1e-6


def test_the_labelled_set_is_never_in_the_corpus():
    labelled = {x["text"] for x in distill_corpus.labelled_set()}
    assert len(labelled) == 68
    assert not labelled & set(distill_corpus.news_sentences())


def test_a_saved_student_loads_and_tags_in_a_process_without_torch(tmp_path, teacher):
    texts = distill_corpus.news_sentences()[:60]
    student = train(texts, soften(teacher.label(texts)), teacher.codes, epochs=4, temperature=2.0)
    path = student.save(tmp_path / "student.npz")
    code = f"""
import sys
sys.modules["torch"] = None  # any import of torch now fails
sys.modules["onnxruntime"] = None  # nor does the student need an inference engine
from quantize.distill import Student
s = Student.load({str(path)!r})
text = "Firefighters rescued a family after the blaze destroyed their home."
topics = s.topics(text)
assert all(t.code in s.codes and t.score >= 0.15 for t in topics), topics
print(s.best([text])[0], len(s.codes), "torch" in sys.modules and sys.modules["torch"] is not None)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    code, n, torch_loaded = out.stdout.split()
    assert code.startswith("medtop:") and n == "17" and torch_loaded == "False"
    # float16 rows on disk: the loaded student picks what the trained one picks.
    loaded = Student.load(path)
    held = [x["text"] for x in distill_corpus.labelled_set()]
    assert loaded.best(held) == student.best(held) and loaded.temperature == 2.0


def test_the_gate_refuses_a_weak_student_and_writes_nothing(tmp_path, teacher):
    # Trained on 30 sentences: far too little to follow the teacher on the labelled set.
    texts = distill_corpus.news_sentences()[:30]
    weak = train(texts, soften(teacher.label(texts)), teacher.codes, epochs=2)
    report = judge(weak, teacher, tmp_path / "weak.npz", texts)
    assert not report["passed"]
    assert report["teacher_agreement"] < GATES["tagger"].limit
    assert "teacher_agreement" in report["gate"] and "fails >= 0.75" in report["gate"]
    assert report["short_by_points"] == pytest.approx(100 * (0.75 - report["teacher_agreement"]), abs=0.06)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even under another name


def test_a_file_that_is_no_student_is_refused_with_the_command_that_makes_one(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="python -m quantize distill"):
        Student.load(bad)
