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


def center_assets(center: Path) -> list[dict]:
    return [json.loads(line) for line in run("edge-center", "ls", "--data", str(center), "--json").splitlines()]


def test_captions_from_a_live_stream_arrive_at_the_center_as_webvtt(tmp_path, news_clip):
    wav, _ = news_clip
    center, box = tmp_path / "center", tmp_path / "box"
    center_key = run("edge-center", "init", "--data", str(center)).strip().splitlines()[-1]
    box_key = run("edge", "init", "--data", str(box), "--box-id", "truck-7").strip().splitlines()[-1]
    run("edge-center", "allow", "--data", str(center), box_key)
    bind = f"tcp://127.0.0.1:{free_port()}"
    run("edge", "pair", "--data", str(box), "--center", bind, "--center-key", center_key)
    config = tmp_path / "box.yaml"
    config.write_text(f"box_id: truck-7\nstreams:\n  - {{name: cam, source: '{wav}'}}\n")
    port = free_port()
    serve = subprocess.Popen([str(BIN / "edge-center"), "serve", "--data", str(center), "--bind", bind],
                             stderr=subprocess.PIPE, text=True)
    edge = subprocess.Popen([str(BIN / "edge"), "run", "--data", str(box), "--config", str(config),
                             "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, "EDGE_ADMIN_PASSWORD": "pw"}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        kinds: set[str] = set()
        while time.monotonic() < deadline and not {"caption_track", "transcript"} <= kinds:
            time.sleep(1)
            kinds = {a["kind"] for a in center_assets(center) if a["box"] == "truck-7"}
        assert {"caption_track", "transcript"} <= kinds
        # The box's dashboard reports the link.
        token = httpx.post(f"http://127.0.0.1:{port}/api/login", json={"username": "admin", "password": "pw"}).json()["token"]
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"Bearer {token}"}).json()
        assert status["sync"]["state"] == "up" and status["sync"]["box_id"] == "truck-7"
        out = tmp_path / "export"
        run("edge-center", "export", "--data", str(center), "--out", str(out))
        vtts = list(out.rglob("*.vtt"))
        assert vtts and vtts[0].read_text().startswith("WEBVTT")
    finally:
        for proc in (edge, serve):
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
