"""MQTT notices through a real mosquitto: QoS 1, persistent sessions, durable box-side queue."""

from __future__ import annotations

import time
from pathlib import Path

from cloud_sync.center.index import Index
from cloud_sync.center.notices import NoticeRecorder
from cloud_sync.config import SyncConfig
from cloud_sync.mqtt_link import BrokerUrl, MqttLink
from cloud_sync.outbox import Outbox
from cloud_sync.syncer import Syncer
from edge.store import AssetStore

from .conftest import make_box, wait_for


def _recorder(url: str, tmp_path: Path) -> NoticeRecorder:
    rec = NoticeRecorder(url, "edge-center-test", Index(tmp_path / "center-index.sqlite"))
    rec.start()
    wait_for(lambda: rec.client.is_connected(), 10, what="the center to reach the broker")
    time.sleep(0.3)  # the SUBSCRIBE goes out from on_connect
    return rec


def _pump_until_acked(link: MqttLink, timeout: float = 10) -> None:
    def acked() -> bool:
        link.pump()
        return link.pending() == 0

    wait_for(acked, timeout, what="the broker to acknowledge every notice")


def test_broker_urls():
    u = BrokerUrl.parse("mqtts://ed%40ge:s3cret@broker.example?ca=/etc/ca.pem")
    assert (u.host, u.port, u.tls, u.username, u.password, u.ca_file) == (
        "broker.example", 8883, True, "ed@ge", "s3cret", "/etc/ca.pem")
    assert BrokerUrl.parse("mqtt://10.0.0.1").port == 1883


def test_notices_sent_while_the_center_is_down_arrive_when_it_returns(mosquitto, tmp_path):
    rec = _recorder(mosquitto.url, tmp_path)  # creates the center's persistent session
    rec.stop()
    outbox = Outbox(tmp_path / "outbox.sqlite", SyncConfig())
    link = MqttLink(mosquitto.url, "cam1", outbox)
    link.start()
    wait_for(lambda: link.connected, 10, what="the box to reach the broker")
    for i in range(50):
        link.notify("assets", {"event": "queued", "n": i})
    _pump_until_acked(link)
    link.stop()

    rec = _recorder(mosquitto.url, tmp_path)
    try:
        wait_for(lambda: len(rec.index.notices()) == 50, 10, what="all 50 notices at the center")
        got = rec.index.notices()
        assert sorted(n["payload"]["n"] for n in got) == list(range(50))
        assert {n["box"] for n in got} == {"cam1"} and {n["topic"] for n in got} == {"edge/cam1/assets"}
    finally:
        rec.stop()


def test_notices_queued_while_the_broker_is_down_survive_a_box_restart(mosquitto, tmp_path):
    rec = _recorder(mosquitto.url, tmp_path)
    mosquitto.stop()
    outbox = Outbox(tmp_path / "outbox.sqlite", SyncConfig())
    link = MqttLink(mosquitto.url, "cam1", outbox)
    link.start()
    for i in range(5):
        link.notify("status", {"state": "down", "n": i})
    link.stop()
    outbox.close()  # a power cut here loses nothing: the notices are in SQLite

    mosquitto.start()
    outbox = Outbox(tmp_path / "outbox.sqlite", SyncConfig())
    assert outbox.notice_count() == 5
    link = MqttLink(mosquitto.url, "cam1", outbox)
    link.start()
    wait_for(lambda: link.connected, 15, what="the box to reconnect")
    _pump_until_acked(link)
    link.stop()
    try:
        wait_for(lambda: len(rec.index.notices()) == 5, 15, what="the notices at the center")
    finally:
        rec.stop()


def test_a_redelivered_notice_is_recorded_once(tmp_path):
    index = Index(tmp_path / "i.sqlite")
    assert index.record_notice("cam1", "abc", "edge/cam1/status", "{}")
    assert not index.record_notice("cam1", "abc", "edge/cam1/status", "{}")
    assert len(index.notices()) == 1


def test_syncer_announces_drafts_and_synced_assets(mosquitto, center, tmp_path):
    rec = _recorder(mosquitto.url, tmp_path)
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    try:
        with AssetStore(files.store) as store:
            draft = store.add_bytes(b"Headline\nBody text.", kind="draft", name="d1")
            store.add_bytes(b"x" * 5000, kind="keyframe", name="k1")
            syncer = Syncer(store, files.root, mqtt_url=mosquitto.url)
            assert syncer.run(until_drained=True, timeout=30)
            syncer.close()

        def events() -> list[tuple[str, str]]:
            return [(n["payload"].get("event"), n["payload"].get("kind")) for n in rec.index.notices()
                    if n["topic"] == "edge/cam1/assets"]

        wait_for(lambda: len(events()) >= 3, 10, what="queued + synced notices")
        assert ("queued", "draft") in events() and ("synced", "draft") in events() and ("synced", "keyframe") in events()
        assert any(n["payload"].get("asset_id") == draft.id for n in rec.index.notices())
        assert any(n["topic"] == "edge/cam1/status" and n["payload"]["state"] == "up" for n in rec.index.notices())
    finally:
        rec.stop()
