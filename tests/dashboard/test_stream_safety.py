"""Streams added over the network: only sources the site allows, one answer for every refusal, camera
passwords never shown and kept owner-only, and on a full disk a change happens entirely or not at all."""

from __future__ import annotations

import errno
import http.server
import json
import os
import stat
import threading
import time

import pytest
from fastapi.testclient import TestClient

from edge.config import BoxConfig
from edge.dashboard.app import create_app
from edge.runtime.supervisor import Supervisor
from tests.dashboard.conftest import PASSWORD, build_box, write_silence

LOGIN = {"username": "admin", "password": PASSWORD}


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"AKIA-secret-role-credentials")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metadata_service():
    """A stand-in for a cloud metadata endpoint on the box's loopback: did the box fetch it?"""
    _Hits.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Hits.hits
    server.shutdown()
    server.server_close()


def _running(box) -> set[str]:
    return {t.name.removeprefix("stream-") for t in threading.enumerate() if t.name.startswith("stream-")}


def _saved(box) -> dict:
    path = box.data_dir / "streams.json"
    return json.loads(path.read_text())["streams"] if path.exists() else {}


REFUSED_SOURCES = [
    "/etc/passwd",  # exists, outside the media folder
    "/etc/no-such-file",  # missing: must read exactly like the one above
    "file:///etc/shadow",
    "{media}/../users.json",  # climbs out of the media folder
    "{media}/link-to-passwd",  # a link planted inside it
    "{media}/missing.wav",
    "udp://0.0.0.0:5000",
    "srt://10.0.0.5:9000",
    "gopher://10.0.0.5/1",
    "ftp://10.0.0.5/clip.wav",
]


@pytest.mark.parametrize("source", REFUSED_SOURCES)
def test_refused_sources_all_get_the_same_answer_and_nothing_runs_or_is_saved(client, box, source):
    media = box.data_dir / "media"
    media.mkdir(exist_ok=True)
    os.symlink("/etc/passwd", media / "link-to-passwd")
    response = client.post("/api/streams", json={"name": "probe", "source": source.format(media=media)})
    assert response.status_code == 422
    assert response.json() == {"detail": "cannot use this source (fix: use an rtsp:// camera URL, a capture "
                                          "device, or a file in the box's media folder)"}
    assert client.get("/api/streams").json()["streams"] == []
    assert _running(box) == set() and _saved(box) == {}


def test_an_http_source_is_refused_and_never_fetched(client, box, metadata_service):
    """Finding: the dashboard accepted http://127.0.0.1:18099/latest/meta-data/iam?x=1 and the box fetched it."""
    url, hits = metadata_service
    response = client.post("/api/streams", json={"name": "ssrf", "source": f"{url}/latest/meta-data/iam?x=1"})
    assert response.status_code == 422
    assert "cannot use this source" in response.json()["detail"]
    time.sleep(1.0)  # time enough for a started stream to have connected
    assert hits == []
    assert _saved(box) == {}


def test_http_sources_are_allowed_only_when_configured(tmp_path, no_models):
    box = build_box(tmp_path, no_models, BoxConfig(dashboard={"allow_http_sources": True}))
    try:
        c = TestClient(create_app(box, admin_password=PASSWORD))
        c.post("/api/login", json=LOGIN)
        # Port 9 (discard) on loopback: nothing answers, nothing is fetched.
        assert c.post("/api/streams", json={"name": "web", "source": "http://127.0.0.1:9/feed"}).status_code == 201
        assert c.delete("/api/streams/web").status_code == 200
    finally:
        box.close()


def test_files_in_a_configured_media_folder_are_accepted(tmp_path, no_models):
    clips = tmp_path / "clips"
    clips.mkdir()
    wav = write_silence(clips / "a.wav", 2.0)
    box = build_box(tmp_path / "box", no_models, BoxConfig(dashboard={"media_dirs": [str(clips)]}))
    try:
        c = TestClient(create_app(box, admin_password=PASSWORD))
        c.post("/api/login", json=LOGIN)
        assert c.post("/api/streams", json={"name": "a", "source": str(wav)}).status_code == 201
        assert f"<code>{clips}</code>" in c.get("/streams").text  # the crew is told where files go
        (box.data_dir / "media").mkdir()
        other = write_silence(box.data_dir / "media" / "b.wav", 2.0)  # not the configured folder
        assert c.post("/api/streams", json={"name": "b", "source": str(other)}).status_code == 422
    finally:
        box.close()


