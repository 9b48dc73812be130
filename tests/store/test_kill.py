"""Kill -9 at random moments: every write the store acknowledged must still be there.

This proves the process-crash half of crash safety (SQLite transactions in
WAL mode, the blob before the row, commit before acknowledging). A power cut
additionally loses the page cache; that half rests on synchronous=FULL and
the blob fsyncs, which a kill cannot test.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import random
import signal
import threading
import time
from pathlib import Path

from edge.store import AssetStore

from . import writer_proc

ROOT = Path(__file__).resolve().parents[2]
# Each kill lands at a uniformly random moment of the write loop (blob file, asset row with its outbox entry,
# two finals in one transaction, sync mark, batch), whatever the round's length; the rounds stay 15 and the
# store accumulates across them, so later kills also meet WAL checkpoints of a larger database.
ROUNDS = 15


def _writers():
    """Writers forked from a server that has imported the store once: a round costs a fork, not a start-up."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", writer_proc.__name__])
    return ctx


def _run_and_kill(ctx, store_dir: Path, seed: int, rng: random.Random) -> list[list[str]]:
    acks_in, acks_out = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=writer_proc.write_until_killed, args=(str(store_dir), seed, acks_out), daemon=True)
    proc.start()
    acks_out.close()  # the writer holds the only sending end: its death ends the reader
    lines: list[str] = []
    ready = threading.Event()

    def reader() -> None:
        while True:
            try:
                line = acks_in.recv_bytes().decode()
            except (EOFError, OSError):  # OSError: a message cut by the kill, never fully acknowledged
                return
            lines.append(line)
            if line.startswith("READY"):
                ready.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        assert ready.wait(30), f"writer did not start: {lines}"
        time.sleep(rng.uniform(0.2, 1.0))
        assert proc.exitcode is None, f"writer died on its own: {lines[-1:]}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.exitcode is None:
            proc.kill()
        proc.join(10)
        t.join(10)
        acks_in.close()
    return [line.split() for line in lines if line.startswith("ACK ")]


def _assert_content(store: AssetStore, assets: dict[str, str]) -> None:
    for asset_id, sha in assets.items():
        assert hashlib.sha256(store.content_path(asset_id).read_bytes()).hexdigest() == sha, asset_id


def test_every_acknowledged_write_survives_kill_minus_9(tmp_path: Path, caplog, monkeypatch) -> None:
    seed = int(os.environ.get("STORE_KILL_SEED", time.time_ns()))
    print(f"kill timings: STORE_KILL_SEED={seed}")  # shown on failure, to replay the same kill times
    rng = random.Random(seed)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the fork server imports the writer from this checkout
    writers = _writers()
    store_dir = tmp_path / "store"
    acked_assets: dict[str, str] = {}
    acked_records: dict[int, tuple[str, str]] = {}  # seq -> (run, text)
    acked_synced: set[str] = set()
    acked_batches: list[list[str]] = []
    runs_seen: set[str] = set()

    for round_ in range(ROUNDS):
        acks = _run_and_kill(writers, store_dir, round_, rng)
        assert acks, "the writer was killed before acknowledging anything"
        new_assets: dict[str, str] = {}
        for ack in acks:
            if ack[1] == "asset":
                new_assets[ack[2]] = ack[3]
            elif ack[1] == "record":
                acked_records[int(ack[3])] = (ack[2], ack[4])
                runs_seen.add(ack[2])
            elif ack[1] == "batch":
                acked_batches.append(ack[2:])
            else:
                acked_synced.add(ack[2])
        acked_assets.update(new_assets)

        with caplog.at_level(logging.WARNING, logger="edge.store"), AssetStore(store_dir) as store:
            rows = {a.id: a for a in store.summaries()}
            lost = sorted(set(acked_assets) - set(rows))
            assert not lost, f"lost assets: {lost[:5]}"
            assert all(rows[i].sha256 == sha for i, sha in acked_assets.items())
            # Blobs are content-addressed files written before their row: the bytes of this round's writes
            # are read back now, and every round's once more after the last kill.
            _assert_content(store, new_assets)
            assert all(rows[i].sync == "synced" for i in acked_synced)
            series = {a.id: n for n, a in enumerate(store.list(kind="sensor_series", limit=None, newest_first=False))}
            for batch in acked_batches:  # all of a batch, in the order given
                assert all(i in series for i in batch) and sorted(batch, key=series.get) == batch, batch
            # Assets and their outbox entries were one transaction: never one without the other.
            assert store.db.read("SELECT id FROM assets WHERE sync = 'pending' AND id NOT IN"
                                 " (SELECT asset_id FROM outbox)") == []
            assert store.db.read("SELECT asset_id FROM outbox WHERE asset_id NOT IN"
                                 " (SELECT id FROM assets WHERE sync = 'pending')") == []
            totals = store.totals()
            assert sum(c for per in totals.values() for c, _ in per.values()) == len(rows)

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
        _assert_content(store, acked_assets)
        closed = store.records.close_open_runs("killed")
        assert closed and all(r.close_reason == "killed" and r.closed_at for r in closed)
        assert all(r.closed_at is not None for r in store.records.runs(limit=1000))
        assert {r.id for r in store.records.runs(limit=1000)} >= runs_seen
