"""The box's MQTT subscriber for sensor topics: messages in, refusals answered on `sensors/<device>/errors`.

A persistent session (clean_start False, a session expiry) at QoS 1: when
the box's link to the broker drops, paho reconnects by itself and the
broker hands over what devices published meanwhile; when the broker itself
restarts, its persistence keeps that session. Readings already stored are
never touched by any of this.

Answers are rate-limited per device (one a second, and one "rate limited"
report every few seconds while a device floods), so a device sending
garbage cannot make the box flood the broker back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from cloud_sync.mqtt_link import BrokerUrl, connect, make_client
from edge.ingest.sensors import ERRORS, TOPIC_ROOT, Rejected, SensorIngest, errors_topic

log = logging.getLogger(__name__)

SUBSCRIPTION = f"{TOPIC_ROOT}/#"
ANSWER_INTERVAL_S = 1.0
RATE_REPORT_INTERVAL_S = 5.0


class SensorSubscriber:
    def __init__(self, url: str, ingest: SensorIngest, *, client_id: str = "edge-box-sensors") -> None:
        self.broker = BrokerUrl.parse(url)
        self.url = url
        self.ingest = ingest
        # paho's in-flight cap is for what we publish; QoS 1 deliveries to us are bounded by the broker.
        self._client = make_client(client_id, self.broker)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._answered: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.connected = False
        self._stopping = False
        self.connects = 0
        self.answers = 0
        self.last_refusal: str | None = None

    def start(self) -> None:
        connect(self._client, self.broker)

    def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected:
                return True
            time.sleep(0.02)
        return False

    def state(self) -> dict[str, Any]:
        return {"broker": f"{self.broker.host}:{self.broker.port}", "connected": self.connected,
                "connects": self.connects, "last_refusal": self.last_refusal}

    # -- paho callbacks (paho's network thread) -------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            self.last_refusal = str(reason)
            log.warning("the broker %s refused the sensor subscriber: %s", self.url, reason)
            return
        self.connected = True
        self.connects += 1
        # A resumed session keeps the subscription; subscribing again is harmless and covers a fresh one.
        client.subscribe(SUBSCRIPTION, qos=1)
        log.info("sensors: subscribed to %s on %s", SUBSCRIPTION, self.url)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.connected and not self._stopping:
            log.warning("sensors: lost the broker %s (%s); reconnecting", self.url, reason)
        self.connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        if len(parts) == 3 and parts[2] == ERRORS:
            return  # our own answers (and other subscribers' copies of them)
        try:
            result = self.ingest.handle(msg.topic, msg.payload)
        except Exception:  # the ingest catches its own errors; this is the last line before paho's thread
            log.exception("sensor message on %s could not be handled", msg.topic[:200])
            return
        if isinstance(result, Rejected) and result.device is not None:
            self._answer(result)

    def _answer(self, rejected: Rejected) -> None:
        interval = RATE_REPORT_INTERVAL_S if rejected.reason == "rate" else ANSWER_INTERVAL_S
        key = (rejected.device or "", rejected.reason)
        now = time.monotonic()
        with self._lock:
            if now - self._answered.get(key, -1e9) < interval:
                return
            self._answered[key] = now
        assert rejected.device is not None
        body = {**rejected.to_json(), "at": round(time.time(), 3)}
        if rejected.reason == "rate":
            log.warning("sensors: %s", rejected.message)
        self._client.publish(errors_topic(rejected.device), json.dumps(body), qos=0)
        self.answers += 1
