"""Dashboard fixtures: a real Box (real store, bus and supervisor) behind the real app, reached through
TestClient or a real uvicorn server on 127.0.0.1.

The box has no speech models unless a test asks for them (`speech_models`): streams still run
through real ingest, but their audio is dropped instead of transcribed, so auth, API and page tests
never load Whisper. The browser test of live captions uses the real models.
"""

from __future__ import annotations

import shutil
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edge.config import BoxConfig
from edge.dashboard.app import DashboardServer, create_app, make_server
from edge.profiles import Profile, load_profile
from edge.runtime.box import Box
from edge.runtime.bus import EventBus
from edge.runtime.supervisor import Supervisor
from edge.store import AssetStore

PASSWORD = "correct horse battery staple"
MiB = 1 << 20


class Usage(NamedTuple):
    total: int
    used: int
    free: int


def build_box(data_dir: Path, models: Any, config: BoxConfig | None = None,
              disk_usage: Callable[[Any], Any] = shutil.disk_usage) -> Box:
    """What Box.open builds, with the session's models and (optionally) a pretend disk."""
    config = config or BoxConfig()
    store = AssetStore(data_dir / "store", disk_floor_bytes=config.store.disk_floor_mb * MiB,
                       reserve_bytes=config.store.reserve_mb * MiB, disk_usage=disk_usage)
    bus = EventBus()
    supervisor = Supervisor(models, store, bus, state_file=data_dir / "streams.json")
    return Box(data_dir, config, models.profile, store, bus, models, supervisor)


def png_bytes(width: int = 8, height: int = 6, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def write_silence(path: Path, seconds: float) -> Path:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(int(seconds * 16000), np.int16).tobytes())
    return path


class _NoCaptions:
    """What a caption stream does on a box without models: takes its audio, says nothing."""

    def feed(self, chunk: Any) -> Iterator[Any]:
        yield from ()

    def flush(self) -> Iterator[Any]:
        yield from ()


@dataclass
class NoSpeechModels:
    """Stands in for SpeechModels where a test needs a box but no captions (no Whisper, no VAD loaded)."""

    profile: Profile

    def caption_stream(self, stream: str, *, live: bool, clock: Any = None) -> _NoCaptions:
        return _NoCaptions()


@pytest.fixture(scope="session")
def no_models() -> NoSpeechModels:
    return NoSpeechModels(load_profile("x86-cpu"))


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Real argon2id, with test-sized cost: most tests create an app, and its default cost
    (64 MiB, 3 passes) is for attackers, not for a 2-core CI machine."""
    from functools import partial

    from argon2 import PasswordHasher

    monkeypatch.setattr("edge.dashboard.accounts.PasswordHasher",
                        partial(PasswordHasher, time_cost=1, memory_cost=8 * 1024, parallelism=1))


@pytest.fixture
def box(tmp_path: Path, no_models) -> Iterator[Box]:
    b = build_box(tmp_path / "box", no_models)
    yield b
    b.close()


@pytest.fixture
def app(box: Box) -> FastAPI:
    return create_app(box, admin_password=PASSWORD)


@pytest.fixture
def anon(app: FastAPI) -> TestClient:
    """A client that never logged in."""
    return TestClient(app)


@pytest.fixture
def token(app: FastAPI) -> str:
    response = TestClient(app).post("/api/login", json={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """A client logged in through the login API (it carries the session cookie)."""
    c = TestClient(app)
    assert c.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    return c


class LiveServer(NamedTuple):
    url: str
    server: DashboardServer
    thread: threading.Thread


def start_server(app: FastAPI) -> LiveServer:
    """A real uvicorn on 127.0.0.1 and a free port, in a thread (where it installs no signal handlers)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(app, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="dashboard-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(10)
    assert not live.thread.is_alive(), "the dashboard server did not stop"
