"""A real mosquitto on a free port of 127.0.0.1 (the sync tests' helper), a real store, the real subscriber."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.config import SensorsConfig
from edge.ingest.mqtt_sensors import SensorSubscriber
from edge.ingest.sensors import SensorIngest
from edge.runtime.bus import EventBus
from edge.store import AssetStore
from tests.sync.conftest import MOSQUITTO, Mosquitto, wait_for

_ids = itertools.count()


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> Iterator[Mosquitto]:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (make setup installs it: apt-get install mosquitto)")
    m = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    m.start()
    yield m
    m.stop()


class Site:
    """A box's sensor side (store, ingest, subscriber) and a device client that publishes and hears answers."""

    def __init__(self, root: Path, broker: Mosquitto, settings: SensorsConfig) -> None:
        self.broker = broker
        self.store = AssetStore(root / "store")
        self.bus = EventBus()
        self.ingest = SensorIngest(self.store, self.bus, settings, source=broker.url)
        self.ingest.start()
        n = next(_ids)
        self.sub = SensorSubscriber(broker.url, self.ingest, client_id=f"test-box-{n}-{time.time_ns()}")
        self.sub.start()
        assert self.sub.wait_connected(10), "the subscriber did not reach the broker"
        self.answers: list[tuple[str, dict]] = []
        self.device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-dev-{n}-{time.time_ns()}",
                                  protocol=mqtt.MQTTv5)
        self.device.on_message = lambda _c, _u, m: self.answers.append((m.topic, json.loads(m.payload)))
        self.device.connect("127.0.0.1", broker.port)
        self.device.loop_start()
        wait_for(self.device.is_connected, 10, what="the device to connect")
        self.device.subscribe("sensors/+/errors", qos=1)
        time.sleep(0.2)  # SUBSCRIBE acknowledged before the first publish

    def send(self, topic: str, payload, qos: int = 1) -> None:
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.device.publish(topic, body, qos=qos).wait_for_publish(5)

    def settle(self, handled: int, timeout: float = 10) -> None:
        """Wait until the ingest has seen `handled` messages and stored what it accepted."""
        def seen() -> bool:
            s = self.ingest.stats()
            return s["accepted"] + sum(s["rejected"].values()) >= handled
        wait_for(seen, timeout, what=f"{handled} messages to be handled")
        assert self.ingest.drain(timeout)

    def answers_for(self, reason: str) -> list[dict]:
        return [a for _, a in self.answers if a.get("reason") == reason]

    def close(self) -> None:
        self.device.loop_stop()
        self.device.disconnect()
        self.sub.stop()
        self.ingest.stop()
        self.store.close()


@pytest.fixture
def make_site(tmp_path, broker):
    sites = []

    def make(**settings) -> Site:
        site = Site(tmp_path / f"box{len(sites)}", broker, SensorsConfig(**settings))
        sites.append(site)
        return site

    yield make
    for s in sites:
        s.close()
