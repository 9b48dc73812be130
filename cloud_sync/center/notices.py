"""The center's MQTT subscriber: records every box notice once in the index.

A persistent session (fixed client id from center.json, clean_start=False,
session expiry) makes the broker keep notices published while the center is
down. paho acknowledges a QoS 1 message after on_message returns, and
on_message commits the row first, so a crash never loses an acknowledged
notice; a redelivered one is recognised by its `nid`.

The box id comes from the topic (`edge/<box_id>/…`); unlike ZeroMQ, MQTT
identities are only as strong as the broker's own authentication and ACLs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import paho.mqtt.client as mqtt

from cloud_sync.center.index import Index
from cloud_sync.mqtt_link import BrokerUrl, connect, make_client

log = logging.getLogger("cloud_sync.center.mqtt")

TOPICS = "edge/+/#"


class NoticeRecorder:
    def __init__(self, url: str, client_id: str, index: Index) -> None:
        self.broker = BrokerUrl.parse(url)
        self.index = index
        self.client = make_client(client_id, self.broker)
        def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
            if reason.is_failure:
                log.warning("MQTT broker refused the center: %s", reason)
                return
            # Re-subscribing on a resumed session is harmless and covers a broker that lost it.
            c.subscribe(TOPICS, qos=1)
            log.info("MQTT connected to %s:%d (session present: %s)", self.broker.host, self.broker.port,
                     getattr(flags, "session_present", "?"))

        self.client.on_connect = on_connect
        self.client.on_message = self._on_message
        self.recorded = 0

    def start(self) -> None:
        connect(self.client, self.broker)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        try:
            payload = json.loads(msg.payload)
            nid = str(payload["nid"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a notice without a JSON body and nid on %s", msg.topic)
            return
        if self.index.record_notice(parts[1], nid, msg.topic, json.dumps(payload, sort_keys=True)):
            self.recorded += 1
