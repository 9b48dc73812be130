"""Sensor ingest benchmark: sustained readings/s through a real mosquitto, validation and the store,
and the delay from a device's publish to the reading being on the dashboard.

    python -m bench.sensors [--seconds 8] [--devices 4] [--json]

Throughput: DEVICES publisher clients send QoS 1 readings as fast as paho
lets them for SECONDS; the figure is readings stored per second, from the
first publish to the last reading stored (every reading is checked, unit-
converted, de-duplicated and written to SQLite in the box's real code).

Latency: one device at 20 readings/s; per reading, publish -> (a) on the
live bus (stored, then published: what the dashboard's WebSocket and
/api/sensors reflect) and (b) visible in /api/sensors' data (the route's
own function, polled every 5 ms). The sensors page polls once a second,
which adds up to 1 s in a browser.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import paho.mqtt.client as mqtt

from edge.config import BrokerSettings, SensorsConfig
from edge.dashboard.routes.sensors import sensors_state
from edge.ingest.mqtt_broker import LocalBroker
from edge.ingest.mqtt_sensors import SensorSubscriber
from edge.ingest.sensors import SensorIngest
from edge.runtime.bus import EventBus
from edge.store import AssetStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _TimedBus(EventBus):
    """The live bus, noting when each reading reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[tuple[str, int], float] = {}

    def publish(self, event) -> None:  # type: ignore[override]
        seq = getattr(event, "seq", None)
        if seq is not None and hasattr(event, "device"):
            self.arrived[(event.device, seq)] = time.monotonic()
        super().publish(event)


def _client(port: int, name: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(100)  # the broker's limit (edge/ingest/broker_conf/mosquitto.conf)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not c.is_connected():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {name} could not connect to the broker")
        time.sleep(0.01)
    return c


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


def run(seconds: float, devices: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-sensors-"))
    root.chmod(0o755)  # mosquitto, dropping root, must reach its files
    broker = LocalBroker(root / "data", BrokerSettings(port=_free_port()))
    broker.ensure_running()
    store = AssetStore(root / "store")
    bus = _TimedBus()
    settings = SensorsConfig(max_rate=1e6, burst=10**6)  # measuring the pipeline, not the flood guard
    ingest = SensorIngest(store, bus, settings, source="bench")
    ingest.start()
    sub = SensorSubscriber(broker.url, ingest, client_id=f"bench-box-{time.time_ns()}")
    sub.start()
    assert sub.wait_connected(10), "the subscriber could not reach the broker"
    time.sleep(0.3)
    try:
        throughput = _throughput(broker.settings.port, ingest, seconds, devices)
        latency = _latency(broker.settings.port, ingest, bus, store)
    finally:
        sub.stop()
        ingest.stop()
        store.close()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {"throughput": throughput, "latency": latency}


def _publisher(port: int, device: str, seconds: float, sent) -> None:
    """One device, in its own process (publishing from the box's process would share its GIL)."""
    c = _client(port, f"bench-{device}-{time.time_ns()}")
    base, n = time.time() - 3600, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = json.dumps({"value": n % 100, "unit": "km/h", "ts": base + n * 1e-4, "seq": n})
        info = c.publish(f"sensors/{device}/wind_speed", body, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            time.sleep(0.001)
            continue
        n += 1
        if n % 200 == 0:
            info.wait_for_publish(5)  # stay within the broker's in-flight window
    c.loop_stop()
    c.disconnect()
    sent.value = n


def _throughput(port: int, ingest: SensorIngest, seconds: float, devices: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    sent = [ctx.Value("l", 0) for _ in range(devices)]
    procs = [ctx.Process(target=_publisher, args=(port, f"bench-{i}", seconds, sent[i])) for i in range(devices)]
    before = ingest.stats()["stored"]
    for p in procs:
        p.start()
    # Timed from the first reading stored (process start-up is not the pipeline's).
    while ingest.stats()["stored"] == before:
        time.sleep(0.001)
    started = time.monotonic()
    first = ingest.stats()["stored"]
    for p in procs:
        p.join()
    total = sum(v.value for v in sent)
    deadline = time.monotonic() + 120
    while ingest.stats()["stored"] - before < total and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    stored = ingest.stats()["stored"] - before
    return {"devices": devices, "published": total, "stored": stored, "seconds": round(elapsed, 2),
            "readings_per_s": round((stored - (first - before)) / elapsed, 1), "rejected": ingest.stats()["rejected"]}


def _latency(port: int, ingest: SensorIngest, bus: _TimedBus, store: AssetStore, n: int = 200,
             rate_hz: float = 20.0) -> dict:
    c = _client(port, f"bench-lat-{time.time_ns()}")
    box = SimpleNamespace(sensors=SimpleNamespace(ingest=ingest, state=lambda: {}), store=store)
    to_bus, to_api = [], []
    for i in range(n):
        sent_at = time.monotonic()
        value = 1000 + i  # unique, so the API's last value says which reading it shows
        c.publish("sensors/lat-1/noise", json.dumps({"value": value, "unit": "dB", "ts": time.time(), "seq": i}), qos=1)
        deadline = sent_at + 5
        while time.monotonic() < deadline:
            series = [s for s in sensors_state(box)["series"] if s["device"] == "lat-1"]
            if series and series[0]["last"] and series[0]["last"]["value"] == value:
                to_api.append(time.monotonic() - sent_at)
                break
            time.sleep(0.005)
        arrived = bus.arrived.get(("lat-1", i))
        if arrived is not None:
            to_bus.append(arrived - sent_at)
        time.sleep(max(0.0, 1 / rate_hz - (time.monotonic() - sent_at)))
    c.loop_stop()
    c.disconnect()
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {"readings": n, "rate_hz": rate_hz,
            "bus_p50_ms": ms(_pct(to_bus, 50)), "bus_p90_ms": ms(_pct(to_bus, 90)),
            "api_p50_ms": ms(_pct(to_api, 50)), "api_p90_ms": ms(_pct(to_api, 90)), "api_seen": len(to_api)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sensors", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args.seconds, args.devices)
    if args.json:
        print(json.dumps(result))
        return 0
    t, lat = result["throughput"], result["latency"]
    print("\n## Sensors: MQTT -> validation -> store (real mosquitto, QoS 1)\n")
    print("| devices | published | stored | seconds | readings/s |")
    print("|---|---|---|---|---|")
    print(f"| {t['devices']} | {t['published']} | {t['stored']} | {t['seconds']} | {t['readings_per_s']} |")
    print(f"\nPublish -> dashboard, {lat['readings']} readings at {lat['rate_hz']:g}/s:\n")
    print("| to | p50 ms | p90 ms |")
    print("|---|---|---|")
    print(f"| live bus (stored, WebSocket) | {lat['bus_p50_ms']} | {lat['bus_p90_ms']} |")
    print(f"| /api/sensors data | {lat['api_p50_ms']} | {lat['api_p90_ms']} |")
    print("\n(the sensors page polls /api/sensors once a second: up to 1 s more in a browser)")
    ok = t["stored"] == t["published"]
    if not ok:
        print(f"bench: {t['published'] - t['stored']} readings were published but not stored", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
