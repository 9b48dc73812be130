"""Chaos: several boxes sync hundreds of assets while centers and boxes are killed at random.

`edge sync --until-drained` per box and `edge-center serve` run as real
processes; the test `kill -9`s them at random moments, restarts them, and
cuts the link for a while by keeping the center down. At the end every
asset must be at the center exactly once with the right sha256, and every
box's outbox must be empty. The seed is printed (and can be forced with
SYNC_CHAOS_SEED) so a failure can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from cloud_sync.boxfiles import BoxFiles
from cloud_sync.center.server import CenterPaths
from edge.store import AssetStore

from .conftest import ROOT, center_cli, edge_cli, env, free_port, wait_for

MiB = 1 << 20
KINDS = ("media", "keyframe", "upload", "draft", "caption_track", "transcript", "note", "sensor_series")
CHAOS_S = 45.0


def _size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.65:
        return rng.randint(1024, 100 * 1024)
    if r < 0.92:
        return rng.randint(100 * 1024, 2 * MiB)
    return rng.randint(2 * MiB, 6 * MiB)


def _fill(store: AssetStore, rng: random.Random, count: int, extra: list[int]) -> dict[str, str]:
    expected = {}
    sizes = [_size(rng) for _ in range(count)] + extra
    rng.shuffle(sizes)
    for i, size in enumerate(sizes):
        data = rng.randbytes(size)
        a = store.add_bytes(data, kind=KINDS[i % len(KINDS)], name=f"asset-{i:03d}", stream=f"cam{i % 2}",
                            start=float(i), end=float(i) + 1.5, tags=["chaos", f"n{i}"],
                            provenance={"test": "chaos"})
        expected[a.id] = a.sha256
    return expected


class Proc:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.argv, self.log = name, argv, log
        self.p: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            out.write(f"\n--- start {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            self.p = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=env(), cwd=ROOT)

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.p is not None
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
            self.kills += 1

    @property
    def returncode(self) -> int | None:
        return None if self.p is None else self.p.poll()


def test_chaos_every_asset_arrives_exactly_once(tmp_path: Path):
    seed = int(os.environ.get("SYNC_CHAOS_SEED", random.randrange(1 << 30)))
    print(f"chaos seed: {seed} (rerun with SYNC_CHAOS_SEED={seed})")
    rng = random.Random(seed)

    cdir = tmp_path / "center"
    center_cli("init", "--data", str(cdir))
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"

    boxes, expected = [], {}
    extras = {0: [50 * MiB], 1: [20 * MiB], 2: []}
    for b in range(3):
        bdir = tmp_path / f"box{b}"
        pub = edge_cli("init", "--data", str(bdir), "--box-id", f"box{b}").stdout.strip().splitlines()[-1]
        center_cli("allow", "--data", str(cdir), pub)
        edge_cli("pair", "--data", str(bdir), "--center", endpoint, "--center-key", str(CenterPaths(cdir).public_key))
        with AssetStore(BoxFiles(bdir).store) as store:
            expected[f"box{b}"] = _fill(store, rng, rng.randint(60, 90), extras[b])
        boxes.append(Proc(f"box{b}", [sys.executable, "-m", "edge.cli", "sync", "--data", str(bdir),
                                      "--until-drained", "--timeout", "400"], tmp_path / f"box{b}.log"))
    total = sum(len(v) for v in expected.values())
    nbytes = 0
    for b in range(3):
        with AssetStore(BoxFiles(tmp_path / f"box{b}").store) as store:
            nbytes += sum(a.size for a in store.pending_sync())
    print(f"{total} assets, {nbytes / MiB:.0f} MiB")

    center = Proc("center", [sys.executable, "-m", "cloud_sync.center.cli", "serve", "--data", str(cdir),
                             "--bind", endpoint], tmp_path / "center.log")
    center.start()
    for box in boxes:
        box.start()

    events = []
    t_end = time.monotonic() + CHAOS_S
    while time.monotonic() < t_end and not all(b.returncode == 0 for b in boxes):
        time.sleep(rng.uniform(0.2, 1.2))
        action = rng.choice(["kill_center", "kill_box", "kill_box", "cut_link", "nothing"])
        if action == "kill_center":
            center.kill9()
            time.sleep(rng.uniform(0, 0.5))
            center.start()
        elif action == "kill_box":
            box = rng.choice(boxes)
            if box.returncode == 0:
                continue  # finished: nothing left to kill
            box.kill9()
            time.sleep(rng.uniform(0, 0.5))
            box.start()
        elif action == "cut_link":
            center.kill9()
            time.sleep(rng.uniform(2, 5))  # the boxes see a dead link and back off
            center.start()
        events.append(action)
    print("chaos events:", events)

    # Let everyone finish: restart what was killed or gave up, with the center up.
    if not center.alive():
        center.start()
    for box in boxes:
        if box.returncode not in (None, 0):
            box.start()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and not all(b.returncode == 0 for b in boxes):
        for box in boxes:
            if box.returncode not in (None, 0):
                box.start()  # e.g. ran out of its own --timeout
        time.sleep(0.5)
    for box in boxes:
        if box.alive():
            box.kill9()
    assert all(b.returncode == 0 for b in boxes), [(b.name, b.returncode, b.log.read_text()[-2000:]) for b in boxes]
    # SIGTERM stops a serving center cleanly (one still importing would just die of it).
    wait_for(lambda: "serving on" in center.log.read_text().rsplit("--- start", 1)[-1], 20, what="center up")
    assert center.p is not None
    center.p.send_signal(signal.SIGTERM)
    assert center.p.wait(20) == 0

    rows = [json.loads(line) for line in center_cli("ls", "--data", str(cdir), "--json").stdout.splitlines()]
    got: dict[str, dict[str, str]] = {}
    for r in rows:
        assert r["id"] not in got.setdefault(r["box"], {}), f"{r['box']}/{r['id']} is stored twice"
        got[r["box"]][r["id"]] = r["sha256"]
    assert got == expected
    for r in rows:  # the bytes behind every row are the right ones
        obj = CenterPaths(cdir).root / "objects" / r["sha256"][:2] / r["sha256"]
        h = hashlib.sha256()
        with open(obj, "rb") as f:
            while chunk := f.read(MiB):
                h.update(chunk)
        assert h.hexdigest() == r["sha256"] and obj.stat().st_size == r["size"]
    for b in range(3):
        with AssetStore(BoxFiles(tmp_path / f"box{b}").store) as store:
            assert store.pending_sync() == []
    print(f"kills: center {center.kills}, boxes {[b.kills for b in boxes]}")
