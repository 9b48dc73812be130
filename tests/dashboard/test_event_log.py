"""The event log: stream up/down, uploads, syncs and alerts, kept in the store across restarts,
served at /api/events and shown on the events page."""

from __future__ import annotations

import time

import pytest

from edge.runtime.event_log import EventLog
from edge.runtime.monitor import Monitor
from edge.store import AssetStore
from tests.dashboard.conftest import png_bytes, write_silence


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail("condition not met in time")


def test_events_survive_a_restart_of_the_store(tmp_path):
    with AssetStore(tmp_path / "store") as store:
        log = EventLog(store)
        log.add("stream", "Stream cam1 is playing", stream="cam1")
        log.add("alert", "Disk low", level="alert")
    with AssetStore(tmp_path / "store") as store:
        events = EventLog(store).recent()
    assert [(e.kind, e.level, e.message) for e in events] == [("alert", "alert", "Disk low"),
                                                              ("stream", "info", "Stream cam1 is playing")]


def test_only_the_newest_events_are_kept(tmp_path):
    with AssetStore(tmp_path / "store") as store:
        log = EventLog(store)
        for i in range(12):
            log.add("stream", f"Stream cam1 flapped {i}")
        assert log.prune(keep=5) == 7
        assert [e.message for e in log.recent()] == [f"Stream cam1 flapped {i}" for i in range(11, 6, -1)]


def test_an_unknown_kind_is_refused(tmp_path):
    with AssetStore(tmp_path / "store") as store, pytest.raises(ValueError, match="not one of"):
        EventLog(store).add("gossip", "nothing")


def test_a_stream_starting_and_being_removed_is_logged(client, box):
    monitor = Monitor.of(box)
    media = box.data_dir / "media"
    media.mkdir()
    clip = write_silence(media / "quiet.wav", 30)
    assert client.post("/api/streams", json={"name": "hall", "source": str(clip)}).status_code == 201
    wait_for(lambda: box.supervisor.streams()[0].state == "playing")
    monitor.look()
    assert client.delete("/api/streams/hall").status_code == 200
    monitor.look()
    messages = [e["message"] for e in client.get("/api/events", params={"kind": "stream"}).json()["events"]]
    assert "Stream hall is playing" in messages
    assert messages[0] in ("Stream hall was removed", "Stream hall was stopped")


def test_uploads_are_logged_with_who_sent_them(client):
    response = client.post("/api/uploads", files={"file": ("scene.png", png_bytes(), "image/png")},
                           data={"kind": "upload"})
    assert response.status_code == 201
    (event,) = client.get("/api/events", params={"kind": "upload"}).json()["events"]
    assert event["message"].startswith("admin uploaded scene.png")
    assert event["data"]["asset_id"] == response.json()["id"]


def test_assets_reaching_the_newsroom_are_logged(client, box):
    monitor = Monitor.of(box)
    monitor.look()
    asset = box.store.add_bytes(b"caption text\n", kind="note", name="n.txt", mime="text/plain")
    box.store.mark_synced(asset.id)  # what the syncer does once the center holds it durably
    monitor.look()
    (event,) = client.get("/api/events", params={"kind": "sync"}).json()["events"]
    assert event["message"] == "1 asset reached the newsroom"


def test_the_events_page_lists_them_newest_first_and_filters_by_kind(client, box):
    log = EventLog(box.store)
    log.add("upload", "admin uploaded a.png")
    log.add("alert", "Stream cam1 is down <script>", level="alert", stream="cam1")
    page = client.get("/events")
    assert page.status_code == 200
    assert page.text.index("Stream cam1 is down") < page.text.index("admin uploaded a.png")
    assert "&lt;script&gt;" in page.text and "<script>" not in page.text.split("<main>")[1]
    only_uploads = client.get("/events", params={"kind": "upload"}).text
    assert "admin uploaded a.png" in only_uploads and "Stream cam1 is down" not in only_uploads


def test_events_page_through_with_before(client, box):
    log = EventLog(box.store)
    for i in range(5):
        log.add("box", f"event {i}")
    first = client.get("/api/events", params={"limit": 2}).json()
    assert [e["message"] for e in first["events"]] == ["event 4", "event 3"]
    second = client.get("/api/events", params={"limit": 2, "before": first["next_before"]}).json()
    assert [e["message"] for e in second["events"]] == ["event 2", "event 1"]


def test_events_need_a_login(anon):
    assert anon.get("/api/events").status_code == 401