def test_camera_passwords_are_masked_and_the_stream_list_is_owner_only(client, box):
    """Finding: rtsp://user:pass@host was shown in /api/streams and saved in a 0644 streams.json."""
    source = "rtsp://crew:s3cret-pw@127.0.0.1:9/cam"
    (box.data_dir / "streams.json").write_text('{"streams": {}}')
    os.chmod(box.data_dir / "streams.json", 0o644)  # as an older box left it
    added = client.post("/api/streams", json={"name": "cam", "source": source})
    assert added.status_code == 201, added.text
    assert added.json()["source"] == "rtsp://crew:***@127.0.0.1:9/cam"
    deadline = time.monotonic() + 30
    while client.get("/api/streams").json()["streams"][0]["state"] != "retrying":  # the camera refused: the
        assert time.monotonic() < deadline, "the refused camera never showed in the stream's health"
        time.sleep(0.05)  # health message now names the source
    assert "127.0.0.1:9" in client.get("/api/streams").json()["streams"][0]["message"]
    for text in (client.get("/api/streams").text, client.get("/streams").text, client.get("/api/status").text,
                 added.text):
        assert "s3cret-pw" not in text
    listed = client.get("/api/streams").json()["streams"][0]
    assert listed["source"] == "rtsp://crew:***@127.0.0.1:9/cam"
    path = box.data_dir / "streams.json"
    assert _saved(box) == {"cam": source}  # the box needs it to reconnect after a restart...
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # ...and nobody else may read it


# -- a full disk ----------------------------------------------------------------------


@pytest.fixture
def full_disk(monkeypatch):
    """Writes of the stream list fail with ENOSPC after a partial temp file, as on a full disk."""
    from edge import durable

    real = durable.write_file_synced
    state = {"full": False}

    def write(path, payload, mode=0o644):
        if state["full"] and path.name.startswith("streams.json"):
            real(path, payload[: len(payload) // 2], mode)  # what fitted before the disk filled
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, payload, mode)

    monkeypatch.setattr(durable, "write_file_synced", write)
    return state


# A camera that is not answering: its stream keeps running (retrying) until removed.
CAMERA = "rtsp://127.0.0.1:9/cam"


def test_adding_a_stream_on_a_full_disk_is_507_and_changes_nothing(client, box, full_disk):
    """Finding: a bare 500 while the stream ran unsaved, and a 0-byte streams.json.tmp left behind."""
    assert client.post("/api/streams", json={"name": "cam0", "source": CAMERA}).status_code == 201
    before = (box.data_dir / "streams.json").read_bytes()
    full_disk["full"] = True

    response = client.post("/api/streams", json={"name": "cam1", "source": CAMERA})
    assert response.status_code == 507
    assert "not added" in response.json()["detail"] and "disk is full" in response.json()["detail"]
    assert [s["name"] for s in client.get("/api/streams").json()["streams"]] == ["cam0"]
    assert _running(box) == {"cam0"}
    assert (box.data_dir / "streams.json").read_bytes() == before
    assert not (box.data_dir / "streams.json.tmp").exists()
    # A restart brings back exactly what ran.
    assert Supervisor(box.models, box.store, box.bus, state_file=box.data_dir / "streams.json").saved_streams() \
        == {"cam0": CAMERA}


def test_removing_a_stream_on_a_full_disk_is_507_and_it_keeps_running(client, box, full_disk):
    """Finding: DELETE gave 500, the stream left the list but kept storing captions and came back at restart."""
    assert client.post("/api/streams", json={"name": "cam1", "source": CAMERA}).status_code == 201
    before = (box.data_dir / "streams.json").read_bytes()
    full_disk["full"] = True

    response = client.delete("/api/streams/cam1")
    assert response.status_code == 507
    assert "not removed" in response.json()["detail"] and "disk is full" in response.json()["detail"]
    assert [s["name"] for s in client.get("/api/streams").json()["streams"]] == ["cam1"]
    assert _running(box) == {"cam1"}
    assert (box.data_dir / "streams.json").read_bytes() == before
    assert not (box.data_dir / "streams.json.tmp").exists()

    full_disk["full"] = False  # space freed: the same request now works
    assert client.delete("/api/streams/cam1").status_code == 200
    assert _saved(box) == {}
    deadline = time.monotonic() + 10
    while _running(box) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(box) == set()


def test_a_saved_list_from_an_older_box_skips_sources_the_runtime_refuses(box):
    path = box.data_dir / "streams.json"
    path.write_text(json.dumps({"streams": {"cam": "rtsp://10.0.0.2/1", "u": "udp://0.0.0.0:5000",
                                            "g": "gopher://x/1"}}))
    assert box.supervisor.saved_streams() == {"cam": "rtsp://10.0.0.2/1"}
