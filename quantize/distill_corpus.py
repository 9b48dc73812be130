"""The distillation corpus: text installed on this machine, for the teacher to label and the student to learn.

Sources, each named in the report so a reader can judge what the student saw:
- news: the project's own news sentences (bench corpora, the demo script, the
  tagger's tuning set), halves recombined within each file, and the phrase-bank
  sentences of distill_vocab.py (per subject and mixed across subjects);
- descriptions: the teacher's own subject descriptions, and halves of them
  joined across subjects;
- news pairs: the first half of one project news sentence joined to the
  second half of any other;
- docs: prose sentences from the READMEs under /usr/share/doc and the package
  descriptions (METADATA) of the Python environment: off-topic text, so the
  student also learns what the teacher does with text that is no news at all;
- lexicon: the whole English words of the teacher's own tokenizer vocabulary
  (about 21,000, roughly in frequency order), each as a one-word text;
- bags: word bags built after the lexicon is labelled: a few words the teacher
  puts confidently in one subject, some from a second subject, and common
  function words, so the student sees how the teacher weighs words together.

Never in the corpus: bench/data/topics_test.jsonl, the labelled set on which
the student is judged.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NEWS_FILES = ["bench/news_sentences.txt", "bench/test_sentences.txt", "bench/glossary_sentences.txt",
              "edge/demo/script.txt", "bench/data/topics_tune.jsonl"]
LABELLED_SET = "bench/data/topics_test.jsonl"
DOC_DIRS = [Path("/usr/share/doc"), Path(sys.prefix) / "lib"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_PROSE = re.compile(r"^[A-Z][A-Za-z,;:'() -]+[.!?]$")
# Glue words of English news; bags get some so they read like text, not keyword lists.
FUNCTION_WORDS = ("the", "a", "of", "in", "on", "after", "and", "with", "for", "to", "at", "by", "from", "was",
                  "were", "said", "has", "have", "will", "this", "their", "over", "new", "two")


def news_sentences() -> list[str]:
    sentences: list[str] = []
    for rel in NEWS_FILES:
        path = ROOT / rel
        if not path.is_file():
            continue
        lines = [json.loads(x)["text"] if rel.endswith(".jsonl") else x for x in path.read_text().splitlines() if x]
        own = [x.strip() for x in lines if len(x.split()) >= 4 and not x.lstrip().startswith("#")]
        sentences += own
        for i, text in enumerate(own):  # first half of one sentence, second half of the next
            first, second = text.split(), own[(i + 1) % len(own)].split()
            sentences.append(" ".join(first[: len(first) // 2] + second[len(second) // 2:]))
    from quantize.distill_vocab import sentences as bank_sentences

    return _unique(sentences + bank_sentences())


def _own_news() -> list[str]:
    out = []
    for rel in NEWS_FILES:
        path = ROOT / rel
        if path.is_file():
            lines = [json.loads(x)["text"] if rel.endswith(".jsonl") else x for x in path.read_text().splitlines() if x]
            out += [x.strip() for x in lines if len(x.split()) >= 4 and not x.lstrip().startswith("#")]
    return _unique(out)


def news_pairs(n: int, *, seed: int = 0) -> list[str]:
    """`n` sentences made of the first half of one project news sentence and the second half of another
    (any two, across files and subjects): news-like text on which the teacher weighs two stories."""
    own = _own_news()
    rng = np.random.default_rng(seed)
    out = []
    for a, b in rng.integers(len(own), size=(n, 2)):
        if a != b:
            first, second = own[a].split(), own[b].split()
            out.append(" ".join(first[: len(first) // 2] + second[len(second) // 2:]))
    return _unique(out)


def description_sentences() -> list[str]:
    """The teacher's own subject descriptions (edge/tagging/topics.py), and each one's first half joined to the
    second half of descriptions of other subjects: text on which the teacher's choice is close."""
    from edge.tagging.topics import SUBJECTS

    own = [d for _, descriptions in SUBJECTS.values() for d in descriptions]
    mixed = []
    for i, text in enumerate(own):
        for step in (5, 11, 23):
            other = own[(i + step) % len(own)].split()
            mixed.append(" ".join(text.split()[: len(text.split()) // 2] + other[len(other) // 2:]))
    return _unique(own + mixed)


def _doc_files() -> list[Path]:
    files = sorted(DOC_DIRS[0].glob("*/README*")) if DOC_DIRS[0].is_dir() else []
    for lib in DOC_DIRS[1:]:
        files += sorted(lib.glob("python3*/site-packages/*.dist-info/METADATA"))
    return files


def doc_sentences(limit: int = 3000) -> list[str]:
    """Prose sentences (6-30 words, letters and punctuation only) from installed documentation, spread over files."""
    per_file: list[list[str]] = []
    for path in _doc_files():
        try:
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        except (OSError, EOFError):
            continue
        text = " ".join(raw.decode("utf-8", "replace").split())
        found = [s for s in _SENTENCE_END.split(text) if _PROSE.match(s) and 6 <= len(s.split()) <= 30]
        if found:
            per_file.append(found)
    out: list[str] = []
    depth = 0
    while len(out) < limit and any(depth < len(f) for f in per_file):  # round robin: no file dominates
        out += [f[depth] for f in per_file if depth < len(f)]
        depth += 1
    return _unique(out)[:limit]


def lexicon(tokenizer_json: Path) -> list[str]:
    """Whole lower-case words (3+ letters) of a WordPiece vocabulary, in vocabulary order."""
    vocab = json.loads(Path(tokenizer_json).read_text())["model"]["vocab"]
    return [w for w in sorted(vocab, key=vocab.get) if w.isascii() and w.isalpha() and w.islower() and len(w) >= 3]


def word_bags(words: list[str], probs: np.ndarray, n: int, *, seed: int = 0, confident: float = 0.5) -> list[str]:
    """`n` pseudo-sentences, evenly over subjects: 2-4 words the teacher puts in one subject (p >= `confident`),
    0-2 from another, 2-4 function words, shuffled."""
    rng = np.random.default_rng(seed)
    top = probs.argmax(axis=1)
    pools = [[w for w, t, p in zip(words, top, probs.max(axis=1)) if t == k and p >= confident]
             for k in range(probs.shape[1])]
    pools = [p for p in pools if p]
    if not pools:
        raise ValueError("no word is confidently in any subject: is the teacher loaded?")
    out = []
    for i in range(n):
        main = pools[i % len(pools)]
        other = pools[rng.integers(len(pools))]
        picked = list(rng.choice(main, size=rng.integers(2, 5)))
        picked += list(rng.choice(other, size=rng.integers(0, 3)))
        picked += list(rng.choice(FUNCTION_WORDS, size=rng.integers(2, 5)))
        rng.shuffle(picked)
        out.append(" ".join(picked))
    return _unique(out)


def labelled_set() -> list[dict]:
    return [json.loads(x) for x in (ROOT / LABELLED_SET).read_text().splitlines() if x.strip()]


def _unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))
