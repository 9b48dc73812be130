"""Fixtures for sync tests: a real center (in-process or subprocess), paired boxes, a real mosquitto.

Everything listens on 127.0.0.1 on ports picked free at run time.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloud_sync.boxfiles import BoxFiles
from cloud_sync.center.server import CenterPaths, CenterServer
from edge.store import AssetStore

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def edge_cli(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """The box commands, as `edge …` will run them (edge/cli.py calls the same register())."""
    r = subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True,
                       timeout=timeout, env=env(), cwd=ROOT)
    if check and r.returncode != 0:
        raise AssertionError(f"edge {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def center_cli(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "cloud_sync.center.cli", *args], capture_output=True, text=True,
                       timeout=timeout, env=env(), cwd=ROOT)
    if check and r.returncode != 0:
        raise AssertionError(f"edge-center {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


@dataclass
class RunningCenter:
    data: Path
    server: CenterServer
    thread: threading.Thread

    @property
    def endpoint(self) -> str:
        assert self.server.endpoint
        return self.server.endpoint

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)


def start_center(data: Path, bind: str = "tcp://127.0.0.1:0") -> RunningCenter:
    CenterPaths(data).init()
    server = CenterServer(data, bind)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert server.ready.wait(10) and server.endpoint, "center did not start"
    return RunningCenter(data, server, thread)


@pytest.fixture
def center(tmp_path: Path) -> Iterator[RunningCenter]:
    c = start_center(tmp_path / "center")
    yield c
    c.stop()


def make_box(root: Path, box_id: str, center_data: Path, endpoint: str, *, allow: bool = True,
             server: CenterServer | None = None) -> BoxFiles:
    """A paired box; with `server`, waits until that running center admits it (it rereads allowed/ each second)."""
    files = BoxFiles(root)
    public = files.init(box_id)
    AssetStore(files.store).close()
    if allow:
        shutil.copyfile(public, CenterPaths(center_data).allowed / f"{box_id}.key")
        if server is not None:
            wait_for(lambda: server.allowed is not None and box_id in server.allowed.names.values(), 5, what=f"the center to admit {box_id}")
    files.pair(endpoint, CenterPaths(center_data).public_key)
    return files


class Mosquitto:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {workdir}/\nmax_inflight_messages 100\nmax_queued_messages 10000\n"
            "log_dest stderr\nuser root\n"
        )
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / "mosquitto.log", "ab"))

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, 10, what="mosquitto to listen")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (make setup installs it: apt-get install mosquitto)")
    m = Mosquitto(tmp_path / "mosquitto")
    m.start()
    yield m
    m.stop()
