"""The center's MQTT subscriber: records every box notice once in the index.

A persistent session (fixed client id from center.json, clean_start=False,
session expiry) makes the broker keep notices published while the center is
down. paho acknowledges a QoS 1 message after on_message returns, and
on_message commits the row first, so a crash never loses an acknowledged
notice; a redelivered one is recognised by its `nid`.

Whose notice is it? MQTT does not tell a subscriber who published. The
broker's ACL (config/mosquitto.acl) lets a box publish only under
`edge/<its username>/…` and binds client ids to usernames, and a box's
username is its box id, so the topic names the authenticated sender. The
center also records only boxes it has allowed, and only when the payload
does not claim another box.

A notice is untrusted input on a thread we must keep alive: anything that
goes wrong with one message is logged and the message acknowledged (a
poison notice redelivered after every restart would otherwise block the
session for ever); payloads are bounded in size and nesting before parsing.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from cloud_sync.center.index import Index
from cloud_sync.mqtt_link import BrokerUrl, connect, make_client
from edge import ids

log = logging.getLogger("cloud_sync.center.mqtt")

TOPICS = "edge/+/#"
MAX_NOTICE_BYTES = 16 * 1024  # the broker's message_size_limit is larger; notices are a few hundred bytes
MAX_DEPTH = 16
ALLOWED_RELOAD_S = 1.0


def nesting_depth(payload: bytes, limit: int) -> int:
    """Deepest bracket nesting in a JSON text, counted without parsing (stops counting past `limit`)."""
    depth = deepest = 0
    in_string = escaped = False
    for b in payload:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def parse_notice(topic: str, payload: bytes) -> tuple[str, str, dict[str, Any]]:
    """(box id, nid, payload) of an acceptable notice, or ValueError saying why not."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "edge" or not ids.is_match(ids.BOX_ID, parts[1]):
        raise ValueError("topic is not edge/<box id>/…")
    if len(payload) > MAX_NOTICE_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes (at most {MAX_NOTICE_BYTES})")
    if nesting_depth(payload, MAX_DEPTH) > MAX_DEPTH:
        raise ValueError(f"payload nested deeper than {MAX_DEPTH}")
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise ValueError("payload is not a JSON object")
    nid = body.get("nid")
    if not isinstance(nid, str) or not 0 < len(nid) <= 64:
        raise ValueError("no nid")
    if body.get("box_id") not in (None, parts[1]):
        raise ValueError(f"payload claims box {str(body['box_id'])[:64]!r}")
    return parts[1], nid, body


class NoticeRecorder:
    def __init__(self, url: str, client_id: str, index: Index, *, allowed_dir: Path | None = None) -> None:
        self.broker = BrokerUrl.parse(url)
        self.index = index
        self.client = make_client(client_id, self.broker)
        self._allowed_dir = allowed_dir
        self._allowed: set[str] = set()
        self._allowed_at = 0.0

        def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, props: Any) -> None:
            try:
                if reason.is_failure:
                    log.warning("MQTT broker refused the center: %s", reason)
                    return
                # Re-subscribing on a resumed session is harmless and covers a broker that lost it.
                c.subscribe(TOPICS, qos=1)
                log.info("MQTT connected to %s:%d (session present: %s)", self.broker.host, self.broker.port,
                         getattr(flags, "session_present", "?"))
            except Exception:  # noqa: BLE001 - paho's thread must survive
                log.exception("MQTT on_connect failed")

        self.client.on_connect = on_connect
        self.client.on_message = self._on_message
        self.recorded = 0
        self.ignored = 0

    def start(self) -> None:
        connect(self.client, self.broker)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _is_allowed(self, box: str) -> bool:
        if self._allowed_dir is None:
            return True
        now = time.monotonic()
        if box not in self._allowed and now - self._allowed_at >= ALLOWED_RELOAD_S:
            from cloud_sync.center.server import AllowedBoxes

            boxes = AllowedBoxes(self._allowed_dir)
            boxes.changed()
            self._allowed, self._allowed_at = set(boxes.names.values()), now
        return box in self._allowed

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # Returning normally is what acknowledges the message: whatever it holds, we return.
        try:
            topic = msg.topic
            try:
                box, nid, body = parse_notice(topic, msg.payload)
                if not self._is_allowed(box):
                    raise ValueError(f"box {box} is not allowed at this center")
            except (ValueError, RecursionError, UnicodeDecodeError) as e:
                self.ignored += 1
                log.warning("ignoring a notice on %r: %s", topic[:120], str(e)[:200])
                return
            if self.index.record_notice(box, nid, topic, json.dumps(body, sort_keys=True)):
                self.recorded += 1
        except Exception:  # noqa: BLE001 - an exception here would kill paho's thread and every notice after it
            self.ignored += 1
            log.exception("could not record a notice; acknowledged and dropped")
