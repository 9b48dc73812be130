"""Kill -9 at random moments: every write the store acknowledged must still be there.

This proves the process-crash half of crash safety (atomic replace, fsync
before acknowledging, torn-tail recovery). A power cut additionally loses
the page cache; that half rests on the fsyncs, which a kill cannot test.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge.store import AssetStore

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("writer_proc.py")
ROUNDS = 15


def _run_and_kill(store_dir: Path, seed: int, rng: random.Random) -> list[list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(store_dir), str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    lines: list[str] = []
    ready = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.endswith("\n"):  # a line cut by the kill was never fully acknowledged
                lines.append(line.strip())
                if line.startswith("READY"):
                    ready.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert ready.wait(30), f"writer did not start: {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(rng.uniform(0.2, 1.5))
        assert proc.poll() is None, f"writer died on its own: {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
        t.join(10)
        proc.stdout.close()
        proc.stderr.close()
    return [line.split() for line in lines if line.startswith("ACK ")]


def test_every_acknowledged_write_survives_kill_minus_9(tmp_path: Path, caplog) -> None:
    seed = int(os.environ.get("STORE_KILL_SEED", time.time_ns()))
    print(f"kill timings: STORE_KILL_SEED={seed}")  # shown on failure, to replay the same kill times
    rng = random.Random(seed)
    store_dir = tmp_path / "store"
    acked_assets: dict[str, str] = {}
    acked_captions: set[str] = set()
    acked_synced: set[str] = set()

    for round_ in range(ROUNDS):
        acks = _run_and_kill(store_dir, round_, rng)
        assert acks, "the writer was killed before acknowledging anything"
        for ack in acks:
            if ack[1] == "asset":
                acked_assets[ack[2]] = ack[3]
            elif ack[1] == "caption":
                acked_captions.add(ack[2])
            else:
                acked_synced.add(ack[2])

        with caplog.at_level(logging.WARNING, logger="edge.store.db"), AssetStore(store_dir) as store:
            for asset_id, sha in acked_assets.items():
                asset = store.get(asset_id)
                content = store.content_path(asset_id).read_bytes()
                assert asset.sha256 == sha == hashlib.sha256(content).hexdigest()
            assert all(store.get(i).sync == "synced" for i in acked_synced)
            stored = {c["id"] for c in store.captions.read()}
            assert acked_captions <= stored, f"lost captions: {sorted(acked_captions - stored)[:5]}"
            for stream in store.captions.streams():
                seqs = [int(c["id"].split(":")[1]) for c in store.captions.read(stream)]
                assert seqs == list(range(1, len(seqs) + 1))  # monotonic, no gaps or repeats
        # A kill never damages the index (replace is atomic), so it never needs recovery.
        assert "damaged" not in caplog.text and "missing" not in caplog.text

    assert len(acked_assets) >= ROUNDS
