"""The box's sensor side as one service: broker (when local), ingest, subscriber, demo devices.

Started by `edge run` (Box.start_sensors); stopped in reverse order, the
ingest last so every reading already accepted is stored before the run closes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from edge.config import SensorsConfig
from edge.errors import EdgeError
from edge.ingest.mqtt_broker import LocalBroker
from edge.ingest.mqtt_demo import DEMO_RULES, DEVICES, DemoStation
from edge.ingest.mqtt_sensors import SensorSubscriber
from edge.ingest.sensors import SensorIngest

log = logging.getLogger(__name__)


class SensorService:
    def __init__(self, data_dir: Path, store: Any, bus: Any, settings: SensorsConfig, *,
                 mqtt_url: str | None = None, demo: bool = False, box_id: str = "edge-box") -> None:
        if demo and not settings.rules:
            settings = settings.model_copy(update={"rules": DEMO_RULES})
        self.settings = settings
        self.url = mqtt_url or settings.mqtt
        self.broker = LocalBroker(data_dir, settings.broker) if self.url is None and settings.broker.start else None
        if self.url is None:
            self.url = f"mqtt://127.0.0.1:{settings.broker.port}"
        self.ingest = SensorIngest(store, bus, settings, source=_redact(self.url),
                                   demo_devices=DEVICES if demo else frozenset())
        # A persistent session is keyed by client id: stable for this box and data directory, distinct from
        # any other box (or a second box with the default id) on the same broker, which would take it over.
        place = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
        self.subscriber = SensorSubscriber(self.url, self.ingest, client_id=f"edge-box-{box_id}-{place}-sensors")
        self.demo = DemoStation(settings.broker.port) if demo else None

    def start(self) -> list[str]:
        lines = []
        broker_up = True
        if self.broker is not None:
            try:
                lines.append(self.broker.ensure_running())
            except EdgeError as exc:  # readings still come once a broker answers there: the subscriber retries
                broker_up = False
                lines.append(f"broker: not started ({exc}); sensors wait for a broker on {_redact(self.url)}")
        self.ingest.start()
        self.subscriber.start()
        lines.append(f"sensors: subscribed to sensors/# on {_redact(self.url)}")
        if self.demo is not None:
            if self.broker is None or not broker_up:
                lines.append("sensors: demo station off (it publishes to the box's own broker only)")
                self.demo = None
            else:
                self.demo.start()
                lines.append("sensors: demo weather station and sound meter publishing (labelled demo data)")
        return lines

    def stop(self) -> None:
        for step in (self.demo, self.subscriber):
            if step is not None:
                try:
                    step.stop()
                except Exception:  # stopping must go on to the ingest, which holds unstored readings
                    log.exception("stopping %s failed", type(step).__name__)
        self.ingest.stop()
        if self.broker is not None:
            self.broker.stop()

    def state(self) -> dict[str, Any]:
        return {**self.subscriber.state(), **self.ingest.stats()}


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return url if not u.password else url.replace(f":{u.password}@", ":***@")


