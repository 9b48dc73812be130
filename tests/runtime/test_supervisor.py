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
    monkeypatch.setattr("edge.runtime.box.SpeechModels.load", lambda profile, scheduler=None: speech_models)
    b = Box.open(tmp_path / "box", BoxConfig(), "x86-cpu")
    yield b
    b.close()


def test_a_stream_stores_its_finals_and_leaves_a_caption_track(box, news_clip):
    wav, _ = news_clip
    box.supervisor.add_stream("cam1", str(wav))
    wait_for(lambda: box.supervisor.streams()[0].state == "ended")
    finals = box.store.records.read(stream="cam1")
    assert len(finals) >= 4 and all(c.type == "caption" for c in finals)
    (run,) = box.store.records.runs("cam1")
    assert {c.run for c in finals} == {run.id} and run.closed_at is not None and run.close_reason == "ended"
    kinds = {a.kind: a for a in box.store.list(stream="cam1")}
    assert kinds["caption_track"].run == run.id and kinds["caption_track"].meta["run"] == run.id
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
    wait_for(lambda: len(box.store.records.read(stream="good")) >= 1)
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

    def full(run, events):
        raise DiskFullError("refusing to write 120 bytes: only 1 MB free", "free space")

    monkeypatch.setattr(box.store.records, "append_captions", full)
    seen = []
    box.bus.publish = seen.append  # what the dashboard would receive
    box.supervisor.add_stream("cam3", str(wav))
    wait_for(lambda: any(getattr(e, "type", None) == "final" for e in seen))
    health = box.supervisor.streams()[0]
    assert health.state in {"playing", "ended"} and health.message.startswith("disk full")


def test_each_start_of_a_stream_is_a_new_run_and_runs_are_never_mixed(box, news_clip):
    wav, _ = news_clip
    for _ in range(2):
        box.supervisor.add_stream("cam1", str(wav), remember=False)
        wait_for(lambda: box.supervisor.streams()[0].state == "ended")
        box.supervisor.remove_stream("cam1")
    second, first = box.store.records.runs("cam1")
    assert first.id < second.id and first.closed_at <= second.opened_at
    one, two = (box.store.records.read(run=r.id) for r in (first, second))
    # Stream time restarts at 0 in each run; the records say which run they belong to.
    assert one[0].start < 5 and two[0].start < 5
    assert {r.run for r in one} == {first.id} and {r.run for r in two} == {second.id}
    assert max(r.seq for r in one) < min(r.seq for r in two)
    assert all(r.wall_start >= second.opened_at for r in two)
    tracks = box.store.list(kind="caption_track", stream="cam1")
    assert sorted(t.run for t in tracks) == sorted([first.id, second.id])
    assert len({t.name for t in tracks}) == 2  # names tell the runs apart


def test_live_file_streams_are_played_at_real_time_pace(box, news_clip):
    wav, _ = news_clip
    started = time.monotonic()
    box.supervisor.add_stream("paced", str(wav), remember=False, live=True)
    wait_for(lambda: box.supervisor.streams()[0].last_caption_at is not None)
    first_final_after = time.monotonic() - started
    box.supervisor.remove_stream("paced")
    (run,) = box.store.records.runs("paced")
    first = box.store.records.read(run=run.id)[0]
    # Paced: the first final cannot come before its words were "spoken".
    assert first_final_after >= first.end * 0.9
