"""Sensor readings from the site's devices: checked, normalised, de-duplicated, stored, summarised.

Topic scheme: `sensors/<device_id>/<quantity>`, payload JSON
`{"value": number, "unit": str, "ts": RFC 3339 or epoch seconds, "seq": int (optional)}`.
Every message is hostile until checked: a bad one is refused with a reason
(the MQTT side publishes it on `sensors/<device_id>/errors`) and counted; it
never stops ingest. Checking happens on the MQTT thread; storing happens on
one writer thread in batches (one transaction per batch: a reading costs
one row, not one fsync), then the reading goes on the live bus.

Storage: one box-level run (stream "sensors") per ingest session; each
reading is a `sensor` record whose stream is the device id and whose
wall-clock time is the reading's own `ts`. Records of the run are the
source of the hourly `sensor_series` assets (sensor_series.py).

Order: per series (device, quantity), a reading with the same `ts` and
`seq` as one already seen is a duplicate (QoS 1 redelivery, a device that
re-sends) and is dropped; one older than the newest is "late": stored, but
it does not move the series' last value and does not fire rules.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.config import SensorsConfig
from edge.errors import EdgeError
from edge.events import SensorAlert, SensorReading
from edge.ingest.sensor_rules import RuleEngine
from edge.ingest.units import UnknownUnit, normalise
from edge.store.records import ALERT, SENSOR

log = logging.getLogger(__name__)

TOPIC_ROOT = "sensors"
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
QUANTITY = re.compile(r"[a-z][a-z0-9_]{0,31}")
ERRORS = "errors"  # sensors/<device>/errors carries the box's answers, never readings
RUN_STREAM = "sensors"
MAX_PAYLOAD = 1024
_DEDUP_WINDOW = 256  # recent (ts, seq) keys remembered per series

# Why a message was refused: the label of the rejected-messages counter.
REASONS = ("topic", "json", "schema", "unit", "timestamp", "rate", "duplicate")


def errors_topic(device: str) -> str:
    return f"{TOPIC_ROOT}/{device}/{ERRORS}"


class Payload(BaseModel):
    """What a device sends. Strict: "12" is not a number, true is not a number, extra fields are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    value: float
    unit: str = Field(min_length=1, max_length=32)
    ts: float | str
    seq: int | None = Field(default=None, ge=0, le=2**63 - 1)


@dataclass(frozen=True, slots=True)
class Rejected:
    topic: str
    device: str | None  # None when the topic does not name one: nobody to answer
    reason: str  # one of REASONS
    message: str  # says what is wrong and how to fix it

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "reason": self.reason, "error": self.message}


def parse_topic(topic: str) -> tuple[str, str] | Rejected:
    parts = topic.split("/")
    device = parts[1] if len(parts) > 1 and DEVICE_ID.fullmatch(parts[1]) else None
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or device is None or not QUANTITY.fullmatch(parts[2]):
        return Rejected(topic[:200], device, "topic",
                        "topic outside the scheme: publish readings on sensors/<device_id>/<quantity> "
                        "(device id: letters, digits, '-', '_'; quantity: lower-case letters, digits, '_')")
    if parts[2] == ERRORS:
        return Rejected(topic, device, "topic", f"'{ERRORS}' is where the box answers; it is not a quantity")
    return device, parts[2]


def parse_ts(ts: float | str) -> float:
    """Epoch seconds, or an RFC 3339 time with its offset; ValueError says which form is expected."""
    if isinstance(ts, str):
        try:
            parsed = datetime.fromisoformat(ts)
        except ValueError:
            raise ValueError(f"ts {ts[:40]!r} is not an RFC 3339 time (e.g. 2026-11-30T14:03:00Z) "
                             "or epoch seconds") from None
        if parsed.tzinfo is None:
            raise ValueError(f"ts {ts[:40]!r} has no UTC offset: add Z or +hh:mm")
        return parsed.timestamp()
    if not math.isfinite(ts):
        raise ValueError("ts is not a finite number")
    return float(ts)


