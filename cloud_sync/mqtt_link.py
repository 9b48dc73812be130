"""Small messages over MQTT 5 (paho-mqtt v2 API): box status and asset notices.

Topics: `edge/<box_id>/status` (link state changes) and `edge/<box_id>/assets`
(a draft/caption was queued, an asset reached the center). QoS 1 with a
persistent session (clean_start=False plus a SessionExpiryInterval) on both
ends, so the broker keeps what the center has not read yet while it is away.

A notice is first written to the box's outbox (SQLite) and deleted only
when the broker acknowledged it (PUBACK), so it survives a broker outage
and a box power cut; after a restart it may be published twice, which is
why every payload carries a random `nid` the center deduplicates on.

MQTT is optional: assets travel over ZeroMQ whether or not a broker exists.
In-flight messages are capped at the broker's Receive Maximum (or ours if
smaller): beyond that a broker answers "quota exceeded", which paho would
report as success. paho ignores Receive Maximum, so MqttLink enforces it by
handing paho no more unacknowledged notices than that.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_sync.outbox import Outbox
from edge.errors import EdgeError

log = logging.getLogger("cloud_sync.mqtt")

SESSION_EXPIRY_S = 7 * 24 * 3600  # a box may be off the network for days
MAX_INFLIGHT = 20  # well under mosquitto's default receive maximum of 100


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    ca_file: str | None

    @classmethod
    def parse(cls, url: str, environ: dict[str, str] | None = None) -> BrokerUrl:
        """mqtt://[user[:password]@]host[:port] or mqtts://…[?ca=/path/ca.pem] (TLS).

        Without a user in the URL, EDGE_MQTT_USERNAME / EDGE_MQTT_PASSWORD from the environment are
        used (the systemd units read them from an environment file: a password on a command line is
        visible to every local user in ps).
        """
        u = urlsplit(url)
        if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
            raise EdgeError(f"not an MQTT broker URL: {url!r}", "use mqtt://host:1883 or mqtts://user:pass@host:8883")
        tls = u.scheme == "mqtts"
        ca = parse_qs(u.query).get("ca", [None])[0]
        env = os.environ if environ is None else environ
        user = unquote(u.username) if u.username else env.get("EDGE_MQTT_USERNAME") or None
        password = unquote(u.password) if u.password else (
            env.get("EDGE_MQTT_PASSWORD") or None if not u.username else None)
        return cls(u.hostname, u.port or (8883 if tls else 1883), tls, user, password, ca)


def make_client(client_id: str, broker: BrokerUrl, max_inflight: int = MAX_INFLIGHT) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if broker.tls:
        client.tls_set(ca_certs=broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.max_inflight_messages_set(max_inflight)
    client.reconnect_delay_set(min_delay=1, max_delay=10)

    return client


def connect(client: mqtt.Client, broker: BrokerUrl, session_expiry_s: int = SESSION_EXPIRY_S) -> None:
    """Connect in the background (paho reconnects by itself) with a persistent session."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    client.connect_async(broker.host, broker.port, keepalive=10, clean_start=False, properties=props)
    client.loop_start()


class MqttLink:
    """The box's publisher. Call pump() from the syncer loop; paho's thread only records PUBACKs."""

    def __init__(self, url: str, box_id: str, outbox: Outbox, *, max_inflight: int = MAX_INFLIGHT) -> None:
        self.broker = BrokerUrl.parse(url)
        self.box_id = box_id
        self.outbox = outbox
        self._max_inflight = max_inflight
        self._max_handed = max_inflight
        self._client = make_client(f"edge-box-{box_id}", self.broker, max_inflight)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *a: setattr(self, "_up", False)
        self._client.on_publish = self._on_publish
        self._acked: deque[tuple[int, bool]] = deque()  # (mid, ok) from paho's thread; deque ops are atomic
        self._mid_to_notice: dict[int, int] = {}
        # A PUBACK can beat publish() returning its mid to us; such acks wait here for their mapping.
        self._unmatched: dict[int, bool] = {}
        self._handed: set[int] = set()  # notice ids paho holds; it retransmits them itself after a reconnect
        self._up = False
        self.published = 0

    @property
    def connected(self) -> bool:
        return self._up

    def start(self) -> None:
        connect(self._client, self.broker)

    def stop(self) -> None:
        self.pump()
        self._client.disconnect()
        self._client.loop_stop()

    def topic(self, what: str) -> str:
        return f"edge/{self.box_id}/{what}"

    def notify(self, what: str, payload: dict[str, Any]) -> None:
        """Queue durably, then publish as soon as the broker is reachable."""
        self.outbox.add_notice(self.topic(what), {"nid": secrets.token_hex(8), "box_id": self.box_id, **payload})
        self.pump()

    def pump(self) -> None:
        self._settle()
        if self._up:
            self._publish_queued()
            self._settle()

    def _settle(self) -> None:
        while self._acked:
            mid, ok = self._acked.popleft()
            self._unmatched[mid] = ok
        for mid in [m for m in self._unmatched if m in self._mid_to_notice]:
            ok, nid = self._unmatched.pop(mid), self._mid_to_notice.pop(mid)
            self._handed.discard(nid)
            if ok:
                self.outbox.drop_notice(nid)
                self.published += 1

    def _publish_queued(self) -> None:
        room = self._max_handed - len(self._handed)
        if room <= 0:
            return
        for n in self.outbox.notices(limit=room + len(self._handed)):
            if n.id in self._handed:
                continue
            info = self._client.publish(n.topic, json.dumps(n.payload, sort_keys=True), qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                break  # paho's queue is full; the rows stay for the next pump
            # (NO_CONN: paho keeps the message and sends it when it reconnects, so it counts as handed.)
            self._handed.add(n.id)
            self._mid_to_notice[info.mid] = n.id
            room -= 1
            if room <= 0:
                break

    def pending(self) -> int:
        return self.outbox.notice_count()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, props: Properties | None) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT broker refused the box: %s", reason)
            return
        # paho cannot change its in-flight limit once connected, and does not read the broker's
        # Receive Maximum; we hand it no more unacknowledged notices than the broker accepts.
        broker_max = getattr(props, "ReceiveMaximum", None) if props is not None else None
        self._max_handed = min(self._max_inflight, int(broker_max)) if broker_max else self._max_inflight
        self._up = True

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        failed = getattr(reason, "is_failure", False)
        if failed:
            log.warning("broker refused notice (mid %d): %s; it stays queued", mid, reason)
        self._acked.append((mid, not failed))
