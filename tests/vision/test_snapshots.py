"""The camera snapshot for the live page, and vision inside a running box (real supervisor, store, app)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from edge.config import BoxConfig
from edge.dashboard.app import create_app
from edge.profiles import load_profile
from edge.runtime.box import Box
from edge.runtime.bus import EventBus
from edge.runtime.supervisor import Supervisor
from edge.store import AssetStore
from edge.store.records import OCR
from edge.vision.images import read_image
from edge.vision.ocr import SharedOcr
from edge.vision.privacy import FaceBlurrer
from edge.vision.service import Vision
from edge.vision.snapshots import SnapshotBoard
from tests.conftest_media import make_audio_only
from tests.dashboard.conftest import PASSWORD, NoSpeechModels, cheap_password_hashing  # noqa: F401


@pytest.fixture
def vision_box(tmp_path: Path, ocr_engine):
    """A box as Box.open builds it (captions off: no speech models), its vision sharing the test's OCR."""
    models = NoSpeechModels(load_profile("x86-cpu"))
    store = AssetStore(tmp_path / "store", disk_floor_bytes=0, reserve_bytes=0)
    vision = Vision(models.profile.vision)
    vision.ocr = SharedOcr(engine=ocr_engine)
    supervisor = Supervisor(models, store, EventBus(), state_file=tmp_path / "streams.json", vision=vision)
    box = Box(tmp_path, BoxConfig(), models.profile, store, supervisor._bus, models, supervisor)
    yield box
    box.close()


@pytest.fixture
def client(vision_box) -> TestClient:
    c = TestClient(create_app(vision_box, admin_password=PASSWORD))
    assert c.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    return c


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_camera_streams_its_latest_frame_as_jpeg(vision_box, client, av_clip):
    vision_box.supervisor.add_stream("cam", str(av_clip), remember=False, live=True)
    response = wait_for(lambda: (r := client.get("/api/streams/cam/snapshot.jpg")).status_code == 200 and r)
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert read_image(response.content).shape == (360, 640, 3)
    assert float(response.headers["x-stream-time"]) >= 0
    vision_box.supervisor.remove_stream("cam")
    assert client.get("/api/streams/cam/snapshot.jpg").status_code == 404  # a stopped camera shows no stale picture


def test_no_snapshot_without_video_or_stream_and_none_for_anonymous(vision_box, client, av_clip, tmp_path):
    mic = make_audio_only(tmp_path / "mic.ogg", av_clip.with_suffix(".wav"))
    vision_box.supervisor.add_stream("mic", str(mic), remember=False, live=True)
    missing = client.get("/api/streams/mic/snapshot.jpg")
    assert missing.status_code == 404 and "has no picture" in missing.json()["detail"]
    unknown = client.get("/api/streams/nope/snapshot.jpg")
    assert unknown.status_code == 404 and "no stream named" in unknown.json()["detail"]
    assert TestClient(client.app).get("/api/streams/mic/snapshot.jpg").status_code == 401
    vision_box.supervisor.remove_stream("mic")


def test_a_running_stream_stores_its_keyframes_and_screen_text(vision_box, av_clip):
    health = vision_box.supervisor.add_stream("cam", str(av_clip), remember=False, live=True)
    wait_for(lambda: health.state == "ended", timeout=60)
    store = vision_box.store
    keyframes = store.list(kind="keyframe", newest_first=False)
    assert len(keyframes) == 3 and {k.run for k in keyframes} == {health.run}
    texts = {r.text for r in store.records.read(run=health.run, type=OCR)}
    assert {"BREAKING NEWS", "ANNA BERG", "Mayor of Ashford"} <= texts
    assert [a.id for a in store.search("breaking news") if a.kind == "keyframe"] == [keyframes[0].id]


def test_a_blurring_streams_snapshot_has_the_face_pixelated():
    import skimage.data as skdata

    photo = np.ascontiguousarray(np.pad(skdata.astronaut(), ((0, 0), (64, 64), (0, 0))))  # 640 wide, like a frame
    plain, blurred = SnapshotBoard(), SnapshotBoard()
    plain.put("cam", photo, 1.0)
    blurred.put("cam", photo, 1.0, FaceBlurrer())
    face = (slice(80, 150), slice(64 + 190, 64 + 260))
    clear = read_image(plain.get("cam").jpeg)[face].astype(int)
    hidden = read_image(blurred.get("cam").jpeg)[face].astype(int)
    # JPEG at quality 80 moves pixels by a few levels; pixelation moves a face's by tens.
    assert np.abs(clear - photo[face]).mean() < 6
    assert np.abs(hidden - photo[face]).mean() > 12