def parse_reading(topic: str, payload: bytes, *, now: float, max_future_s: float,
                  max_age_s: float) -> SensorReading | Rejected:
    """Check one message; the reading is normalised but not yet de-duplicated or rate-limited."""
    where = parse_topic(topic)
    if isinstance(where, Rejected):
        return where
    device, quantity = where
    if len(payload) > MAX_PAYLOAD:
        return Rejected(topic, device, "json", f"payload of {len(payload)} bytes; a reading fits in {MAX_PAYLOAD}")
    try:
        p = Payload.model_validate_json(payload)  # JSON parsed and checked in one pass (pydantic-core)
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "json_invalid":
            return Rejected(topic, device, "json", f"payload is not JSON ({err['msg']}); send "
                            '{"value": 12.5, "unit": "km/h", "ts": 1764511380}')
        name = str(err["loc"][0]) if err["loc"] else "(payload)"
        if err["type"] == "missing":
            hint = f"field '{name}' is missing"
        elif name == "value":
            hint = f"field 'value' must be a finite number ({err['msg'].lower()})"
        else:
            hint = f"field '{name}': {err['msg']}"
        return Rejected(topic, device, "schema", f"{hint}; a reading is "
                        '{"value": number, "unit": str, "ts": RFC 3339 or epoch seconds, "seq": int (optional)}')
    try:
        value, unit = normalise(p.value, p.unit)
    except UnknownUnit as exc:
        return Rejected(topic, device, "unit", str(exc))
    try:
        ts = parse_ts(p.ts)
    except ValueError as exc:
        return Rejected(topic, device, "timestamp", str(exc))
    if ts > now + max_future_s:
        return Rejected(topic, device, "timestamp",
                        f"ts is {ts - now:.0f} s in the future (more than {max_future_s:.0f} s ahead of the box): "
                        "set the device's clock (NTP)")
    if ts < now - max_age_s:
        return Rejected(topic, device, "timestamp",
                        f"ts is {(now - ts) / 86400:.1f} days old (older than {max_age_s / 86400:.1f} days): "
                        "set the device's clock or drop its backlog")
    return SensorReading(device, quantity, round(value, 6), unit, ts, p.seq)


class _Bucket:
    """Token bucket: `rate` per second sustained, `burst` at once."""

    __slots__ = ("tokens", "stamp", "dropped", "reported_at")

    def __init__(self, burst: int, now: float) -> None:
        self.tokens, self.stamp, self.dropped, self.reported_at = float(burst), now, 0, 0.0


@dataclass
class SeriesState:
    device: str
    quantity: str
    unit: str
    count: int = 0  # stored readings
    last_value: float | None = None
    last_ts: float | None = None
    demo: bool = False

    def to_json(self) -> dict[str, Any]:
        last = None if self.last_ts is None else {"value": self.last_value, "ts": round(self.last_ts, 3)}
        out: dict[str, Any] = {"device": self.device, "quantity": self.quantity, "unit": self.unit,
                               "count": self.count, "last": last}
        if self.demo:
            out["demo"] = True
        return out


@dataclass
class _Order:
    newest: tuple[float, int] | None = None
    recent: OrderedDict = field(default_factory=OrderedDict)


