"""`edge run` as a crew meets it in the terminal: real box, real demo RTSP camera, real dashboard.

The port is checked before anything else; the terminal tells streams and
sync (not web access lines) and the addresses a phone can use; the streams
the crew added stay remembered when the demo runs beside them.
"""

from __future__ import annotations

import os
import re
import shutil
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

from edge.runtime.listen import dashboard_urls
from tests.conftest_media import closed_port
from tests.sync.conftest import Mosquitto

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
EDGE = [sys.executable, "-m", "edge.cli"]
ENV = {**os.environ, "EDGE_ADMIN_PASSWORD": "crew-test-password-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> Path:
    """The demo clip, built once and copied into each box's data directory (it is reused when fresh)."""
    from edge.demo.clip import demo_clip_path

    return demo_clip_path(tmp_path_factory.mktemp("seed")).parent


class Running:
    """An `edge run` process whose stderr is collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*EDGE, "run", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=ENV)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} in:\n{self.text}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._reader.join(10)  # its last lines are in `lines` too
        return code


def get(url: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the box signs its own certificate
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status


def test_a_busy_dashboard_port_is_said_before_the_box_opens_or_shows_a_password(tmp_path):
    data = tmp_path / "box"
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([*EDGE, "run", "--data", str(data), "--port", str(port)], capture_output=True,
                              text=True, timeout=120, env={k: v for k, v in ENV.items() if k != "EDGE_ADMIN_PASSWORD"})

    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"port {port} is already in use" in lines[0] and "make run PORT=8090" in lines[0]
    assert "password" not in (proc.stdout + proc.stderr).lower()
    assert not data.exists()  # the box never opened: no store, no users, no password made


def test_the_terminal_tells_streams_and_sync_keeps_the_remembered_list_and_shows_lan_addresses(tmp_path,
                                                                                              demo_files):
    data = tmp_path / "box"
    shutil.copytree(demo_files, data / "demo")
    stream_list = data / "streams.json"
    stream_list.write_text('{"streams": {"cam2": "rtsp://127.0.0.1:%d/cam"}}' % closed_port())
    before = (stream_list.read_bytes(), stream_list.stat().st_mtime_ns)
    port = free_port()
    # The demo's weather station publishes to the broker it is given; without one the box joins whatever
    # listens on 127.0.0.1:1883, and a test must not feed its readings to a real box there.
    broker = Mosquitto(tmp_path / "mqtt")
    broker.start()

    box = Running("--data", str(data), "--demo", "--port", str(port), "--rtsp-port", str(free_port()),
                  "--show-captions", "--mqtt", broker.url)
    try:
        box.wait_for(r"stream cam2 added: rtsp://127\.0\.0\.1:\d+/cam")
        box.wait_for(r"stream cam2: retrying: not connected yet: .*connection refused")
        box.wait_for(r"stream demo added: rtsp://127\.0\.0\.1")
        box.wait_for(r"stream demo: playing")
        url = box.wait_for(r"^dashboard: (\S+)").group(1)
        scheme = url.split(":")[0]
        expected = dashboard_urls("0.0.0.0", port, scheme)
        for lan in expected[1:]:
            assert lan in box.text  # every non-loopback IPv4 of the machine, for a phone
        box.wait_for(r"Ctrl-C stops")
        box.wait_for(r"^sensors: subscribed to sensors/# on " + re.escape(broker.url))
        box.wait_for(r"\[demo\] \w")  # --show-captions: finals in the terminal
        for _ in range(3):
            assert get(f"{url}api/health") == 200
        sync = box.wait_for(r"^sync: .*").group(0)
        assert sync.startswith("sync: not set up") and "edge init" in sync and "edge pair" in sync
        assert (stream_list.read_bytes(), stream_list.stat().st_mtime_ns) == before  # not rewritten
    finally:
        code = box.stop()
        broker.stop()

    assert code == 0, box.text
    # Read once the box has exited and its output is all in: nothing said later can slip past.
    assert "GET /api/health" not in box.text  # no web access log in the terminal
    assert len(re.findall(r"stream cam2: retrying", box.text)) == 1  # the same reason is said once
    assert stream_list.read_bytes() == before[0]  # the demo was never added to the remembered list


def test_restoring_the_remembered_streams_one_by_one_never_cuts_the_list_short(tmp_path, speech_models):
    from edge.runtime import stream_list
    from edge.runtime.bus import EventBus
    from edge.runtime.supervisor import Supervisor
    from edge.store import AssetStore

    remembered = tmp_path / "streams.json"
    urls = {name: f"rtsp://127.0.0.1:{closed_port()}/{name}" for name in ("a", "b", "c")}
    stream_list.save(remembered, urls)
    mtime = remembered.stat().st_mtime_ns
    with AssetStore(tmp_path / "store") as store:
        supervisor = Supervisor(speech_models, store, EventBus(), state_file=remembered)
        try:
            supervisor.add_stream("demo", f"rtsp://127.0.0.1:{closed_port()}/demo", remember=False)
            supervisor.add_stream("a", urls["a"])
            assert stream_list.load(remembered) == urls  # a power cut now would lose nothing
            supervisor.add_stream("b", urls["b"])
            supervisor.add_stream("c", urls["c"])
            assert remembered.stat().st_mtime_ns == mtime  # restoring is not a change: never rewritten
            supervisor.remove_stream("b")
            assert stream_list.load(remembered) == {"a": urls["a"], "c": urls["c"]}
        finally:
            supervisor.stop_all()


def test_a_busy_demo_camera_port_is_said_before_the_box_opens(tmp_path, demo_files, capsys):
    from edge.cli import main

    data = tmp_path / "box"
    shutil.copytree(demo_files, data / "demo")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rtsp_port = taken.getsockname()[1]
        code = main(["run", "--data", str(data), "--demo", "--port", str(free_port()), "--rtsp-port", str(rtsp_port)])

    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1, err
    assert f"127.0.0.1:{rtsp_port}: the port is busy" in err[0] and f"--rtsp-port {rtsp_port + 1}" in err[0]
    assert not (data / "store").exists()  # the box never opened
