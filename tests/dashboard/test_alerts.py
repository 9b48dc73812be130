"""Alerts: a stream down, low disk, a lost sync link; raised and cleared with hysteresis, served at /api/alerts
and shown in the live page's status banner."""

from __future__ import annotations

import time

import pytest

from edge.runtime.alerts import AlertPolicy, Alerts, Snapshot
from edge.runtime.monitor import Monitor

GB = 10**9
FLOOR = 1 * GB


def snap(now: float, streams=(), free: int = 50 * GB, alarm: bool = False, sync=None) -> Snapshot:
    return Snapshot(now, [dict(s) for s in streams], free, FLOOR, alarm, sync)


def cam(state: str, message: str = "") -> dict:
    return {"name": "cam1", "state": state, "message": message}


def test_a_stream_down_is_raised_only_after_it_stays_down_and_cleared_only_after_it_stays_up():
    alerts = Alerts(AlertPolicy(stream_raise_after_s=10, clear_after_s=10))
    assert alerts.evaluate(snap(0, [cam("retrying", "connection refused")])) == ([], [])
    assert alerts.evaluate(snap(9, [cam("retrying", "connection refused")])) == ([], [])
    raised, _ = alerts.evaluate(snap(10, [cam("retrying", "connection refused")]))
    assert [a.key for a in raised] == ["stream_down:cam1"]
    assert "cam1" in raised[0].message and "connection refused" in raised[0].message
    assert raised[0].since == 0  # when it went down, not when the alert was raised

    # A camera that comes back for a moment and drops again does not clear and re-raise the alert.
    assert alerts.evaluate(snap(12, [cam("playing")])) == ([], [])
    assert alerts.evaluate(snap(15, [cam("retrying", "timeout")])) == ([], [])
    assert [a.message for a in alerts.active()] == ["Stream cam1 is down and the box keeps retrying: timeout"]
    assert alerts.evaluate(snap(16, [cam("playing")])) == ([], [])
    _, cleared = alerts.evaluate(snap(26, [cam("playing")]))
    assert [a.key for a in cleared] == ["stream_down:cam1"] and alerts.active() == []


def test_a_brief_drop_raises_nothing():
    alerts = Alerts(AlertPolicy(stream_raise_after_s=10))
    for t, state in [(0, "retrying"), (4, "retrying"), (6, "playing"), (8, "retrying"), (12, "playing")]:
        assert alerts.evaluate(snap(t, [cam(state)])) == ([], [])


def test_a_removed_stream_clears_its_alert_at_once():
    alerts = Alerts(AlertPolicy(stream_raise_after_s=0))
    alerts.evaluate(snap(0, [cam("failed", "no such device")]))
    assert alerts.active()[0].message == "Stream cam1 failed: no such device"
    _, cleared = alerts.evaluate(snap(1, []))
    assert [a.key for a in cleared] == ["stream_down:cam1"] and alerts.active() == []


def test_low_disk_raises_below_the_floor_and_clears_only_well_above_it():
    alerts = Alerts(AlertPolicy(clear_after_s=5, disk_clear_margin=0.1))
    raised, _ = alerts.evaluate(snap(0, free=FLOOR - 1))
    assert [a.kind for a in raised] == ["disk_low"] and "Disk low" in raised[0].message
    # Back just above the floor (within the margin): a disk hovering at its floor keeps one alert.
    assert alerts.evaluate(snap(1, free=FLOOR + FLOOR // 20)) == ([], [])
    assert alerts.evaluate(snap(30, free=FLOOR + FLOOR // 20)) == ([], [])
    assert alerts.evaluate(snap(31, free=2 * FLOOR)) == ([], [])
    _, cleared = alerts.evaluate(snap(36, free=2 * FLOOR))
    assert [a.kind for a in cleared] == ["disk_low"]


def test_the_disk_alarm_says_what_to_do():
    alerts = Alerts()
    alerts.evaluate(snap(0, free=FLOOR // 2, alarm=True))
    assert "Free space or sync now" in alerts.active()[0].message


def test_a_lost_sync_link_is_raised_after_a_minute_and_an_unpaired_box_never_alerts():
    alerts = Alerts(AlertPolicy(sync_raise_after_s=60))
    down = {"state": "down", "last_error": "center tcp://10.0.0.9:5555 does not answer"}
    assert alerts.evaluate(snap(0, sync=down)) == ([], [])
    raised, _ = alerts.evaluate(snap(60, sync=down))
    assert [a.kind for a in raised] == ["sync_lost"] and "does not answer" in raised[0].message
    assert alerts.evaluate(snap(61, sync={"state": "up"})) == ([], [])
    unpaired = Alerts(AlertPolicy(sync_raise_after_s=0))
    assert unpaired.evaluate(snap(1000, sync=None)) == ([], [])


CAMERA = "rtsp://127.0.0.1:9/cam"  # nothing listens on port 9: the stream retries (or fails) with a reason


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("condition not met in time")


def test_a_real_stream_that_cannot_connect_raises_an_alert_in_the_api_banner_and_event_log(client, box):
    monitor = Monitor.of(box)
    monitor.alerts.policy.stream_raise_after_s = 0  # this test is about the path, the hysteresis is tested above
    assert client.post("/api/streams", json={"name": "cam9", "source": CAMERA}).status_code == 201
    wait_for(lambda: box.supervisor.streams()[0].state in ("retrying", "failed"))
    monitor.look()

    body = client.get("/api/alerts").json()
    assert body["ok"] is False
    (alert,) = body["alerts"]
    assert alert["kind"] == "stream_down" and alert["stream"] == "cam9"
    assert {p["key"]: p["ok"] for p in body["parts"]} == {"box": True, "streams": False, "sync": True, "disk": True}
    assert "cam9" in next(p["text"] for p in body["parts"] if p["key"] == "streams")
    logged = client.get("/api/events", params={"kind": "alert"}).json()["events"]
    assert logged[0]["level"] == "alert" and "cam9" in logged[0]["message"]

    # Removing the stream ends its alert.
    assert client.delete("/api/streams/cam9").status_code == 200
    monitor.look()
    body = client.get("/api/alerts").json()
    assert body["ok"] is True and body["alerts"] == []
    assert "Resolved" in client.get("/api/events", params={"kind": "alert"}).json()["events"][0]["message"]


def test_alerts_need_a_login(anon):
    assert anon.get("/api/alerts").status_code == 401
