"""Sensors on a running box: /api/sensors, the sensors page, /metrics, alerts, hourly series for sync, the demo."""

from __future__ import annotations

import json
import re
import time

import pytest
from fastapi.testclient import TestClient

from edge.config import BoxConfig, BrokerSettings, SensorsConfig
from edge.dashboard.app import create_app
from edge.ingest.mqtt_demo import DEMO_RULES, METER, STATION, station_readings
from edge.ingest.mqtt_service import SensorService
from edge.ingest.sensor_rules import RuleEngine
from edge.ingest.sensor_series import GRACE_S, HOUR, SensorSeriesWriter
from edge.ingest.units import normalise
from edge.runtime.bus import EventBus
from edge.runtime.monitor import Monitor
from edge.store import AssetStore
from tests.dashboard.conftest import PASSWORD, build_box
from tests.dashboard.conftest import cheap_password_hashing, no_models  # noqa: F401 - fixtures
from tests.sync.conftest import free_port, wait_for


@pytest.fixture
def box(tmp_path, no_models, broker):  # noqa: F811
    config = BoxConfig.model_validate({"sensors": {"rules": [
        {"name": "high wind", "quantity": "wind_speed", "above": 50, "unit": "km/h", "hysteresis": 5}]}})
    b = build_box(tmp_path / "box", no_models, config)
    b.start_sensors(broker.url)
    assert b.sensors.subscriber.wait_connected(10)
    yield b
    b.close()


@pytest.fixture
def client(box):
    c = TestClient(create_app(box, admin_password=PASSWORD))
    assert c.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    return c


def _publish(broker, readings: list[tuple[str, dict]]) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dash-dev-{time.time_ns()}", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        for topic, body in readings:
            c.publish(topic, body if isinstance(body, str) else json.dumps(body), qos=1).wait_for_publish(5)
    finally:
        c.loop_stop()
        c.disconnect()


def test_api_sensors_page_metrics_and_alerts_show_live_readings(box, client, broker):
    now = time.time()
    _publish(broker, [("sensors/ws-1/wind_speed", {"value": 20, "unit": "mph", "ts": now - 2, "seq": 1}),
                      ("sensors/ws-1/wind_speed", {"value": 40, "unit": "mph", "ts": now - 1, "seq": 2}),
                      ("sensors/sm-1/noise", {"value": 71.5, "unit": "dB", "ts": now}),
                      ("sensors/sm-1/noise", "not json")])
    wait_for(lambda: box.sensors.ingest.stats()["stored"] == 3, 10, what="3 readings stored")

    body = client.get("/api/sensors").json()
    wind = next(s for s in body["series"] if s["quantity"] == "wind_speed")
    # 40 mph = 64.37376 km/h (1 mph = 1.609344 km/h exactly; stored to 6 decimals).
    assert wind == {"device": "ws-1", "quantity": "wind_speed", "unit": "km/h", "count": 2, "demo": False,
                    "last": {"value": pytest.approx(64.37376, abs=1e-6), "ts": pytest.approx(now - 1, abs=1e-3)}}
    assert [a["state"] for a in body["alerts"]] == ["raised"] and "Wind speed 64.37 km/h" in body["alerts"][0]["text"]
    assert body["ingest"]["connected"] and body["ingest"]["rejected"]["json"] == 1

    page = client.get("/sensors")
    assert page.status_code == 200 and "ws-1" in page.text and "64.37 km/h" in page.text
    assert 'href="/sensors"' in page.text  # in the navigation

    metrics = client.get("/metrics").text
    assert re.search(r'^edge_sensor_messages_total\{result="accepted"\} 3\.0$', metrics, re.M)
    assert re.search(r'^edge_sensor_messages_total\{result="json"\} 1\.0$', metrics, re.M)
    assert re.search(r"^edge_sensor_broker_connected 1\.0$", metrics, re.M)
    assert "# TYPE edge_caption_latency_seconds histogram" in metrics
    assert re.search(r'^edge_scheduler_queue_depth\{class="caption_final"\} 0\.0$', metrics, re.M)
    assert re.search(r'^edge_outbox_assets\{kind="', metrics, re.M) or "edge_outbox_assets" in metrics

    Monitor.of(box).look()  # the box's alerts (what /api/alerts and the live page's banner show)
    alerts = client.get("/api/alerts").json()["alerts"]
    assert any(a["kind"] == "sensor" and "(station ws-1)" in a["message"] for a in alerts)


