"""Streams in a running box: captions stored, failures isolated, the list remembered."""

from __future__ import annotations

import json
import time

import pytest

from edge.config import BoxConfig, StreamConfig
from edge.runtime.box import Box
from edge.store import DiskFullError
from tests.conftest_media import write_garbage

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def box(tmp_path, speech_models, monkeypatch):
    # The models are already loaded once for the session; reuse them.
    monkeypatch.setattr("edge.runtime.box.SpeechModels.load", lambda profile: speech_models)
    b = Box.open(tmp_path / "box", BoxConfig(), "x86-cpu")
    yield b
    b.close()


def test_a_stream_stores_its_finals_and_leaves_a_caption_track(box, news_clip):
    wav, _ = news_clip
    box.supervisor.add_stream("cam1", str(wav))
    wait_for(lambda: box.supervisor.streams()[0].state == "ended")
    finals = box.store.captions.read(stream="cam1")
    assert len(finals) >= 4 and all(c["type"] == "final" for c in finals)
    kinds = {a.kind: a for a in box.store.list(stream="cam1")}
    assert kinds["caption_track"].mime == "text/vtt"
    assert box.store.content_path(kinds["caption_track"].id).read_text().startswith("WEBVTT")
    assert kinds["transcript"].provenance["model"] == "whisper-tiny-en"


def test_a_failing_stream_leaves_the_others_running(box, news_clip, tmp_path):
    wav, _ = news_clip
    box.supervisor.add_stream("good", str(wav))
    box.supervisor.add_stream("bad", str(write_garbage(tmp_path / "broken.mp4")))
    wait_for(lambda: {h.name: h.state for h in box.supervisor.streams()}.get("bad") == "failed")
    bad = next(h for h in box.supervisor.streams() if h.name == "bad")
    assert "broken.mp4" in bad.message
    wait_for(lambda: len(box.store.captions.read(stream="good")) >= 1)
    assert next(h for h in box.supervisor.streams() if h.name == "good").state in {"playing", "ended"}


def test_streams_added_at_run_time_come_back_after_a_restart(box, news_clip, tmp_path, speech_models):
    wav, _ = news_clip
    box.supervisor.add_stream("cam2", str(wav))
    assert json.loads((box.data_dir / "streams.json").read_text())["streams"] == {"cam2": str(wav)}
    box.close()
    again = Box.open(box.data_dir, BoxConfig(streams=[StreamConfig(name="cfg", source=str(wav))]), "x86-cpu")
    try:
        again.start_configured_streams()
        assert {h.name for h in again.supervisor.streams()} == {"cfg", "cam2"}
        again.supervisor.remove_stream("cam2")
        assert "cam2" not in json.loads((again.data_dir / "streams.json").read_text())["streams"]
    finally:
        again.close()


def test_a_full_disk_stops_storing_captions_but_not_showing_them(box, news_clip, monkeypatch):
    wav, _ = news_clip

    def full(events, **kw):
        raise DiskFullError("refusing to write 120 bytes: only 1 MB free", "free space")

    monkeypatch.setattr(box.store.captions, "append", full)
    seen = []
    box.bus.publish = seen.append  # what the dashboard would receive
    box.supervisor.add_stream("cam3", str(wav))
    wait_for(lambda: any(e.get("type") == "final" for e in seen))
    health = box.supervisor.streams()[0]
    assert health.state in {"playing", "ended"} and health.message.startswith("disk full")
