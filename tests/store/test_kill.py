"""Kill -9 at random moments: every write the store acknowledged must still be there.

This proves the process-crash half of crash safety (SQLite transactions in
WAL mode, the blob before the row, commit before acknowledging). A power cut
additionally loses the page cache; that half rests on synchronous=FULL and
the blob fsyncs, which a kill cannot test.
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
    acked_records: dict[int, tuple[str, str]] = {}  # seq -> (run, text)
    acked_synced: set[str] = set()
    acked_batches: list[list[str]] = []
    runs_seen: set[str] = set()

    for round_ in range(ROUNDS):
        acks = _run_and_kill(store_dir, round_, rng)
        assert acks, "the writer was killed before acknowledging anything"
        for ack in acks:
            if ack[1] == "asset":
                acked_assets[ack[2]] = ack[3]
            elif ack[1] == "record":
                acked_records[int(ack[3])] = (ack[2], ack[4])
                runs_seen.add(ack[2])
            elif ack[1] == "batch":
                acked_batches.append(ack[2:])
            else:
                acked_synced.add(ack[2])

        with caplog.at_level(logging.WARNING, logger="edge.store"), AssetStore(store_dir) as store:
            for asset_id, sha in acked_assets.items():
                asset = store.get(asset_id)
                content = store.content_path(asset_id).read_bytes()
                assert asset.sha256 == sha == hashlib.sha256(content).hexdigest()
            assert all(store.get(i).sync == "synced" for i in acked_synced)
            for batch in acked_batches:
                assert [a.id for a in store.list(kind="sensor_series", limit=None, newest_first=False)
                        if a.id in batch] == batch
            # Assets and their outbox entries were one transaction: never one without the other.
            assert store.db.read("SELECT id FROM assets WHERE sync = 'pending' AND id NOT IN"
                                 " (SELECT asset_id FROM outbox)") == []
            assert store.db.read("SELECT asset_id FROM outbox WHERE asset_id NOT IN"
                                 " (SELECT id FROM assets WHERE sync = 'pending')") == []
            totals = store.totals()
            assert sum(c for per in totals.values() for c, _ in per.values()) == len(store.summaries())

            stored = {r.seq: r for r in store.records.read(limit=None)}
            lost = sorted(set(acked_records) - set(stored))
            assert not lost, f"lost records: {lost[:5]}"
            for seq, (run, text) in acked_records.items():
                assert (stored[seq].run, stored[seq].text) == (run, text)
            assert all(r.text.startswith("caption-") for r in stored.values())  # no partials
            # Runs are never mixed: reading one run gives its records only, in seq order.
            for run_id in runs_seen:
                mine = store.records.read(run=run_id, limit=None)
                assert mine and all(r.run == run_id for r in mine)
                assert [r.seq for r in mine] == sorted(r.seq for r in stored.values() if r.run == run_id)
                # Both finals of one append are one transaction: a and b together.
                texts = [r.text for r in mine]
                assert sum(t.endswith("-a") for t in texts) == sum(t.endswith("-b") for t in texts)
            # Every run the killed writers left open is still open until someone closes it.
            assert all(r.closed_at is not None or r.close_reason is None for r in store.records.runs(limit=1000))
            assert store.db.read_one("PRAGMA integrity_check")[0] == "ok"
        assert "damaged" not in caplog.text and "cannot be opened" not in caplog.text

    assert len(acked_assets) >= ROUNDS
    with AssetStore(store_dir) as store:
        closed = store.records.close_open_runs("killed")
        assert closed and all(r.close_reason == "killed" and r.closed_at for r in closed)
        assert all(r.closed_at is not None for r in store.records.runs(limit=1000))
        assert {r.id for r in store.records.runs(limit=1000)} >= runs_seen
