"""Store benchmark: where does TinyDB stop serving the asset index?

    python -m bench.store                       # 100, 10k and 100k assets (about 3 minutes)
    python -m bench.store --sizes 100,1000      # quicker
    python -m bench.store --dir /mnt/ssd/bench  # measure the box's real disk

Each size gets a fresh store on the target disk (default bench/out/, i.e.
this machine's disk, not a tmpfs: fsync must cost what it costs). The store
is filled with one bulk write (add_many), because TinyDB rewrites its whole
file on every write and filling 100k assets one by one is O(n^2). Then each
operation is timed on top of it, one call at a time, as the dashboard and
the pipeline would call it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from edge.events import CaptionEvent
from edge.store import AssetStore

OUT = Path(__file__).resolve().parent / "out"
KINDS = ("keyframe", "media", "upload", "caption_track", "transcript", "draft", "sensor_series", "note")
PROVENANCE = {"model": "whisper-tiny-en", "profile": "x86-cpu", "backend": "ctranslate2"}


def _item(i: int, rng: random.Random) -> dict:
    kind = KINDS[i % len(KINDS)]
    return {
        "data": i.to_bytes(8, "big") + rng.randbytes(56),  # distinct bytes: one blob each, as in the field
        "kind": kind,
        "name": f"cam{i % 4}-{kind}-{i:06d}",
        "mime": "application/octet-stream",
        "stream": f"cam{i % 4}",
        "start": float(i),
        "end": float(i) + 2.0,
        "tags": ["council", f"batch{i // 1000}"] + (["needle"] if i % 5000 == 0 else []),
        "provenance": PROVENANCE,
        "meta": {"camera": "fx6", "operator": "kim"},
    }


def _ms_per_op(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def bench_size(n: int, root: Path, rng: random.Random) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    row: dict = {"assets": n}
    with AssetStore(root) as store:
        t0 = time.perf_counter()
        made = store.add_many(_item(i, rng) for i in range(n))
        row["bulk_load_s"] = time.perf_counter() - t0
        ids = [a.id for a in made]

    t0 = time.perf_counter()
    store = AssetStore(root)
    row["open_ms"] = (time.perf_counter() - t0) * 1000
    with store:
        # Few reps where one op costs a whole-file rewrite, many where it is cheap.
        heavy = max(3, min(50, 200_000 // max(n, 1)))
        counter = iter(range(n, 10**9))
        row["insert_ms"] = _ms_per_op(lambda: store.add_bytes(**_item(next(counter), rng)), heavy)
        row["mark_synced_ms"] = _ms_per_op(lambda: store.mark_synced(rng.choice(ids)), heavy)
        row["get_ms"] = _ms_per_op(lambda: store.get(rng.choice(ids)), 2000)
        row["list100_ms"] = _ms_per_op(lambda: store.list(limit=100), 200)
        row["list_filtered_ms"] = _ms_per_op(lambda: store.list(kind="keyframe", stream="cam0", limit=100), 50)
        row["search_ms"] = _ms_per_op(lambda: store.search("needle"), 10)
        seq = iter(range(10**9))
        row["caption_append_ms"] = _ms_per_op(
            lambda: store.captions.append([CaptionEvent("final", "cam1", "the council voted", *[float(next(seq))] * 3)]),
            200,
        )
        row["db_bytes"] = (root / "assets.json").stat().st_size
    return row


def _size(nbytes: float) -> str:
    unit = "B"
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000:
            break
        nbytes /= 1000
    return f"{nbytes:.1f} {unit}"


def table(rows: list[dict]) -> str:
    cols = [
        ("assets", lambda r: f"{r['assets']:,}"),
        ("insert", lambda r: f"{r['insert_ms']:.2f}"),
        ("mark_synced", lambda r: f"{r['mark_synced_ms']:.2f}"),
        ("get by id", lambda r: f"{r['get_ms']:.3f}"),
        ("list 100 newest", lambda r: f"{r['list100_ms']:.2f}"),
        ("list kind+stream", lambda r: f"{r['list_filtered_ms']:.2f}"),
        ("search", lambda r: f"{r['search_ms']:.2f}"),
        ("caption append", lambda r: f"{r['caption_append_ms']:.2f}"),
        ("open", lambda r: f"{r['open_ms']:.1f}"),
        ("bulk load", lambda r: f"{r['bulk_load_s']:.1f} s"),
        ("db file", lambda r: _size(r["db_bytes"])),
    ]
    lines = [
        "| " + " | ".join(c for c, _ in cols) + " |",
        "|" + "|".join("---:" for _ in cols) + "|",
    ]
    lines += ["| " + " | ".join(f(r) for _, f in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,10000,100000")
    ap.add_argument("--dir", type=Path, default=OUT / "store-bench")
    ap.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    args = ap.parse_args()
    rng = random.Random(7)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(bench_size(n, args.dir / str(n), rng))
        print(f"  {n:,} assets done", flush=True)
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)
    print(f"\nms per operation (median), store on {args.dir} ({os.uname().sysname}, {os.cpu_count()} CPUs)\n")
    print(table(rows))
    OUT.mkdir(exist_ok=True)
    (OUT / "store.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
