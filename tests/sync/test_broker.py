"""The shipped broker config (config/mosquitto.conf + `edge-center broker` files) on a real mosquitto, and the
center's notice recorder against poison and forged notices."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cloud_sync.boxfiles import BoxFiles
from cloud_sync.center.index import Index
from cloud_sync.center.notices import NoticeRecorder
from cloud_sync.center.server import CenterPaths
from cloud_sync.mqtt_link import BrokerUrl

from .conftest import MOSQUITTO, ROOT, Mosquitto, center_cli, free_port, wait_for


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class SecureBroker(Mosquitto):
    """mosquitto running the repository's config/mosquitto.conf, with paths and port moved into a test directory."""

    def __init__(self, workdir: Path, etc: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        text = (ROOT / "config" / "mosquitto.conf").read_text()
        text = text.replace("listener 1883", f"listener {self.port} 127.0.0.1")
        text = text.replace("/var/lib/edge-broker/", f"{workdir}/").replace("/etc/edge-box/", f"{etc}/")
        assert str(etc) in text and f"listener {self.port}" in text
        # $SYS every second, so a test can see that nobody but the broker reads it.
        self.conf.write_text(text + "log_dest stderr\nuser root\nsys_interval 1\n")
        self.proc = None


@pytest.fixture
def site(tmp_path):
    """A center with two allowed boxes, broker files from `edge-center broker`, and the broker running."""
    cdir = tmp_path / "center"
    CenterPaths(cdir).init()
    for box in ("truck-7", "slow-1"):
        shutil.copyfile(BoxFiles(tmp_path / box).init(box), CenterPaths(cdir).allowed / f"{box}.key")
    etc = tmp_path / "etc"
    printed = center_cli("broker", "--data", str(cdir), "--out", str(etc)).stdout.split()
    assert {Path(p).name for p in printed} == {"mosquitto.passwd", "mosquitto.acl", "center-mqtt.env",
                                               "box-truck-7-mqtt.env", "box-slow-1-mqtt.env"}
    assert all((etc / f).stat().st_mode & 0o077 == 0 for f in ("center-mqtt.env", "box-slow-1-mqtt.env"))
    broker = SecureBroker(tmp_path / "broker", etc)
    broker.start()
    yield cdir, etc, broker
    broker.stop()


def _client(broker: Mosquitto, env: dict[str, str], client_id: str = "") -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(env["EDGE_MQTT_USERNAME"], env["EDGE_MQTT_PASSWORD"])
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    wait_for(c.is_connected, 10, what=f"{env['EDGE_MQTT_USERNAME']} to connect")
    return c


def _recorder(cdir: Path, broker: Mosquitto, url: str | None = None) -> NoticeRecorder:
    rec = NoticeRecorder(url or broker.url, "edge-center-test", Index(CenterPaths(cdir).index),
                         allowed_dir=CenterPaths(cdir).allowed)
    rec.start()
    wait_for(rec.client.is_connected, 10, what="the center to reach the broker")
    time.sleep(0.3)  # the SUBSCRIBE goes out from on_connect
    return rec


def _notice(box: str, nid: str, **extra) -> str:
    return json.dumps({"nid": nid, "box_id": box, **extra})


def test_center_credentials_come_from_the_env_file_and_a_box_cannot_speak_for_another(site, monkeypatch):
    cdir, etc, broker = site
    for k, v in _env(etc / "center-mqtt.env").items():
        monkeypatch.setenv(k, v)
    rec = _recorder(cdir, broker)  # mqtt://127.0.0.1:PORT, no credentials on the command line
    truck, slow = _client(broker, _env(etc / "box-truck-7-mqtt.env")), _client(broker, _env(etc / "box-slow-1-mqtt.env"))
    try:
        slow.publish("edge/truck-7/assets", _notice("truck-7", "fake", text="FAKE: evacuation ordered"), qos=1)
        slow.publish("edge/slow-1/assets", _notice("truck-7", "claims-other"), qos=1)  # payload names another box
        slow.publish("edge/slow-1/assets", _notice("slow-1", "own"), qos=1).wait_for_publish(5)
        rec.client.publish("edge/truck-7/assets", _notice("truck-7", "from-center"), qos=1)  # the center only reads
        truck.publish("edge/truck-7/assets", _notice("truck-7", "real"), qos=1).wait_for_publish(5)
        wait_for(lambda: len(rec.index.notices()) == 2, 10, what="the two genuine notices")
        time.sleep(0.5)
        assert sorted((n["box"], n["nid"]) for n in rec.index.notices()) == [("slow-1", "own"), ("truck-7", "real")]
    finally:
        for c in (truck, slow):
            c.disconnect()
            c.loop_stop()
        rec.stop()
        rec.index.close()


def test_a_box_can_neither_read_others_nor_take_their_client_id(site):
    _, etc, broker = site
    truck_env, slow_env = _env(etc / "box-truck-7-mqtt.env"), _env(etc / "box-slow-1-mqtt.env")
    truck = _client(broker, truck_env, client_id="edge-box-truck-7")
    codes: list = []
    got: list = []
    done = threading.Event()
    slow = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-box-truck-7", protocol=mqtt.MQTTv5)
    slow.username_pw_set(slow_env["EDGE_MQTT_USERNAME"], slow_env["EDGE_MQTT_PASSWORD"])
    slow.on_subscribe = lambda c, u, mid, rcs, p: (codes.extend(rcs), done.set())
    slow.on_message = lambda c, u, m: got.append(m.topic)
    slow.connect("127.0.0.1", broker.port)
    slow.loop_start()
    try:
        wait_for(slow.is_connected, 10, what="slow-1 to connect")
        slow.subscribe([("#", 1), ("$SYS/#", 1), ("edge/truck-7/#", 1)])
        assert done.wait(5)
        # mosquitto 2.0 grants wildcard subscriptions and applies the ACL to every message it would deliver.
        truck.publish("edge/truck-7/status", _notice("truck-7", "s1"), qos=1).wait_for_publish(5)
        slow.publish("edge/slow-1/status", _notice("slow-1", "s2"), qos=1).wait_for_publish(5)  # not even its own
        time.sleep(2.5)  # $SYS is published every second in this broker
        assert got == [], got
        # Same client id, different user: the real truck-7 was not kicked off.
        assert truck.is_connected()
    finally:
        for c in (truck, slow):
            c.disconnect()
            c.loop_stop()


def test_the_broker_refuses_anonymous_clients_and_oversized_notices(site):
    cdir, etc, broker = site
    anonymous = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="anon", protocol=mqtt.MQTTv5)
    answers: list = []
    anonymous.on_connect = lambda _c, _u, _flags, reason, _props: answers.append(reason)
    anonymous.connect("127.0.0.1", broker.port)
    anonymous.loop_start()
    wait_for(lambda: answers, 10, what="the broker to answer the anonymous client")
    assert answers[0].is_failure and not anonymous.is_connected(), answers[0]
    anonymous.loop_stop()
    rec = _recorder(cdir, broker, _center_url(etc, broker))
    truck = _client(broker, _env(etc / "box-truck-7-mqtt.env"))
    try:
        for _ in range(10):
            truck.publish("edge/truck-7/assets", json.dumps({"nid": "big", "pad": "x" * (1 << 20)}), qos=1)
        time.sleep(1.5)
        rss_kb = int(subprocess.run(["ps", "-o", "rss=", "-p", str(broker.proc.pid)], capture_output=True,
                                    text=True).stdout)
        assert rss_kb < 50_000  # 10 MiB of notices were not taken in
        assert rec.index.notices() == []
    finally:
        truck.disconnect()
        truck.loop_stop()
        rec.stop()
        rec.index.close()


