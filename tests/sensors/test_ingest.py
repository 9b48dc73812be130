"""Sensor readings over a real mosquitto: what is stored, what is refused and why, floods, broker restarts."""

from __future__ import annotations

import json
import time

import pytest

from edge.store.records import ALERT, SENSOR
from tests.sync.conftest import wait_for


def _reading(value=10.0, unit="km/h", ts=None, **extra):
    return {"value": value, "unit": unit, "ts": time.time() if ts is None else ts, **extra}


def test_readings_are_stored_in_one_unit_per_dimension(make_site):
    site = make_site()
    now = time.time()
    site.send("sensors/ws-1/wind_speed", _reading(31.07, "mph", now - 2, seq=1))
    site.send("sensors/ws-1/temperature", _reading(68, "°F", now - 1))
    site.send("sensors/ws-1/pressure", {"value": 29.92, "unit": "inHg",
                                        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})
    site.send("sensors/sm-1/noise", _reading(82.5, "dB", now))
    site.settle(4)

    records = site.store.records.read(type=SENSOR)
    by = {(r.stream, r.data["quantity"]): r for r in records}
    assert by[("ws-1", "wind_speed")].data["unit"] == "km/h"
    # 31.07 mph is 50.0 km/h (1 mph = 1.609344 km/h exactly); rounding to 0.01 covers the sender's 4 digits.
    assert by[("ws-1", "wind_speed")].data["value"] == pytest.approx(50.0, abs=0.01)
    assert by[("ws-1", "temperature")].data == {"quantity": "temperature", "value": 20.0, "unit": "°C", "seq": None}
    assert by[("ws-1", "pressure")].data["value"] == pytest.approx(1013.2, abs=0.1)  # inHg -> hPa
    assert by[("ws-1", "wind_speed")].wall_start == pytest.approx(now - 2, abs=1e-3)  # the device's time, not ours
    summary = {(s["device"], s["quantity"]): s for s in site.ingest.summary()}
    assert summary[("sm-1", "noise")] == {"device": "sm-1", "quantity": "noise", "unit": "dB", "count": 1,
                                          "last": {"value": 82.5, "ts": round(now, 3)}}
    assert site.answers == []


BAD = [
    ("malformed JSON", "sensors/ws-1/wind_speed", b'{"value": 12, "unit": ', "json", "not JSON"),
    ("missing unit", "sensors/ws-1/wind_speed", {"value": 12, "ts": 0}, "schema", "field 'unit' is missing"),
    ("unknown unit", "sensors/ws-1/wind_speed", {"value": 12, "unit": "furlongs/fortnight", "ts": 0}, "unit",
     "unknown unit 'furlongs/fortnight'; known units:"),
    ("a string value", "sensors/ws-1/wind_speed", {"value": "12", "unit": "km/h", "ts": 0}, "schema",
     "'value' must be a finite number"),
    ("a boolean value", "sensors/ws-1/wind_speed", {"value": True, "unit": "km/h", "ts": 0}, "schema",
     "'value' must be a finite number"),
    ("NaN", "sensors/ws-1/wind_speed", b'{"value": NaN, "unit": "km/h", "ts": 0}', "schema", "value"),
    ("a time in the future", "sensors/ws-1/wind_speed", {"value": 1, "unit": "km/h", "ts": "+1d"}, "timestamp",
     "in the future"),
    ("a time long past", "sensors/ws-1/wind_speed", {"value": 1, "unit": "km/h", "ts": "-30d"}, "timestamp",
     "days old"),
    ("a time without offset", "sensors/ws-1/wind_speed", {"value": 1, "unit": "km/h", "ts": "2026-11-30T14:03:00"},
     "timestamp", "no UTC offset"),
    ("an extra field", "sensors/ws-1/wind_speed", {"value": 1, "unit": "km/h", "ts": 0, "battery": 3}, "schema",
     "battery"),
    ("a topic outside the scheme", "sensors/ws-1/wind/gust", {"value": 1, "unit": "km/h", "ts": 0}, "topic",
     "sensors/<device_id>/<quantity>"),
]


