"""Streams can be added and removed over the API; captions come from the store's log (history) and the
bus (live, over a WebSocket); /metrics speaks the Prometheus text format."""

from __future__ import annotations

import re
import time

import pytest

from edge.events import CaptionEvent, StreamState
from tests.dashboard.conftest import write_silence


def _final(stream: str, text: str, start: float, end: float) -> CaptionEvent:
    return CaptionEvent("final", stream, text, start, end, emitted_at=time.time())


@pytest.fixture
def quiet_wav(box):
    media = box.data_dir / "media"  # the only place file sources are accepted from
    media.mkdir(parents=True, exist_ok=True)
    return write_silence(media / "quiet.wav", 4.0)  # played at real-time pace: running for 4 s


def test_add_list_and_remove_a_stream(client, quiet_wav):
    added = client.post("/api/streams", json={"name": "cam1", "source": str(quiet_wav)})
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "cam1" and added.json()["source"] == str(quiet_wav)

    listed = client.get("/api/streams").json()["streams"]
    assert [s["name"] for s in listed] == ["cam1"]
    assert {"state", "retries", "finals", "message", "last_caption_at"} <= listed[0].keys()

    removed = client.delete("/api/streams/cam1")
    assert removed.status_code == 200
    assert removed.json()["state"] in {"stopped", "ended"}
    assert client.get("/api/streams").json()["streams"] == []


def test_a_running_name_cannot_be_added_twice(client, quiet_wav):
    camera = "rtsp://127.0.0.1:9/cam"  # not answering: retried, so still running when added again
    assert client.post("/api/streams", json={"name": "cam1", "source": camera}).status_code == 201
    again = client.post("/api/streams", json={"name": "cam1", "source": str(quiet_wav)})
    assert again.status_code == 409
    assert "already running" in again.json()["detail"]


def test_removing_an_unknown_stream_is_404(client):
    response = client.delete("/api/streams/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "bad name!", "source": "rtsp://cam/1"}, "letters, digits"),
    ({"name": "cam1", "source": "   "}, "give an rtsp:// URL"),
    ({"name": "cam1", "source": "/no/such/clip.wav"}, "cannot use this source"),
    ({"name": "cam1"}, "Field required"),
])
def test_invalid_streams_get_422_saying_why(client, body, message):
    response = client.post("/api/streams", json=body)
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


def test_captions_endpoint_pages_one_run_by_sequence_number(client, box):
    records = box.store.records
    cam1 = records.open_run("cam1", "rtsp://cam1/s", live=True)
    records.append_captions(cam1, [_final("cam1", "First line.", 0.0, 2.0), _final("cam1", "Second line.", 2.5, 4.0)])
    cam2 = records.open_run("cam2", "rtsp://cam2/s", live=True)
    records.append_captions(cam2, [_final("cam2", "Other camera.", 1.0, 3.0)])

    page = client.get("/api/captions", params={"stream": "cam1"}).json()
    assert page["run"] == cam1.id and [c["text"] for c in page["captions"]] == ["First line.", "Second line."]
    first = page["captions"][0]
    assert first == {"seq": first["seq"], "run": cam1.id, "stream": "cam1", "text": "First line.", "start": 0.0,
                     "end": 2.0, "wall_start": first["wall_start"], "type": "final",
                     "marked": False}
    assert abs(first["wall_start"] - cam1.origin) < 1e-6  # stream second 0 of the run, on the wall clock
    # `after` is the last seq you have: the next page has what came after it.
    after = client.get("/api/captions", params={"stream": "cam1", "after": first["seq"]}).json()
    assert [c["text"] for c in after["captions"]] == ["Second line."]
    assert after["next_after"] == after["captions"][-1]["seq"]
    # Without a stream, the newest run of any stream; never two runs in one answer.
    newest = client.get("/api/captions").json()
    assert newest["run"] == cam2.id and [c["text"] for c in newest["captions"]] == ["Other camera."]
    assert [c["text"] for c in client.get("/api/captions", params={"stream": "cam1", "limit": 1}).json()["captions"]] \
        == ["Second line."]


