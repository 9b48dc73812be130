"""Store benchmark: the one-database store at 1k, 10k and 100k assets with up to 1M caption words.

    python -m bench.store                       # 1k, 10k, 100k assets (about 3-5 minutes)
    python -m bench.store --sizes 1000,10000    # quicker
    python -m bench.store --json                # rows as JSON (also written to bench/out/store.json)
    python -m bench.store --dir /mnt/ssd/bench  # measure the box's real disk

Each size gets a fresh store on the target disk (default bench/out/, this
machine's disk, not a tmpfs: fsync must cost what it costs). It is filled in
bulk transactions (assets share a few blobs so filling does not measure the
file system), with caption records of ~10 words each in proportion
(100k assets ~ 1M words). Then each operation is timed one call at a time, as
the pipeline and the dashboard call it: insert + queue (a new blob, the row,
its tags, search text and outbox entry in one fsynced transaction), caption
append, mark synced, get, list, full-text search over captions and tags
(hybrid: assets and records), and an upload through the real dashboard app.

Targets (issue 7): insert + queue p99 <= 10 ms at 100k; search p50 <= 50 ms at
100k assets / 1M words; dashboard upload at 100k <= 2x that at 1k.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from edge.events import CaptionEvent
from edge.kinds import ASSET_KINDS
from edge.store import AssetStore

OUT = Path(__file__).resolve().parent / "out"
PROVENANCE = {"model": "whisper-tiny-en", "profile": "x86-cpu", "backend": "ctranslate2"}
WORDS_PER_ASSET = 10  # 100k assets ~ 1M caption words, as the issue sizes it
# Caption text is real news speech: 10-word slices of the evaluation sentences, so word frequencies
# (and so how many records a query matches) are those of speech, not of a tiny uniform vocabulary.
SPEECH = [w for w in (Path(__file__).resolve().parent / "news_sentences.txt").read_text().split()]
QUERIES = ["council", "harbour wall", "rain", "crowd", "supporters", "needle", "hospital", "emergency ward",
           "police", "thousand", "bridge", "election"]


def _speech(rng: random.Random, k: int = 10) -> str:
    i = rng.randrange(len(SPEECH) - k)
    return " ".join(SPEECH[i: i + k])


def _item(i: int, rng: random.Random) -> dict:
    kind = ASSET_KINDS[i % len(ASSET_KINDS)]
    return {
        "data": bytes([i % 7]) * 64,  # a few distinct blobs: filling measures the index, not the file system
        "kind": kind,
        "name": f"cam{i % 4}-{kind}-{i:06d}",
        "stream": f"cam{i % 4}",
        "start": float(i),
        "end": float(i) + 2.0,
        "tags": ["council", f"batch{i // 1000}"] + (["needle"] if i % 5000 == 0 else []),
        "provenance": PROVENANCE,
        "meta": {"camera": "fx6", "operator": "kim"},
        "text": _speech(rng, 6) if kind == "note" else None,
    }


def _times(fn: Callable[[], object], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _fill(store: AssetStore, n: int, rng: random.Random) -> None:
    batch = 2000
    for lo in range(0, n, batch):
        store.add_many([_item(i, rng) for i in range(lo, min(n, lo + batch))])
    run = store.records.open_run("cam0", "bench", live=True)
    records = n * WORDS_PER_ASSET // 10
    for lo in range(0, records, 5000):
        rows = []
        for i in range(lo, min(records, lo + 5000)):
            text = _speech(rng)
            rows.append(("caption", run.id, "cam0", float(i), i + 2.0, run.wall(i), run.wall(i + 2.0), text, "{}"))
        store.records.append(rows)


def _upload_ms(store: AssetStore, workdir: Path, reps: int) -> list[float]:
    """POST /api/uploads through the real app (TestClient), as a phone would."""
    from fastapi.testclient import TestClient

    from edge.config import BoxConfig
    from edge.dashboard.app import create_app
    from edge.runtime.box import Box
    from edge.runtime.bus import EventBus
    from tests.dashboard.conftest import PASSWORD, png_bytes

    class NoModels:
        profile = None

    class NoStreams:  # the upload path alone: no camera runs (the dashboard's monitor asks for the streams)
        def streams(self) -> list:
            return []

    box = Box(workdir, BoxConfig(), None, store, EventBus(), NoModels(), NoStreams())  # type: ignore[arg-type]
    app = create_app(box, admin_password=PASSWORD)
    times = []
    with TestClient(app) as client:
        token = client.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(reps):
            body = png_bytes(8 + i % 7, 6, (i % 255, 10, 90))
            t0 = time.perf_counter()
            r = client.post("/api/uploads", files={"file": (f"u{i}.png", body, "image/png")}, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 201:
                raise RuntimeError(f"upload failed: {r.status_code} {r.text}")
    return times


def bench_size(n: int, root: Path, rng: random.Random) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    store = AssetStore(root / "store", disk_floor_bytes=16 << 20, reserve_bytes=16 << 20)
    _fill(store, n, rng)
    fill_s = time.perf_counter() - t0
    row: dict = {"assets": n, "caption_words": n * WORDS_PER_ASSET, "fill_s": round(fill_s, 1)}
    counter = iter(range(10**9))
    ids = [a.id for a in store.list(limit=2000)]
    run = store.records.open_run("cam9", "bench", live=True)

    # Insert + queue: the row, its tags, search text and outbox entry in one fsynced transaction
    # (bytes already in the blob store, as for a repeated keyframe); then the same with a new blob
    # (its file fsynced and renamed into place first).
    same = b"\x01" * 64
    insert = _times(lambda: store.add_bytes(same, kind="keyframe", name=f"k{next(counter)}.jpg", stream="cam1",
                                            tags=["council", "live"], provenance=PROVENANCE), 300)
    row["insert_queue_p50_ms"], row["insert_queue_p99_ms"] = _p(insert, 0.5), _p(insert, 0.99)
    new_blob = _times(lambda: store.add_bytes(next(counter).to_bytes(8, "big") + rng.randbytes(120), kind="keyframe",
                                              name="k.jpg", stream="cam1", tags=["council", "live"],
                                              provenance=PROVENANCE), 200)
    row["add_new_blob_p50_ms"], row["add_new_blob_p99_ms"] = _p(new_blob, 0.5), _p(new_blob, 0.99)
    seq = iter(range(10**9))
    append = _times(lambda: store.records.append_captions(run, [CaptionEvent(
        "final", "cam9", "the council voted on the harbour wall", *[float(next(seq))] * 3)]), 200)
    row["caption_append_p50_ms"], row["caption_append_p99_ms"] = _p(append, 0.5), _p(append, 0.99)
    row["mark_synced_p50_ms"] = _p(_times(lambda: store.mark_synced(ids.pop()), 200), 0.5)
    probe = [a.id for a in store.list(limit=500)]
    row["get_p50_ms"] = _p(_times(lambda: store.get(rng.choice(probe)), 2000), 0.5)
    row["list100_p50_ms"] = _p(_times(lambda: store.list(limit=100), 200), 0.5)
    row["list_filtered_p50_ms"] = _p(_times(lambda: store.list(kind="keyframe", stream="cam0", limit=100), 200), 0.5)
    queries = iter(QUERIES * 100)
    search = _times(lambda: (store.search(next(queries), limit=50), store.records.search(next(queries), limit=50)), 60)
    row["search_p50_ms"], row["search_p90_ms"] = _p(search, 0.5), _p(search, 0.9)
    row["disk_status_p50_ms"] = _p(_times(store.disk_status, 200), 0.5)
    upload = _upload_ms(store, root, 60)
    row["upload_p50_ms"], row["upload_p99_ms"] = _p(upload, 0.5), _p(upload, 0.99)
    store.close()
    t0 = time.perf_counter()
    AssetStore(root / "store").close()
    row["open_ms"] = (time.perf_counter() - t0) * 1000
    db = root / "store" / "edge.sqlite"
    row["db_mb"] = round(sum(p.stat().st_size for p in db.parent.glob("edge.sqlite*")) / 2**20, 1)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def table(rows: list[dict]) -> str:
    cols = [("assets", "assets"), ("caption_words", "caption words"), ("insert_queue_p50_ms", "insert+queue p50"),
            ("insert_queue_p99_ms", "insert+queue p99"), ("add_new_blob_p50_ms", "add w/ new blob p50"),
            ("add_new_blob_p99_ms", "add w/ new blob p99"), ("caption_append_p50_ms", "caption append p50"),
            ("mark_synced_p50_ms", "mark synced"), ("get_p50_ms", "get"), ("list100_p50_ms", "list 100"),
            ("search_p50_ms", "search p50"), ("search_p90_ms", "search p90"), ("upload_p50_ms", "upload p50"),
            ("disk_status_p50_ms", "disk status"), ("open_ms", "open"), ("db_mb", "db MB")]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[k]:,}" if isinstance(r[k], int) else f"{r[k]:.2f}" for k, _ in cols) + " |")
    return "\n".join(lines)


def verdict(rows: list[dict]) -> list[str]:
    by = {r["assets"]: r for r in rows}
    out = []
    if 100_000 in by:
        r = by[100_000]
        out.append(f"insert+queue p99 at 100k: {r['insert_queue_p99_ms']:.2f} ms (target <= 10): "
                   + ("met" if r["insert_queue_p99_ms"] <= 10 else "MISSED"))
        out.append(f"search p50 at 100k / 1M words: {r['search_p50_ms']:.2f} ms (target <= 50): "
                   + ("met" if r["search_p50_ms"] <= 50 else "MISSED"))
        if 1000 in by:
            ratio = r["upload_p50_ms"] / by[1000]["upload_p50_ms"]
            out.append(f"upload p50 at 100k / at 1k: {ratio:.2f}x (target <= 2x): " + ("met" if ratio <= 2 else "MISSED"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--dir", type=Path, default=OUT / "store-bench")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = ap.parse_args(argv)
    rng = random.Random(7)
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        rows.append(bench_size(n, args.dir / str(n), rng))
        print(f"  measured {n:,} assets", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "store.json").write_text(json.dumps(rows, indent=2))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("Store (one SQLite database, WAL, synchronous=FULL), ms per operation")
        print(table(rows))
        for line in verdict(rows):
            print(line)
    shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