@pytest.mark.parametrize(("what", "topic", "payload", "reason", "says"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_message_is_refused_with_its_reason_on_the_errors_topic(make_site, what, topic, payload, reason, says):
    site = make_site()
    if isinstance(payload, dict):
        ts = payload.get("ts")
        day = 86400
        payload = {**payload, "ts": {"+1d": time.time() + day, "-30d": time.time() - 30 * day, 0: time.time()}.get(ts, ts)}
    site.send(topic, payload)
    site.send("sensors/ws-1/wind_speed", _reading(12.0))  # the ingest goes on after it
    site.settle(2)

    answers = wait_for(lambda: site.answers_for(reason), 5, what=f"an answer on sensors/ws-1/errors ({what})")
    assert answers[0]["topic"] == topic and says in answers[0]["error"], answers[0]
    assert site.answers[0][0] == "sensors/ws-1/errors"
    assert site.ingest.stats()["rejected"][reason] == 1
    assert [r.data["value"] for r in site.store.records.read(type=SENSOR)] == [12.0]


def test_a_topic_naming_no_device_is_counted_but_not_answered(make_site):
    site = make_site()
    site.send("sensors/bad device!/x", _reading())
    site.send("sensors", _reading())
    site.settle(2)
    assert site.ingest.stats()["rejected"]["topic"] == 2
    time.sleep(0.3)
    assert site.answers == []


def test_duplicates_are_dropped_and_late_readings_kept_without_moving_last(make_site):
    site = make_site(rules=[{"quantity": "wind_speed", "above": 50, "unit": "km/h"}])
    t = time.time()
    site.send("sensors/ws-1/wind_speed", _reading(20, ts=t, seq=5))
    site.send("sensors/ws-1/wind_speed", _reading(20, ts=t, seq=5))  # re-sent: same ts and seq
    site.send("sensors/ws-1/wind_speed", _reading(70, ts=t - 60, seq=4))  # an old one arriving late
    site.settle(3)

    stored = site.store.records.read(type=SENSOR)
    assert [(r.data["seq"], r.data.get("late", False)) for r in stored] == [(5, False), (4, True)]
    assert site.ingest.stats()["rejected"]["duplicate"] == 1
    (series,) = site.ingest.summary()
    assert series["count"] == 2 and series["last"]["value"] == 20  # the late 70 is history, not the present
    assert site.store.records.read(type=ALERT) == []  # and raises nothing


def test_a_flooding_device_is_limited_and_told_while_others_go_on(make_site):
    site = make_site(max_rate=5, burst=20)
    t = time.time()
    for i in range(200):
        site.device.publish("sensors/flood-1/noise", json.dumps(_reading(60, "dB", ts=t - 200 + i, seq=i)), qos=0)
    site.send("sensors/ws-1/wind_speed", _reading(10, seq=1))
    site.settle(201, timeout=20)

    stats = site.ingest.stats()
    flood = [r for r in site.store.records.read(type=SENSOR, limit=None) if r.stream == "flood-1"]
    # The burst, plus what the sustained rate refilled while 200 messages arrived (well under a second here).
    assert 20 <= len(flood) <= 60, len(flood)
    assert stats["rejected"]["rate"] == 200 - len(flood)
    assert stats["dropped_by_device"] == {"flood-1": 200 - len(flood)}
    reports = wait_for(lambda: site.answers_for("rate"), 5, what="a rate-limit report")
    assert len(reports) == 1 and "readings/s" in reports[0]["error"]  # one report, not one per message
    assert [r.stream for r in site.store.records.read(type=SENSOR, limit=None)].count("ws-1") == 1


def test_threshold_rules_raise_once_with_hysteresis_and_become_citable_facts(make_site):
    site = make_site(rules=[{"name": "high wind", "quantity": "wind_speed", "above": 50, "unit": "km/h",
                             "hysteresis": 5}])
    t = time.time() - 10
    for i, v in enumerate([40, 62, 49, 53, 44, 51]):
        site.send("sensors/ws-1/wind_speed", _reading(v, ts=t + i, seq=i))
    site.settle(6)

    alerts = site.store.records.read(type=ALERT)
    assert [(a.data["state"], a.data["value"]) for a in alerts] == [("raised", 62), ("cleared", 44), ("raised", 51)]
    assert alerts[0].text.startswith("Wind speed 62 km/h at ") and "(station ws-1)" in alerts[0].text
    assert alerts[0].stream == "ws-1" and alerts[0].wall_start == pytest.approx(t + 1, abs=1e-3)
    # Facts are searchable, like captions, so a draft can find and cite them.
    assert [r.seq for r in site.store.records.search("wind ws-1")][:1] in ([alerts[0].seq], [alerts[2].seq])
    assert [(a["state"], a["record"]) for a in site.ingest.active_alerts()] == [("raised", alerts[2].seq)]


def test_a_rule_in_other_units_compares_after_conversion(make_site):
    site = make_site(rules=[{"quantity": "temperature", "above": 95, "unit": "°F"}])
    site.send("sensors/ws-1/temperature", _reading(36, "°C"))  # 96.8 °F
    site.settle(1)
    (alert,) = site.store.records.read(type=ALERT)
    assert alert.data["unit"] == "°C" and "above the 35 °C limit" in alert.text


def test_a_broker_restart_loses_nothing_stored_and_ingest_resumes(make_site, broker):
    site = make_site()
    t = time.time() - 100
    for i in range(10):
        site.send("sensors/ws-1/wind_speed", _reading(i, ts=t + i, seq=i))
    site.settle(10)

    broker.stop()
    wait_for(lambda: not site.sub.connected, 10, what="the subscriber to notice the broker is gone")
    broker.start()  # same port, same persistence directory
    assert site.sub.wait_connected(20), "the subscriber did not reconnect"
    wait_for(site.device.is_connected, 20, what="the device to reconnect")
    for i in range(10, 20):
        site.send("sensors/ws-1/wind_speed", _reading(i, ts=t + i, seq=i))
    site.settle(20, timeout=20)

    assert [r.data["seq"] for r in site.store.records.read(type=SENSOR, limit=None)] == list(range(20))
    assert site.sub.connects >= 2


def test_a_reading_redelivered_after_a_restart_is_still_a_duplicate(make_site, tmp_path):
    from edge.config import SensorsConfig
    from edge.ingest.sensors import SensorIngest
    from edge.runtime.bus import EventBus

    site = make_site()
    t = time.time() - 5
    site.send("sensors/ws-1/wind_speed", _reading(12.5, ts=t, seq=7))
    site.send("sensors/ws-1/wind_speed", _reading(14.0, ts=t - 30))  # no seq: ts and value identify it
    site.settle(2)
    site.ingest.stop()  # the box stops; a new session starts on the same store

    again = SensorIngest(site.store, EventBus(), SensorsConfig())
    assert again.handle("sensors/ws-1/wind_speed", json.dumps(_reading(12.5, ts=t, seq=7)).encode()).reason == \
        "duplicate"
    assert again.handle("sensors/ws-1/wind_speed", json.dumps(_reading(14.0, ts=t - 30)).encode()).reason == \
        "duplicate"
    late = again.handle("sensors/ws-1/wind_speed", json.dumps(_reading(13.0, ts=t - 1, seq=6)).encode())
    assert late.late and not hasattr(late, "reason")
