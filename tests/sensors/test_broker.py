"""The box's own broker on a real mosquitto: loopback for the box, the LAN listener for devices with passwords."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest

from edge.config import BrokerSettings, LanListener
from edge.ingest.mqtt_broker import LocalBroker, broker_dir, listening
from tests.sync.conftest import free_port, wait_for


def _env(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def _client(port: int, user: str | None = None, password: str | None = None,
            connacks: list | None = None) -> tuple[mqtt.Client, list]:
    """A client connecting to `port`; its messages go to the list returned, the broker's answers to `connacks`."""
    got: list = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.time_ns()}", protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    if connacks is not None:
        c.on_connect = lambda _c, _u, _flags, reason, _props: connacks.append(reason)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, got


@pytest.fixture(scope="module")
def site_broker(tmp_path_factory):
    data = tmp_path_factory.mktemp("box")
    settings = BrokerSettings(port=free_port(), lan=LanListener(host="127.0.0.1", port=free_port(),
                                                                 devices=["ws-1", "sm-1"]))
    broker = LocalBroker(data, settings)
    line = broker.ensure_running()
    assert f"and 127.0.0.1:{settings.lan.port} (devices: ws-1, sm-1)" in line
    yield data, settings, broker
    broker.stop()


def test_the_box_listens_on_loopback_and_leaves_a_running_broker_alone(site_broker):
    data, settings, broker = site_broker
    again = LocalBroker(data, settings)
    assert again.ensure_running().startswith("broker: using the one already on")
    again.stop()  # it started nothing, so it stops nothing
    assert listening(settings.port)
    conf = (broker_dir(data) / "mosquitto.conf").read_text()
    assert f"listener {settings.port} 127.0.0.1" in conf and "persistence true" in conf
    assert "allow_anonymous false" in conf.split(f"listener {settings.lan.port}")[1]


def test_each_lan_device_has_its_own_password_kept_across_rewrites(site_broker):
    data, settings, _ = site_broker
    env = broker_dir(data) / "devices" / "ws-1.env"
    assert env.stat().st_mode & 0o077 == 0
    first = _env(env)["EDGE_MQTT_PASSWORD"]
    from edge.ingest.mqtt_broker import write_config

    write_config(data, settings)
    assert _env(env)["EDGE_MQTT_PASSWORD"] == first and first != _env(broker_dir(data) / "devices/sm-1.env")[
        "EDGE_MQTT_PASSWORD"]


def test_on_the_lan_anonymous_and_wrong_passwords_are_refused(site_broker):
    _, settings, _ = site_broker
    for user, password in ((None, None), ("ws-1", "guess")):
        answers: list = []
        c, _ = _client(settings.lan.port, user, password, connacks=answers)
        wait_for(lambda: answers, 10, what=f"the broker to answer {user or 'anonymous'}")
        assert answers[0].is_failure and not c.is_connected(), f"{user or 'anonymous'} was let in: {answers[0]}"
        c.loop_stop()


def test_a_device_writes_only_its_own_topics_and_reads_only_its_own_answers(site_broker):
    data, settings, _ = site_broker
    box, heard = _client(settings.port)  # the box's subscriber side: loopback, anonymous
    wait_for(box.is_connected, 10, what="the box to connect")
    box.subscribe("sensors/#", qos=1)
    creds = _env(broker_dir(data) / "devices" / "ws-1.env")
    dev, answers = _client(settings.lan.port, creds["EDGE_MQTT_USERNAME"], creds["EDGE_MQTT_PASSWORD"])
    wait_for(dev.is_connected, 10, what="ws-1 to connect with its password")
    dev.subscribe("sensors/+/errors", qos=1)
    time.sleep(0.3)
    reading = json.dumps({"value": 3, "unit": "m/s", "ts": time.time()})
    dev.publish("sensors/ws-1/wind_speed", reading, qos=1).wait_for_publish(5)
    dev.publish("sensors/sm-1/noise", reading, qos=1).wait_for_publish(5)  # another device's topic
    box.publish("sensors/ws-1/errors", b'{"reason": "unit"}', qos=1).wait_for_publish(5)
    box.publish("sensors/sm-1/errors", b'{"reason": "json"}', qos=1).wait_for_publish(5)
    wait_for(lambda: answers, 5, what="ws-1 to hear its own answer")
    time.sleep(0.5)
    assert [t for t, _ in heard if not t.endswith("/errors")] == ["sensors/ws-1/wind_speed"]
    assert [t for t, _ in answers] == ["sensors/ws-1/errors"]
    for c in (box, dev):
        c.loop_stop()
        c.disconnect()


def test_a_broker_that_cannot_start_leaves_sensors_waiting_not_the_box_down(tmp_path):
    from edge.config import SensorsConfig
    from edge.ingest.mqtt_service import SensorService
    from edge.runtime.bus import EventBus
    from edge.store import AssetStore

    data = tmp_path / "data"
    data.mkdir()
    (data / "broker").write_text("a file where the broker's directory should be")
    port = free_port()
    store = AssetStore(tmp_path / "store")
    service = SensorService(data, store, EventBus(), SensorsConfig(broker=BrokerSettings(port=port)), demo=True)
    try:
        lines = service.start()
        assert lines[0].startswith("broker: not started (cannot write the broker's files in")
        assert "edge-box-broker.service" in lines[0]
        assert any("demo station off" in line for line in lines)
        assert not service.subscriber.connected  # and it keeps trying
    finally:
        service.stop()
        store.close()


def test_a_broker_the_box_started_dies_with_the_box(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    code = ("import sys, time; from pathlib import Path; from edge.config import BrokerSettings; "
            "from edge.ingest.mqtt_broker import LocalBroker; "
            f"b = LocalBroker(Path({str(tmp_path)!r}), BrokerSettings(port={port})); print(b.ensure_running()); "
            "print(b.proc.pid, flush=True); time.sleep(60)")
    box = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert box.stdout is not None
        assert box.stdout.readline().startswith("broker: started mosquitto")
        broker_pid = int(box.stdout.readline())
        box.send_signal(signal.SIGKILL)  # no chance to stop anything in order
        box.wait(10)
        wait_for(lambda: not listening(port), 10, what="the orphaned broker to go")
        wait_for(lambda: not os.path.exists(f"/proc/{broker_pid}") or
                 open(f"/proc/{broker_pid}/stat").read().split()[2] == "Z", 10, what="the broker process to end")
    finally:
        if box.poll() is None:
            box.kill()