def _center_url(etc: Path, broker: Mosquitto) -> str:
    env = _env(etc / "center-mqtt.env")
    return f"mqtt://{env['EDGE_MQTT_USERNAME']}:{env['EDGE_MQTT_PASSWORD']}@127.0.0.1:{broker.port}"


def test_broker_urls_take_credentials_from_the_environment():
    env = {"EDGE_MQTT_USERNAME": "_center", "EDGE_MQTT_PASSWORD": "pw"}
    u = BrokerUrl.parse("mqtt://127.0.0.1:1883", env)
    assert (u.username, u.password) == ("_center", "pw")
    assert BrokerUrl.parse("mqtt://me:x@h", env).username == "me"  # the URL wins when it names a user


def test_a_poison_notice_is_logged_acknowledged_and_never_blocks_the_session(mosquitto, tmp_path, caplog):
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed")
    cdir = tmp_path / "center"
    CenterPaths(cdir).init()
    shutil.copyfile(BoxFiles(tmp_path / "cam1").init("cam1"), CenterPaths(cdir).allowed / "cam1.key")
    rec = _recorder(cdir, mosquitto)
    rec.stop()  # the persistent session now holds whatever is published meanwhile
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="attacker", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    try:
        for payload in ("[" * 200_000, "[" * 5000 + "]" * 5000, "{" * 40, "not json", "null", "\xff",
                        json.dumps({"nid": ["x"]}), _notice("cam2", "unknown-box"), _notice("other", "claim")):
            pub.publish("edge/cam1/assets" if "unknown-box" not in payload else "edge/cam2/assets", payload,
                        qos=1).wait_for_publish(5)
        pub.publish("edge/cam1/assets", _notice("cam1", "after-poison"), qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()
        pub.loop_stop()
    rec = _recorder(cdir, mosquitto)
    wait_for(lambda: [n["nid"] for n in rec.index.notices()] == ["after-poison"], 10, what="the good notice")
    assert rec.ignored == 9 and rec.client._thread is not None and rec.client._thread.is_alive()
    rec.stop()
    rec.index.close()
    # After a restart the poison is not redelivered: it was acknowledged. A notice sent now is delivered after
    # anything the session still held (QoS 1 keeps a topic's order), so once it is in, nothing is left to come.
    rec = _recorder(cdir, mosquitto)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="after-restart", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    try:
        pub.publish("edge/cam1/assets", _notice("cam1", "after-restart"), qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()
        pub.loop_stop()
    wait_for(lambda: "after-restart" in [n["nid"] for n in rec.index.notices()], 10, what="the notice sent after")
    assert rec.ignored == 0
    rec.stop()
    rec.index.close()

