"""The whole path: a running box captions a stream and its caption track reaches the newsroom."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_box_kill import free_port

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def run(*args: str) -> str:
    proc = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def paired(work: Path, box_id: str) -> tuple[Path, Path, str]:
    """A center and a box in `work`, initialised, allowed and paired as the README says: (center, box, bind)."""
    center, box = work / "center", work / "box"
    center_key = run("edge-center", "init", "--data", str(center)).strip().splitlines()[-1]
    box_key = run("edge", "init", "--data", str(box), "--box-id", box_id).strip().splitlines()[-1]
    run("edge-center", "allow", "--data", str(center), box_key)
    bind = f"tcp://127.0.0.1:{free_port()}"
    run("edge", "pair", "--data", str(box), "--center", bind, "--center-key", center_key)
    return center, box, bind


def start(center: Path, box: Path, bind: str, config: Path, port: int,
          quiet: bool = False) -> tuple[subprocess.Popen, subprocess.Popen]:
    """`edge-center serve` and `edge run` (admin password "pw"); quiet drops their output."""
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    serve = subprocess.Popen([str(BIN / "edge-center"), "serve", "--data", str(center), "--bind", bind],
                             stderr=out, text=True)
    edge = subprocess.Popen([str(BIN / "edge"), "run", "--data", str(box), "--config", str(config),
                             "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, "EDGE_ADMIN_PASSWORD": "pw"}, stderr=out,
                            stdout=subprocess.DEVNULL if quiet else None, text=True)
    return serve, edge


def login(port: int, deadline: float) -> str:
    """A bearer token from the box on `port`, waiting for it to come up until `deadline` (monotonic)."""
    while True:
        try:
            return httpx.post(f"http://127.0.0.1:{port}/api/login",
                              json={"username": "admin", "password": "pw"}).json()["token"]
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "box did not come up"
            time.sleep(0.3)


def center_assets(center: Path) -> list[dict]:
    return [json.loads(line) for line in run("edge-center", "ls", "--data", str(center), "--json").splitlines()]


def test_the_newsroom_follows_a_live_stream_while_it_runs_then_gets_its_webvtt_track(tmp_path, news_clip):
    # One paired center and box for both halves: starting them is most of this test's cost.
    wav, _ = news_clip
    center, box, bind = paired(tmp_path, "truck-7")
    config = tmp_path / "box.yaml"
    # live: the file plays at camera pace, so the stream is still running while we look at the center.
    config.write_text(f"box_id: truck-7\ndashboard: {{tls: off}}\nsync: {{caption_segment_s: 2}}\n"
                      f"streams:\n  - {{name: cam, source: '{wav}', live: true}}\n")
    port = free_port()
    serve, edge = start(center, box, bind, config, port)
    try:
        deadline = time.monotonic() + 60
        token = login(port, deadline)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})
        seen_live: list[dict] = []
        while time.monotonic() < deadline + 60:
            state = api.get("/api/streams").json()["streams"][0]["state"]
            lines = [json.loads(x) for x in run("edge-center", "captions", "--data", str(center), "--box", "truck-7",
                                                "--json").splitlines()]
            if state == "playing" and lines:
                seen_live = lines
                break
            assert state in {"starting", "playing"}, "the stream ended before any caption reached the center"
            time.sleep(0.5)
        assert seen_live, "no caption reached the center while the stream ran"
        first = seen_live[0]
        assert set(first) >= {"box", "stream", "run", "text", "start", "end", "wall_start"}
        assert first["box"] == "truck-7" and first["stream"] == "cam"
        # Once the stream has ended, the center holds exactly what the box stored, in order (as shown live:
        # the box's polished text, which follows, takes their place in the default view).
        while api.get("/api/streams").json()["streams"][0]["state"] != "ended":
            assert time.monotonic() < deadline + 120
            time.sleep(0.5)
        box_side = api.get("/api/captions", params={"stream": "cam"}).json()
        expected = [(box_side["run"], c["text"]) for c in box_side["captions"]]
        got: list = []
        while time.monotonic() < deadline + 150:
            got = [(c["run"], c["text"]) for c in map(json.loads, run(
                "edge-center", "captions", "--data", str(center), "--box", "truck-7", "--stream", "cam",
                "--json", "--live").splitlines())]
            if got == expected:
                break
            time.sleep(0.5)
        assert got == expected and len(expected) >= 3
        # The closed run's caption track and transcript follow, and the box's dashboard reports the link.
        kinds: set[str] = set()
        while time.monotonic() < deadline + 270:
            kinds = {a["kind"] for a in center_assets(center) if a["box"] == "truck-7"}
            if {"caption_track", "transcript"} <= kinds:
                break
            time.sleep(1)
        assert {"caption_track", "transcript"} <= kinds
        status = api.get("/api/status").json()
        assert status["sync"]["state"] == "up" and status["sync"]["box_id"] == "truck-7"
        out = tmp_path / "export"
        run("edge-center", "export", "--data", str(center), "--out", str(out))
        vtts = list(out.rglob("*.vtt"))
        assert vtts and vtts[0].read_text().startswith("WEBVTT")
    finally:
        for proc in (edge, serve):
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
