"""Threshold rules over sensor readings, with hysteresis, producing alerts a draft may cite.

A rule (config `sensors.rules`) watches one quantity, on every device or
one. It raises when a reading crosses its limit and clears only once the
value is back past the limit by `hysteresis`, so a wind gusting around
50 km/h raises one alert, not one per reading. Limits are converted to the
stored unit once, at start-up (edge/ingest/units.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from edge.config import SensorRule
from edge.events import SensorAlert, SensorReading
from edge.ingest.units import normalise


@dataclass(frozen=True, slots=True)
class _Compiled:
    name: str
    quantity: str
    device: str | None
    unit: str  # the stored unit
    limit: float
    clear_at: float
    above: bool

    def crossed(self, value: float) -> bool:
        return value > self.limit if self.above else value < self.limit

    def cleared(self, value: float) -> bool:
        return value <= self.clear_at if self.above else value >= self.clear_at


def compile_rule(rule: SensorRule) -> _Compiled:
    above = rule.above is not None
    raw_limit = rule.above if above else rule.below
    assert raw_limit is not None  # SensorRule insists on one of them
    limit, unit = normalise(raw_limit, rule.unit)
    # The hysteresis is a difference: convert it without the offset (°F to °C is 5/9 of it).
    band = abs(normalise(raw_limit + rule.hysteresis, rule.unit)[0] - limit)
    name = rule.name or f"{rule.quantity} {'above' if above else 'below'} {raw_limit:g} {rule.unit}"
    return _Compiled(name, rule.quantity, rule.device, unit, limit, limit - band if above else limit + band, above)


def fact_text(quantity: str, value: float, unit: str, ts: float, device: str) -> str:
    """How a reading reads in a draft: 'Wind speed 62 km/h at 14:03 (station ws-1)'."""
    label = quantity.replace("_", " ").capitalize()
    return f"{label} {value:.4g} {unit} at {time.strftime('%H:%M', time.localtime(ts))} (station {device})"


class RuleEngine:
    def __init__(self, rules: list[SensorRule]) -> None:
        self.rules = [compile_rule(r) for r in rules]
        self._raised: dict[tuple[str, str], SensorAlert] = {}  # (rule, device) -> the alert that raised it
        self._lock = threading.Lock()

    def evaluate(self, r: SensorReading) -> list[SensorAlert]:
        """Changes this reading causes (raised or cleared), in rule order."""
        out = []
        for rule in self.rules:
            if rule.quantity != r.quantity or rule.unit != r.unit or rule.device not in (None, r.device):
                continue
            key = (rule.name, r.device)
            with self._lock:
                raised = key in self._raised
                if not raised and rule.crossed(r.value):
                    text = (f"{fact_text(r.quantity, r.value, r.unit, r.ts, r.device)}, "
                            f"{'above' if rule.above else 'below'} the {rule.limit:.4g} {rule.unit} limit")
                    alert = SensorAlert(rule.name, r.device, r.quantity, "raised", r.value, r.unit, r.ts, text)
                    self._raised[key] = alert
                    out.append(alert)
                elif raised and rule.cleared(r.value):
                    del self._raised[key]
                    text = (f"{fact_text(r.quantity, r.value, r.unit, r.ts, r.device)}, "
                            f"back {'under' if rule.above else 'over'} the {rule.limit:.4g} {rule.unit} limit")
                    out.append(SensorAlert(rule.name, r.device, r.quantity, "cleared", r.value, r.unit, r.ts, text))
        return out

    def stored(self, alert: SensorAlert) -> None:
        """The raised alert now has its record (the fact a draft cites): keep that one."""
        with self._lock:
            key = (alert.rule, alert.device)
            if alert.state == "raised" and key in self._raised:
                self._raised[key] = alert

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a.to_json() for a in self._raised.values()]
