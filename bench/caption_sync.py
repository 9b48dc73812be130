"""How soon a committed caption is at the newsroom: box -> caption segment -> sync -> center.

    python -m bench.caption_sync            # about 1.5 minutes: 10 sentences played live
    python -m bench.caption_sync --json

A real center (`edge-center serve`) and a real box (`edge run`, paired, the
bench corpus' first sentences played as a live camera) run on loopback. Every
0.2 s the bench reads the box's stored finals (/api/captions: the moment a
final is committed, to within the poll) and the center's captions
(`edge-center captions --json`); a final's delay is when the center first
lists it minus when the box first listed it. Target (issue 7): p90 <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.corpus import build_corpus
from tests.conftest import read_wav, write_wav
from tests.e2e.test_box_kill import free_port as _port
from tests.e2e.test_box_to_center import login, paired, run as _run, start

BIN = Path(sys.executable).parent
SECONDS = 75.0  # of the clean corpus clip, played in real time


def measure(segment_s: float) -> dict:
    clean = next(i for i in build_corpus() if i.name == "clean")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = write_wav(work / "clip.wav", read_wav(clean.wav)[: int(SECONDS * 16000)].astype(np.float32))
        center, box, bind = paired(work, "bench-box")
        config = work / "box.yaml"
        config.write_text(f"box_id: bench-box\ndashboard: {{tls: off}}\nsync: {{caption_segment_s: {segment_s}}}\n"
                          f"streams:\n  - {{name: cam, source: '{clip}', live: true}}\n")
        port = _port()
        procs = start(center, box, bind, config, port, quiet=True)
        try:
            return _poll(center, port)
        finally:
            for p in procs:
                p.send_signal(signal.SIGINT)
                p.wait(30)


def _poll(center: Path, port: int) -> dict:
    token = login(port, time.monotonic() + 90)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
    at_box: dict[tuple[str, float], float] = {}
    at_center: dict[tuple[str, float], float] = {}
    ended_at = None
    deadline = time.monotonic() + SECONDS + 120
    while time.monotonic() < deadline:
        now = time.monotonic()
        for c in api.get("/api/captions", params={"stream": "cam"}).json()["captions"]:
            at_box.setdefault((c["run"], round(c["start"], 2)), now)
        lines = _run("edge-center", "captions", "--data", str(center), "--box", "bench-box", "--json",
                     "--live").splitlines()  # the finals as shown: polished text replaces them later
        now = time.monotonic()
        for c in map(json.loads, lines):
            at_center.setdefault((c["run"], round(c["start"], 2)), now)
        state = api.get("/api/streams").json()["streams"][0]["state"]
        if state == "ended" and ended_at is None:
            ended_at = now
        if ended_at is not None and (set(at_box) <= set(at_center) or now - ended_at > 40):
            break
        time.sleep(0.2)
    delays = [at_center[k] - t for k, t in at_box.items() if k in at_center]
    return {"finals": len(at_box), "at_center": len(delays),
            "p50_s": round(statistics.median(delays), 2) if delays else None,
            "p90_s": round(sorted(delays)[int(0.9 * (len(delays) - 1))], 2) if delays else None,
            "max_s": round(max(delays), 2) if delays else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.caption_sync", description=__doc__.split("\n")[0])
    ap.add_argument("--segment-s", type=float, default=5.0, help="the box's caption_segment_s")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    row = {"segment_s": args.segment_s, **measure(args.segment_s)}
    if args.json:
        print(json.dumps(row))
        return 0
    print("Committed caption -> newsroom (loopback, box and center on this machine)")
    print("| caption_segment_s | finals | at center | p50 s | p90 s | max s | target p90 <= 30 s |")
    print("|---|---|---|---|---|---|---|")
    ok = row["p90_s"] is not None and row["p90_s"] <= 30 and row["at_center"] == row["finals"]
    print(f"| {row['segment_s']} | {row['finals']} | {row['at_center']} | {row['p50_s']} | {row['p90_s']} | "
          f"{row['max_s']} | {'met' if ok else 'MISSED'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