class SensorIngest:
    """Checks readings (any thread), stores them in batches (its own writer thread), keeps series summaries."""

    def __init__(self, store: Any, bus: Any, settings: SensorsConfig, *, source: str = "mqtt",
                 demo_devices: frozenset[str] = frozenset(),
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.bus, self.settings = store, bus, settings
        self.source = source
        self.demo_devices = demo_devices
        self.rules = RuleEngine(settings.rules)
        self._clock = clock
        self._queue: queue.Queue[SensorReading | None] = queue.Queue(maxsize=100_000)
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._order: dict[tuple[str, str], _Order] = defaultdict(_Order)
        self.series: dict[tuple[str, str], SeriesState] = {}
        self.accepted = 0
        self.stored = 0
        self.rejected: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.dropped_by_device: dict[str, int] = defaultdict(int)
        self.store_errors = 0
        self.last_error: str | None = None
        self.run = None
        self._writer: threading.Thread | None = None
        self._load_series()

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        self.run = self.store.records.open_run(RUN_STREAM, self.source, live=True)
        self._writer = threading.Thread(target=self._write_loop, name="sensor-writer", daemon=True)
        self._writer.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued, then close the run."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout)
            self._writer = None
        if self.run is not None:
            try:
                self.store.records.close_run(self.run.id, "sensor ingest stopped")
            except EdgeError as exc:
                log.error("could not close the sensors run: %s", exc)
            self.run = None

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every accepted reading is stored (tests, bench)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # -- checking (MQTT thread) ---------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> SensorReading | Rejected:
        """Check one message; an accepted reading is queued for the writer."""
        now = self._clock()
        try:
            result = parse_reading(topic, payload, now=now, max_future_s=self.settings.max_future_s,
                                   max_age_s=self.settings.max_age_s)
        except Exception as exc:  # a bug here must cost one message, never the ingest
            log.exception("checking a sensor message on %s failed", topic[:200])
            result = Rejected(topic[:200], None, "schema", f"internal error while checking: {exc!r}")
        if isinstance(result, SensorReading):
            result = self._admit(result, now)
        with self._lock:
            if isinstance(result, Rejected):
                self.rejected[result.reason] += 1
            else:
                self.accepted += 1
        if isinstance(result, SensorReading):
            self._queue.put(result)
        return result

    def _admit(self, r: SensorReading, now: float) -> SensorReading | Rejected:
        s = self.settings
        with self._lock:
            bucket = self._buckets.get(r.device)
            if bucket is None:
                bucket = self._buckets[r.device] = _Bucket(s.burst, now)
            bucket.tokens = min(float(s.burst), bucket.tokens + (now - bucket.stamp) * s.max_rate)
            bucket.stamp = now
            if bucket.tokens < 1:
                bucket.dropped += 1
                self.dropped_by_device[r.device] += 1
                return Rejected(f"{TOPIC_ROOT}/{r.device}/{r.quantity}", r.device, "rate",
                                f"more than {s.max_rate:g} readings/s (burst {s.burst}) from device {r.device}: "
                                f"{bucket.dropped} dropped so far; send less often")
            bucket.tokens -= 1
            order = self._order[(r.device, r.quantity)]
            key = (r.ts, r.seq if r.seq is not None else r.value)
            if key in order.recent:
                return Rejected(f"{TOPIC_ROOT}/{r.device}/{r.quantity}", r.device, "duplicate",
                                f"duplicate reading (ts {r.ts}, seq {r.seq}) already stored")
            order.recent[key] = None
            if len(order.recent) > _DEDUP_WINDOW:
                order.recent.popitem(last=False)
            rank = (r.ts, r.seq if r.seq is not None else -1)
            late = order.newest is not None and rank < order.newest
            if not late:
                order.newest = rank
        return SensorReading(r.device, r.quantity, r.value, r.unit, r.ts, r.seq, late=late,
                             demo=r.device in self.demo_devices)

    # -- storing (writer thread) --------------------------------------------------

    def _write_loop(self) -> None:
        stopping = False
        while not stopping:
            batch: list[SensorReading] = []
            item = self._queue.get()
            got = 1
            if item is None:
                stopping = True
            else:
                batch.append(item)
                # No waiting for more: what queued while the last batch was being written forms the next
                # batch by itself, so a busy ingest writes few large transactions and a quiet one adds no delay.
                while len(batch) < 2000:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    got += 1
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
            try:
                if batch:
                    self._store_batch(batch)
            except Exception as exc:  # disk full, a bug: counted and said, the ingest keeps going
                with self._lock:
                    self.store_errors += len(batch)
                    self.last_error = str(exc)
                log.error("could not store %d sensor readings: %s", len(batch), exc)
            finally:
                for _ in range(got):
                    self._queue.task_done()

    def _store_batch(self, batch: list[SensorReading]) -> None:
        run = self.run
        assert run is not None, "start() opens the sensors run"
        rows = [(SENSOR, run.id, r.device, r.ts - run.origin, r.ts - run.origin, r.ts, r.ts, "",
                 json.dumps({"quantity": r.quantity, "value": r.value, "unit": r.unit, "seq": r.seq,
                             **({"late": True} if r.late else {}), **({"demo": True} if r.demo else {})}))
                for r in batch]
        records = self.store.records.append(rows)
        alerts: list[SensorAlert] = []
        stored = [replace(r, record=rec.seq) for r, rec in zip(batch, records)]
        with self._lock:
            self.stored += len(stored)
            for r in stored:
                st = self.series.get((r.device, r.quantity))
                if st is None or st.unit != r.unit:
                    st = self.series[(r.device, r.quantity)] = SeriesState(r.device, r.quantity, r.unit, demo=r.demo)
                st.count += 1
                if not r.late:
                    st.last_value, st.last_ts = r.value, r.ts
                    alerts += self.rules.evaluate(r)
        for r in stored:
            self.bus.publish(r)
        for alert in alerts:
            self._raise(alert, run)

    def _raise(self, alert: SensorAlert, run: Any) -> None:
        row = (ALERT, run.id, alert.device, alert.ts - run.origin, alert.ts - run.origin, alert.ts, alert.ts,
               alert.text, json.dumps({"source": "sensors", **{k: v for k, v in alert.to_json().items()
                                                               if k not in ("text", "record")}}))
        (record,) = self.store.records.append([row])
        alert = replace(alert, record=record.seq)
        self.rules.stored(alert)
        log.warning("sensor alert %s: %s", alert.state, alert.text)
        self.bus.publish(alert)

    # -- reading --------------------------------------------------------------------

    def _load_series(self) -> None:
        """Counts and last values of what earlier sessions stored, so the dashboard starts where it was."""
        for s in _stored(self.store):
            self.series[(s.device, s.quantity)] = s
            # A QoS 1 message redelivered after a restart must still be recognised as already stored.
            rows = self.store.db.read(
                "SELECT wall_start, json_extract(data, '$.seq'), json_extract(data, '$.value') FROM records"
                " WHERE type = ? AND stream = ? AND json_extract(data, '$.quantity') = ? ORDER BY seq DESC LIMIT ?",
                (SENSOR, s.device, s.quantity, _DEDUP_WINDOW))
            order = self._order[(s.device, s.quantity)]
            for ts, seq, value in reversed(rows):
                order.recent[(ts, seq if seq is not None else value)] = None
                rank = (ts, seq if seq is not None else -1)
                order.newest = rank if order.newest is None or rank > order.newest else order.newest

    def summary(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.to_json() for _, s in sorted(self.series.items())]

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"accepted": self.accepted, "stored": self.stored, "rejected": dict(self.rejected),
                    "dropped_by_device": dict(self.dropped_by_device), "store_errors": self.store_errors,
                    "queued": self._queue.qsize(), "last_error": self.last_error}

    def active_alerts(self) -> list[dict[str, Any]]:
        return self.rules.active()


def _stored(store: Any) -> list[SeriesState]:
    db = store.db
    counts = db.read("SELECT stream, json_extract(data, '$.quantity') AS q, json_extract(data, '$.unit'),"
                     " COUNT(*), MAX(json_extract(data, '$.demo')) FROM records WHERE type = ?"
                     " GROUP BY stream, q ORDER BY stream, q", (SENSOR,))
    out = []
    for device, quantity, unit, count, demo in counts:
        last = db.read_one("SELECT json_extract(data, '$.value'), wall_start FROM records"
                           " WHERE type = ? AND stream = ? AND json_extract(data, '$.quantity') = ?"
                           " AND json_extract(data, '$.late') IS NULL ORDER BY wall_start DESC LIMIT 1",
                           (SENSOR, device, quantity))
        value, ts = last if last else (None, None)
        out.append(SeriesState(device, quantity, unit, count, value, ts, demo=bool(demo)))
    return out


def stored_series(store: Any) -> list[dict[str, Any]]:
    """The series earlier sessions stored (the dashboard when sensor ingest is off)."""
    return [s.to_json() for s in _stored(store)]