def test_a_restarted_stream_starts_a_new_run_and_the_runs_never_mix(client, box):
    records = box.store.records
    first = records.open_run("cam1", "rtsp://cam1/s", live=True)
    records.append_captions(first, [_final("cam1", "Before the restart.", 5.0, 7.0)])
    records.close_run(first.id, "stopped")
    second = records.open_run("cam1", "rtsp://cam1/s", live=True)
    records.append_captions(second, [_final("cam1", "After the restart.", 0.5, 2.0)])  # times start at 0 again
    assert [c["text"] for c in client.get("/api/captions", params={"stream": "cam1"}).json()["captions"]] \
        == ["After the restart."]
    old = client.get("/api/captions", params={"run": first.id}).json()
    assert [c["text"] for c in old["captions"]] == ["Before the restart."]
    runs = client.get("/api/runs", params={"stream": "cam1"}).json()["runs"]
    assert [r["id"] for r in runs] == [second.id, first.id] and runs[1]["close_reason"] == "stopped"
    assert client.get("/api/captions", params={"run": "../x"}).status_code == 422


def test_captions_for_an_unusable_stream_name_is_422(client):
    assert client.get("/api/captions", params={"stream": "../etc"}).status_code == 422


def test_websocket_pushes_bus_events_live(client, box):
    with client.websocket_connect("/ws/captions") as ws:
        hello = ws.receive_json()
        assert hello == {"kind": "hello", "streams": []}
        partial = CaptionEvent("partial", "cam1", "the cit", 0.0, 0.8, time.time())
        box.bus.publish(partial)
        box.bus.publish(CaptionEvent("final", "cam1", "The city council voted.", 0.0, 1.9, time.time(),
                                     run="0" * 26, seq=7))
        assert ws.receive_json() == {"kind": "caption", **partial.to_json()}
        final = ws.receive_json()
        assert final["text"] == "The city council voted." and final["seq"] == 7 and final["run"] == "0" * 26


def test_the_bus_carries_typed_events_only(box):
    with pytest.raises(TypeError):
        box.bus.publish({"kind": "caption", "text": "an untyped dict"})


def test_websocket_can_follow_one_stream(client, box):
    with client.websocket_connect("/ws/captions?stream=cam2") as ws:
        ws.receive_json()
        box.bus.publish(CaptionEvent("final", "cam1", "not this", 0, 1, 0))
        box.bus.publish(StreamState("cam2", "rtsp://cam2/s", "playing", "", 0.0, None, 0, 0, None))
        box.bus.publish(CaptionEvent("final", "cam2", "this", 0, 1, 0))
        state = ws.receive_json()
        assert state["kind"] == "stream" and state["name"] == "cam2" and state["state"] == "playing"
        assert ws.receive_json()["text"] == "this"


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def _parse_metrics(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            assert re.match(r"^# (HELP|TYPE) \w+ ", line) or not line, line
            continue
        match = METRIC_LINE.match(line)
        assert match, f"not exposition format: {line!r}"
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return samples


def test_metrics_are_prometheus_text(client, box, quiet_wav):
    box.store.add_bytes(b"x", kind="note", name="n.txt", mime="text/plain")
    client.post("/api/streams", json={"name": "cam1", "source": str(quiet_wav)})
    with client.websocket_connect("/ws/captions") as ws:
        ws.receive_json()
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _parse_metrics(response.text)
    assert samples["edge_assets_total"] == 1
    assert samples["edge_ws_clients"] == 1
    assert samples["edge_disk_free_bytes"] > 0
    assert 0 <= samples["edge_cpu_percent"] <= 100 * 64
    assert samples['edge_stream_finals_total{stream="cam1"}'] == 0
    assert samples['edge_stream_up{stream="cam1"}'] in (0, 1)
    assert "# TYPE edge_stream_finals_total counter" in response.text


def test_status_is_the_box_health(client, box):
    status = client.get("/api/status").json()
    assert status["box_id"] == box.config.box_id
    assert {"cpu_percent", "memory", "disk", "profile", "models", "streams", "temperature_c"} <= status.keys()
