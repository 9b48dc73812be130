"""READY, STATUS, WATCHDOG and STOPPING as systemd receives them: on a notify socket the test opens."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from edge.runtime.notify import Notifier, Supervision
from tests.sync.conftest import MOSQUITTO, free_port
from tests.sync.conftest import env as child_env

ROOT = Path(__file__).resolve().parents[2]


class NotifySocket:
    """What systemd listens on: a datagram socket; each datagram is newline-separated KEY=VALUE fields."""

    def __init__(self, path: Path | None = None, abstract: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.sock.bind("\0" + abstract)
            self.env_value = "@" + abstract
        else:
            assert path is not None
            self.sock.bind(str(path))
            self.env_value = str(path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode().split("\n")))

    def fields(self) -> list[str]:
        return [f for _, fs in self.messages for f in fs]

    def wait_for(self, field: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, fs in self.messages:
                if field in fs:
                    return at
            time.sleep(0.02)
        raise AssertionError(f"no {field} within {timeout} s; got {self.fields()}")

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)


@pytest.fixture
def notify_socket(tmp_path):
    s = NotifySocket(tmp_path / "notify")
    yield s
    s.close()


def test_outside_systemd_nothing_is_sent():
    n = Notifier({})
    assert not n.enabled and not n.ready() and n.watchdog_s is None


def test_an_abstract_socket_name_is_understood():
    s = NotifySocket(abstract=f"edge-test-{os.getpid()}-{time.time_ns()}")
    try:
        assert Notifier({"NOTIFY_SOCKET": s.env_value}).ready("up")
        s.wait_for("READY=1", 2)
        assert "STATUS=up" in s.fields()
    finally:
        s.close()


def test_the_watchdog_is_for_our_process_only(notify_socket):
    mine = Notifier({"NOTIFY_SOCKET": notify_socket.env_value, "WATCHDOG_USEC": "4000000",
                     "WATCHDOG_PID": str(os.getpid())})
    other = Notifier({"NOTIFY_SOCKET": notify_socket.env_value, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert mine.watchdog_s == 4.0 and other.watchdog_s is None


def test_ready_waits_for_health_and_pings_stop_while_unhealthy(notify_socket):
    healthy = threading.Event()
    notifier = Notifier({"NOTIFY_SOCKET": notify_socket.env_value, "WATCHDOG_USEC": "200000"})  # ping every 0.1 s
    sup = Supervision(notifier, [lambda: None if healthy.is_set() else "dashboard does not answer"],
                      status=lambda: "2/2 streams playing").start()
    try:
        time.sleep(0.5)
        assert notify_socket.fields() == []  # not ready while the dashboard does not answer
        healthy.set()
        ready = notify_socket.wait_for("READY=1", 3)
        assert "STATUS=2/2 streams playing" in notify_socket.fields()
        first_ping = notify_socket.wait_for("WATCHDOG=1", 3)
        assert first_ping >= ready

        healthy.clear()
        notify_socket.wait_for("STATUS=unhealthy: dashboard does not answer", 3)
        mark = len(notify_socket.messages)
        time.sleep(0.5)
        assert all("WATCHDOG=1" not in fs for _, fs in notify_socket.messages[mark:])  # systemd would restart us
        healthy.set()
        deadline = time.monotonic() + 3
        while not any("WATCHDOG=1" in fs for _, fs in notify_socket.messages[mark:]):
            assert time.monotonic() < deadline, "pings did not come back with health"
            time.sleep(0.05)
    finally:
        sup.stop()
    notify_socket.wait_for("STOPPING=1", 3)


def test_edge_run_says_ready_once_its_dashboard_answers_then_pings_and_says_stopping(notify_socket, tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (make setup installs it)")
    port, broker_port = free_port(), free_port()
    config = tmp_path / "box.yaml"
    config.write_text(f"dashboard: {{host: 127.0.0.1, port: {port}}}\nsensors: {{broker: {{port: {broker_port}}}}}\n")
    env = {**child_env(), "NOTIFY_SOCKET": notify_socket.env_value, "WATCHDOG_USEC": "2000000",
           "EDGE_ADMIN_PASSWORD": "correct horse battery staple"}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--data", str(tmp_path / "data"), "--config",
                             str(config)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        notify_socket.wait_for("READY=1", 120)
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # the box's self-signed certificate
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/health", timeout=5, context=insecure) as r:
            assert r.status == 200  # READY came after the dashboard could answer
        notify_socket.wait_for("WATCHDOG=1", 10)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stderr = proc.stderr.read() if proc.stderr else ""
    notify_socket.wait_for("STOPPING=1", 3)
    assert f"broker: started mosquitto on 127.0.0.1:{broker_port}" in stderr
