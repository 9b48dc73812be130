"""Tags and search: embedder fp32 vs int8, topic accuracy, search recall@5 (hybrid vs full-text only).

    python -m bench.tagging [--json]

The search event is the bundled demo event (its script as captions, its
on-screen graphics as OCR text), crew notes and uploads, and an unrelated
second stream as distraction. Queries are written as an editor would type
them, mostly without the words of their target (bench/data/search_queries.jsonl).
Topic accuracy is on bench/data/topics_test.jsonl (68 sentences, 4 per
subject); the topic temperature was set on topics_tune.jsonl only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.demo.clip import SCRIPT_PATH, read_sentences
from edge.registry import Registry
from edge.search.hybrid import HybridSearch
from edge.store import AssetStore
from edge.store.records import CAPTION, OCR
from edge.tagging.embeddings import Embedder, EmbedderChoice
from edge.tagging.postprocess import TaggingPostProcessor
from edge.tagging.topics import TopicTagger

DATA = Path(__file__).parent / "data"
ON_SCREEN = [(0.0, 12.0, "LIVE ASHFORD RIVERSIDE"), (2.0, 9.0, "SARAH MILLS Reporter, Ashford"),
             (12.0, 30.0, "NEW FLOOD DEFENCES OPEN"), (30.0, 50.0, "LIVE ASHFORD TOWN HALL"),
             (32.0, 50.0, "DAVID OKAFOR Council Leader")]
NOTES = ["Photos of sandbags stacked on Mill Lane by volunteers",
         "Interview with shopkeeper Anna Patel at her bakery on Bridge Street",
         "Council press release about the opening ceremony (PDF to follow)",
         "Drone shot of the new wall at dusk, 4K",
         "River gauge read 2.3 metres at six in the evening",
         "Parking for the satellite truck is behind the library"]
OTHER_STREAM = ["United came from behind to win the derby three-two in extra time.",
                "The striker scored twice and the fans invaded the pitch.",
                "Heavy snow is forecast for the hills tomorrow morning.",
                "Temperatures will drop below freezing overnight.",
                "The school reopens on Monday after the holiday.",
                "Tickets for the summer concert sold out in an hour."]


def build_event(root: Path, embedder: Embedder) -> AssetStore:
    store = AssetStore(root / "store")
    origin = time.time() - 600
    run = store.records.open_run("cam1", "rtsp://demo", live=True, origin=origin)
    rows, t = [], 1.0
    for sentence in read_sentences(SCRIPT_PATH):
        rows.append((CAPTION, run.id, "cam1", t, t + 5.0, run.wall(t), run.wall(t + 5.0), sentence, "{}"))
        t += 6.0
    rows += [(OCR, run.id, "cam1", s, e, run.wall(s), run.wall(e), text, "{}") for s, e, text in ON_SCREEN]
    store.records.append(rows)
    store.records.close_run(run.id, "ended")
    other = store.records.open_run("cam2", "rtsp://other", live=True, origin=origin)
    store.records.append([(CAPTION, other.id, "cam2", i * 6.0, i * 6.0 + 5, other.wall(i * 6.0), other.wall(i * 6.0 + 5),
                           s, "{}") for i, s in enumerate(OTHER_STREAM)])
    store.records.close_run(other.id, "ended")
    for i, note in enumerate(NOTES):
        store.add_bytes(note.encode(), kind="note", name=f"note-{i}.txt", mime="text/plain", text=note)
    post = TaggingPostProcessor(store, embedder, clock=lambda: time.time() + 3600)
    while post.step():
        pass
    return store


def target_key(store: AssetStore, needle: str) -> str:
    row = store.db.read_one("SELECT seq FROM records WHERE type IN ('caption', 'ocr') AND text LIKE ?", (f"%{needle}%",))
    if row:
        return f"r:{row[0]}"
    row = store.db.read_one("SELECT id FROM assets WHERE body LIKE ?", (f"%{needle}%",))
    if row is None:
        raise SystemExit(f"bench/data/search_queries.jsonl: no target contains {needle!r}")
    return f"a:{row[0]}"


def recall_at_5(store: AssetStore, embedder: Embedder | None, queries: list[dict], mode: str) -> tuple[float, float]:
    search = HybridSearch(store.db, embedder)
    if mode == "meaning":  # semantic leg alone: the text leg gets no candidates
        search._text_leg = lambda q: []  # noqa: SLF001 (bench-only switch)
    hits, elapsed = 0, 0.0
    for q in queries:
        want = target_key(store, q["target"])
        t0 = time.perf_counter()
        got = [("r:" if h.type != "asset" else "a:") + h.ref for h in search.search(q["query"], 5)]
        elapsed += time.perf_counter() - t0
        hits += want in got
    return hits / len(queries), 1000 * elapsed / len(queries)


def embed_speed(embedder: Embedder, texts: list[str]) -> float:
    embedder.embed(texts[:4])
    t0 = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    registry = Registry()
    registry.provision(registry.manifest("minilm-l6-v2"))
    models = {f: Embedder.load(EmbedderChoice(file=f), registry) for f in ("model.onnx", "model-int8.onnx")}
    topics = [json.loads(line) for line in (DATA / "topics_test.jsonl").read_text().splitlines()]
    queries = [json.loads(line) for line in (DATA / "search_queries.jsonl").read_text().splitlines()]
    texts = [t["text"] for t in topics]
    ref = models["model.onnx"].embed(texts)
    rows = []
    for name, emb in models.items():
        vec = emb.embed(texts)
        cos = (vec * ref).sum(axis=1)
        acc = float(np.mean([p == t["code"] for p, t in zip(TopicTagger(emb).best(vec), topics)]))
        size = (registry.directory(registry.manifest("minilm-l6-v2")) / name).stat().st_size
        with tempfile.TemporaryDirectory() as tmp:
            store = build_event(Path(tmp), emb)
            hybrid, hybrid_ms = recall_at_5(store, emb, queries, "hybrid")
            meaning, _ = recall_at_5(store, emb, queries, "meaning")
            text_only, text_ms = recall_at_5(store, None, queries, "text")
            store.close()
        rows.append({"embedder": name, "size_mb": round(size / 1e6, 1), "sentences_per_s": round(embed_speed(emb, texts), 1),
                     "cosine_to_fp32_mean": round(float(cos.mean()), 4), "cosine_to_fp32_min": round(float(cos.min()), 4),
                     "topic_accuracy": round(acc, 3), "recall5_hybrid": round(hybrid, 3),
                     "recall5_meaning_only": round(meaning, 3), "recall5_fulltext_only": round(text_only, 3),
                     "query_ms_hybrid": round(hybrid_ms, 1), "query_ms_fulltext": round(text_ms, 1)})
    if args.json:
        print(json.dumps({"topics_test": len(topics), "queries": len(queries), "rows": rows}, indent=1))
        return 0
    print(f"\nTags and search ({len(topics)} labelled sentences over 17 IPTC subjects; {len(queries)} search queries;"
          " full-text only = the reference)")
    head = ("embedder", "MB", "sent/s", "cos mean", "cos min", "topic acc", "R@5 hybrid", "R@5 meaning", "R@5 full-text",
            "ms/query")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['embedder']} | {r['size_mb']} | {r['sentences_per_s']} | {r['cosine_to_fp32_mean']} | "
              f"{r['cosine_to_fp32_min']} | {r['topic_accuracy']:.1%} | {r['recall5_hybrid']:.1%} | "
              f"{r['recall5_meaning_only']:.1%} | {r['recall5_fulltext_only']:.1%} | {r['query_ms_hybrid']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
