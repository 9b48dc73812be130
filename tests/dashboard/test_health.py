"""Device health: CPU measured over an interval (machine and process), uptime with units, one box id."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from edge.config import BoxConfig
from edge.dashboard.app import create_app
from edge.runtime.cpu import CpuSampler
from edge.runtime.monitor import Monitor
from tests.dashboard.conftest import PASSWORD, build_box


class Burner(threading.Thread):
    """Keeps one core busy in this process; `cpu_s` is the CPU time the thread itself was given."""

    def __init__(self, seconds: float) -> None:
        super().__init__(name="cpu-burner", daemon=True)
        self.seconds = seconds
        self.cpu_s = 0.0

    def run(self) -> None:
        start, end = time.thread_time(), time.monotonic() + self.seconds
        while time.monotonic() < end:
            pass
        self.cpu_s = time.thread_time() - start


def burn(seconds: float) -> Burner:
    burner = Burner(seconds)
    burner.start()
    burner.join()
    # On a shared CI machine the thread may get well under a whole core, but it gets some.
    assert burner.cpu_s > 0.05, burner.cpu_s
    return burner


# The process's CPU over the interval includes at least what the burner thread was given; psutil reads
# process times in clock ticks (10 ms), hence the 0.03 s of slack.
TICKS_SLACK_S = 0.03


def test_the_sampler_sees_a_busy_thread_that_an_instant_read_can_miss():
    sampler = CpuSampler(interval_s=60)  # sampled by hand here
    sampler.sample()
    burner = burn(1.5)
    reading = sampler.sample()
    assert 1.4 <= reading.interval_s < 30
    assert reading.process_percent / 100 * reading.interval_s >= burner.cpu_s - TICKS_SLACK_S, (reading, burner.cpu_s)
    assert reading.machine_percent > 0, reading


def test_api_status_and_the_health_page_show_cpu_over_the_last_interval(client, box):
    monitor = Monitor.of(box)
    monitor.stop()  # its thread closes an interval every ~2 s; here the test closes them, around the burn
    monitor.look()
    burner = burn(1.5)
    monitor.look()
    cpu = client.get("/api/status").json()["cpu"]
    assert cpu["process_percent"] / 100 * cpu["interval_s"] >= burner.cpu_s - TICKS_SLACK_S, (cpu, burner.cpu_s)
    assert cpu["machine_percent"] > 0, cpu
    assert client.get("/api/status").json()["cpu_percent"] == cpu["machine_percent"]
    page = client.get("/health").text
    assert 'id="cpu-process"' in page and "100% = one core busy" in page
    assert f'>{cpu["process_percent"]:.0f}%<' in page


def test_the_background_sampler_keeps_the_figure_current(client, box):
    monitor = Monitor.of(box)
    before = monitor.cpu.reading().at
    deadline = time.monotonic() + 10
    while monitor.cpu.reading().at == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert monitor.cpu.reading().at > before  # the monitor thread closed a new interval by itself


def test_uptime_has_units(client, box):
    box.started_at = time.time() - (1 * 3600 + 57 * 60 + 12)
    page = client.get("/health").text
    assert '<dd id="uptime">1 h 57 min</dd>' in page
    assert "1:57" not in page


def test_box_id_from_edge_init_is_shown_everywhere(tmp_path, no_models):
    from cloud_sync.boxfiles import BoxFiles

    data = tmp_path / "box"
    BoxFiles(data).init("truck-7")  # what `edge init --box-id truck-7` writes
    box = build_box(data, no_models, BoxConfig())  # a Box reads the identity `edge init` recorded
    try:
        client = TestClient(create_app(box, admin_password=PASSWORD))
        assert client.get("/api/health").json()["box_id"] == "truck-7"
        assert client.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
        assert client.get("/api/status").json()["box_id"] == "truck-7"
        page = client.get("/live").text
        assert '<a class="brand" href="/live">truck-7</a>' in page and "edge-box" not in page
    finally:
        box.close()
