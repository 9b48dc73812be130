"""Streams can be added and removed over the API; captions come from the store's log (history) and the
bus (live, over a WebSocket); /metrics speaks the Prometheus text format."""

from __future__ import annotations

import re
import time

import pytest

from edge.events import CaptionEvent
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


def test_captions_endpoint_returns_the_finals_in_the_store(client, box):
    box.store.captions.append([_final("cam1", "First line.", 0.0, 2.0), _final("cam1", "Second line.", 2.5, 4.0),
                               _final("cam2", "Other camera.", 1.0, 3.0)])
    everything = client.get("/api/captions").json()["captions"]
    assert [c["text"] for c in everything] == ["First line.", "Other camera.", "Second line."]
    assert everything[0] == {"id": "cam1:1", "stream": "cam1", "text": "First line.", "start": 0.0, "end": 2.0,
                             "type": "final"}

    cam1 = client.get("/api/captions", params={"stream": "cam1"}).json()["captions"]
    assert [c["id"] for c in cam1] == ["cam1:1", "cam1:2"]
    # `since` keeps captions that end after it: pass the last end you have to get what came next.
    after = client.get("/api/captions", params={"stream": "cam1", "since": 2.0}).json()["captions"]
    assert [c["text"] for c in after] == ["Second line."]
    newest = client.get("/api/captions", params={"limit": 1}).json()["captions"]
    assert [c["text"] for c in newest] == ["Second line."]


def test_captions_for_an_unusable_stream_name_is_422(client):
    assert client.get("/api/captions", params={"stream": "../etc"}).status_code == 422


def test_websocket_pushes_bus_events_live(client, box):
    with client.websocket_connect("/ws/captions") as ws:
        hello = ws.receive_json()
        assert hello == {"kind": "hello", "streams": []}
        partial = {"kind": "caption", "type": "partial", "stream": "cam1", "text": "the cit", "start": 0.0,
                   "end": 0.8, "emitted_at": time.time()}
        box.bus.publish(partial)
        box.bus.publish({**partial, "type": "final", "text": "The city council voted."})
        assert ws.receive_json() == partial
        assert ws.receive_json()["text"] == "The city council voted."


def test_websocket_can_follow_one_stream(client, box):
    with client.websocket_connect("/ws/captions?stream=cam2") as ws:
        ws.receive_json()
        box.bus.publish({"kind": "caption", "type": "final", "stream": "cam1", "text": "not this", "start": 0,
                         "end": 1, "emitted_at": 0})
        box.bus.publish({"kind": "stream", "name": "cam2", "state": "playing"})
        box.bus.publish({"kind": "caption", "type": "final", "stream": "cam2", "text": "this", "start": 0,
                         "end": 1, "emitted_at": 0})
        assert ws.receive_json() == {"kind": "stream", "name": "cam2", "state": "playing"}
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
