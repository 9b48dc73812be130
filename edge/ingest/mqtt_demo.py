"""The demo's sensors: a simulated weather station and sound meter publishing through the local broker.

They speak as real devices would (the station in mph and °F, so the unit
table shows its work), every second, with a `seq`. Every few minutes a gust
takes the wind over 50 km/h for about twenty seconds, so a newcomer sees a
live alert raised and cleared. Their series are labelled as demo data on
the dashboard; their device ids say so too.
"""

from __future__ import annotations

import json
import math
import threading
import time

import paho.mqtt.client as mqtt

from edge.config import SensorRule

STATION = "demo-weather"
METER = "demo-sound"
DEVICES = frozenset({STATION, METER})
CYCLE_S = 180.0
GUST = (25.0, 45.0)  # seconds into each cycle

# What the demo raises alerts on when the box configuration has no rules of its own.
DEMO_RULES = [
    SensorRule(name="high wind", quantity="wind_speed", above=50, unit="km/h", hysteresis=5),
    SensorRule(name="loud noise", quantity="noise", above=100, unit="dB", hysteresis=5),
]


def station_readings(t: float, start: float) -> list[tuple[str, dict]]:
    """What the two devices say at wall time `t` (seconds since `start` drive the weather)."""
    phase = (t - start) % CYCLE_S
    wind_kmh = 22 + 6 * math.sin(phase / 9)
    if GUST[0] <= phase <= GUST[1]:
        wind_kmh = 55 + 7 * math.sin((phase - GUST[0]) / 20 * math.pi)
    temp_c = 14 + 2 * math.sin(phase / 60)
    noise = 68 + 8 * math.sin(phase / 5) + (12 if GUST[0] <= phase <= GUST[1] else 0)
    return [
        (f"sensors/{STATION}/wind_speed", {"value": round(wind_kmh / 1.609344, 2), "unit": "mph"}),
        (f"sensors/{STATION}/temperature", {"value": round(temp_c * 9 / 5 + 32, 1), "unit": "°F"}),
        (f"sensors/{STATION}/pressure", {"value": round(1012 + math.sin(phase / 90), 1), "unit": "hPa"}),
        (f"sensors/{METER}/noise", {"value": round(noise, 1), "unit": "dB"}),
    ]


class DemoStation:
    def __init__(self, port: int, *, interval_s: float = 1.0) -> None:
        self.port = port
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-demo-station",
                                   protocol=mqtt.MQTTv5)
        self.published = 0

    def start(self) -> None:
        self._client.connect_async("127.0.0.1", self.port)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._loop, name="demo-sensors", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    def _loop(self) -> None:
        start = time.time()
        seq = 0
        while not self._stop.wait(self.interval_s):
            now = time.time()
            seq += 1
            for topic, body in station_readings(now, start):
                self._client.publish(topic, json.dumps({**body, "ts": round(now, 3), "seq": seq}), qos=1)
                self.published += 1