def test_readings_leave_as_one_series_asset_per_device_and_hour(tmp_path):
    store = AssetStore(tmp_path / "store")
    run = store.records.open_run("sensors", "test", live=True)
    hour = (time.time() // HOUR - 3) * HOUR  # three hours ago: a whole hour that has ended
    rows = [("sensor", run.id, dev, 0.0, 0.0, hour + i * 60, hour + i * 60, "",
             json.dumps({"quantity": q, "value": i, "unit": u, "seq": i}))
            for i in range(3) for dev, q, u in (("ws-1", "wind_speed", "km/h"), ("sm-1", "noise", "dB"))]
    rows.append(("sensor", run.id, "ws-1", 0.0, 0.0, hour + HOUR + 5, hour + HOUR + 5, "",
                 json.dumps({"quantity": "wind_speed", "value": 9, "unit": "km/h", "seq": 9})))
    store.records.append(rows)
    writer = SensorSeriesWriter(store, clock=lambda: hour + HOUR + GRACE_S + 30)  # the next hour is still going

    assert writer.step() == 2
    assets = sorted(store.list(kind="sensor_series"), key=lambda a: a.name)
    assert [a.meta["device"] for a in assets] == ["sm-1", "ws-1"] and all(a.meta["count"] == 3 for a in assets)
    lines = [json.loads(x) for x in store.content_path(assets[1].id).read_text().splitlines()]
    assert [(x["quantity"], x["value"]) for x in lines] == [("wind_speed", 0), ("wind_speed", 1), ("wind_speed", 2)]
    assert writer.step() == 0  # the hour in progress waits
    assert writer.flush() == 1  # ...unless the box stops
    assert store.pending_sync()  # queued for the newsroom with the assets
    store.close()


def test_the_demo_station_gusts_over_the_wind_rule_and_its_series_are_labelled_demo(tmp_path):
    start = 1_000_000.0
    engine = RuleEngine(DEMO_RULES)
    from edge.events import SensorReading

    raised = []
    for second in range(0, 180):
        for topic, body in station_readings(start + second, start):
            value, unit = normalise(body["value"], body["unit"])
            raised += engine.evaluate(SensorReading(topic.split("/")[1], topic.split("/")[2], value, unit,
                                                    start + second))
    assert [(a.quantity, a.state) for a in raised] == [("wind_speed", "raised"), ("wind_speed", "cleared")]

    service = SensorService(tmp_path / "data", store := AssetStore(tmp_path / "store"), EventBus(),
                            SensorsConfig(broker=BrokerSettings(port=free_port())), demo=True)
    try:
        lines = service.start()
        assert lines[0].startswith("broker: started mosquitto on 127.0.0.1:")
        wait_for(lambda: {(s["device"], s.get("demo")) for s in service.ingest.summary()}
                 >= {(STATION, True), (METER, True)}, 15, what="the demo devices' readings")
    finally:
        service.stop()
        store.close()
    assert service.broker is not None and service.broker.proc is None  # the broker it started is stopped


def test_metrics_count_each_streams_media_back_pressure_and_dropped_frames(box, client, tmp_path):
    from tests.dashboard.conftest import write_silence

    wav = write_silence(tmp_path / "quiet.wav", 2.0)
    box.supervisor.add_stream("cam1", str(wav), remember=False)
    wait_for(lambda: any(s.name == "cam1" and s.state == "ended" for s in box.supervisor.streams()), 30,
             what="the file stream to end")
    metrics = client.get("/metrics").text
    # An audio-only file: its caption consumer's back-pressure is counted (audio is never dropped).
    assert re.search(r'^edge_stream_audio_blocked_seconds_total\{consumer="[^"]+",stream="cam1"\} \d', metrics, re.M)
    assert "# TYPE edge_stream_frames_dropped_total counter" in metrics
    assert re.search(r'^edge_stream_finals_total\{stream="cam1"\} 0\.0$', metrics, re.M)


def test_caption_latency_and_audio_lag_come_from_the_live_bus(box, client):
    from edge.events import CaptionEvent

    client.get("/metrics")  # the watcher is subscribed from the app's start
    wait_for(lambda: box.bus.subscriber_count >= 1, 5, what="the metrics watcher to subscribe")
    box.bus.publish(CaptionEvent("partial", "cam9", "hel", 1.0, 1.8, 2.0))
    box.bus.publish(CaptionEvent("final", "cam9", "hello", 1.0, 2.0, 3.5))  # left the box 1.5 s after the speech

    def scraped() -> str | None:
        text = client.get("/metrics").text
        return text if 'edge_caption_latency_seconds_count{stream="cam9"} 1.0' in text else None

    text = wait_for(scraped, 5, what="the final to be counted")
    assert 'edge_caption_latency_seconds_bucket{le="1.0",stream="cam9"} 0.0' in text
    assert 'edge_caption_latency_seconds_bucket{le="1.5",stream="cam9"} 1.0' in text
    assert 'edge_stream_audio_lag_seconds{stream="cam9"} 1.5' in text  # the newest caption, partial or final


def test_the_realtime_ratio_is_audio_processed_per_wall_second():
    from types import SimpleNamespace

    from edge.dashboard.routes.prometheus import BoxMetrics
    from edge.events import StreamLevel

    m = BoxMetrics(SimpleNamespace())  # no bus: observed by hand, on a clock the test sets
    for i in range(21):  # 10 s of wall time in which 8 s of audio got through
        m.observe(StreamLevel("cam1", at=0.4 * i, rms_dbfs=-30, peak_dbfs=-10), now=100.0 + 0.5 * i)
    assert m.realtime_ratio["cam1"] == pytest.approx(0.8)
