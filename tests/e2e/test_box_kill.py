"""Kill -9 the running box while it writes captions and uploads: nothing acknowledged is lost,
and every run the kill left open is closed, with its caption track, at the next start."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import png_bytes

pytestmark = pytest.mark.slow
PASSWORD = "kill-test-password"
# Each kill lands while uploads go in back to back and the live stream is captioning, so every one interrupts
# both; after each, the next start must keep everything acknowledged and close the run left open. Three kills
# show that over kills piling up (a start after a start that itself followed a kill); the kill's finer timing
# inside one write is tests/store/test_kill.py's job (15 kills), and each round here costs a box start.
ROUNDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_box(data: Path, config: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "EDGE_ADMIN_PASSWORD": PASSWORD}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--data", str(data), "--config", str(config),
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"box exited early: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("box did not come up")


def client(port: int) -> httpx.Client:
    token = httpx.post(f"http://127.0.0.1:{port}/api/login",
                       json={"username": "admin", "password": PASSWORD}).json()["token"]
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_every_acknowledged_asset_and_caption_survives_kill_minus_nine(tmp_path, news_clip):
    wav, _ = news_clip
    data, config = tmp_path / "box", tmp_path / "box.yaml"
    # live: the file plays at camera pace, so each kill lands in the middle of a run.
    config.write_text(f"dashboard: {{tls: off}}\nstreams:\n  - {{name: cam, source: '{wav}', live: true}}\n")
    rng = random.Random(int(os.environ.get("BOX_KILL_SEED", "0")) or None)
    uploads: dict[str, str] = {}  # asset id -> sha256 of what we sent
    captions: dict[tuple[str, int], str] = {}  # (run, seq) -> text, as the API returned them
    for round_no in range(ROUNDS):
        port = free_port()
        proc = start_box(data, config, port)
        with client(port) as api:
            # Everything acknowledged before this restart is still there.
            for asset_id, sha in uploads.items():
                got = api.get(f"/api/assets/{asset_id}/content")
                assert got.status_code == 200, (round_no, asset_id)
                assert hashlib.sha256(got.content).hexdigest() == sha
            stored = {(c["run"], c["seq"]): c["text"] for run in {r for r, _ in captions}
                      for c in api.get("/api/captions", params={"run": run}).json()["captions"]}
            for key, text in captions.items():
                assert stored.get(key) == text, (round_no, key)
            # Write until a random moment, then pull the plug.
            deadline = time.monotonic() + rng.uniform(4.0, 9.0)
            n = 0
            while time.monotonic() < deadline:
                body = png_bytes(8 + n % 5, 6, (n % 255, round_no * 40, 90))
                r = api.post("/api/uploads", files={"file": (f"r{round_no}-{n}.png", body, "image/png")},
                             data={"tags": "kill-test"})
                assert r.status_code == 201, r.text
                uploads[r.json()["id"]] = hashlib.sha256(body).hexdigest()
                for c in api.get("/api/captions", params={"stream": "cam"}).json()["captions"]:
                    captions[(c["run"], c["seq"])] = c["text"]
                n += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert len(uploads) > 10 and captions, (len(uploads), len(captions))
    # A last clean start: the store opens without complaint.
    port = free_port()
    proc = start_box(data, config, port)
    try:
        with client(port) as api:
            for asset_id in uploads:
                assert api.get(f"/api/assets/{asset_id}").status_code == 200
            # Runs the kills left open were closed at start-up, and their tracks built from the stored finals.
            runs = api.get("/api/runs", params={"stream": "cam"}).json()["runs"]
            killed = [r for r in runs[1:] if "crash" in (r["close_reason"] or "")]
            assert len(killed) == ROUNDS, runs
            with_words = {r for r, _ in captions}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                tracks = api.get("/api/assets", params={"kind": "caption_track", "stream": "cam", "limit": 100}).json()
                built = {a["run"] for a in tracks["assets"]}
                if with_words <= built:
                    break
                time.sleep(0.5)
            assert with_words <= built, (with_words, built)
            track = next(a for a in tracks["assets"] if a["run"] in with_words)
            vtt = api.get(f"/api/assets/{track['id']}/content").text
            assert vtt.startswith("WEBVTT") and any(t.split()[0] in vtt for k, t in captions.items() if k[0] == track["run"])
    finally:
        proc.terminate()
        proc.wait(20)
    assert "Traceback" not in proc.stderr.read()
