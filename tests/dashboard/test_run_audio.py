"""`GET /api/runs/{run}/audio`: a moment of a run's recorded audio (search hits, drafts, quotes play from it)."""

from __future__ import annotations

from edge.runtime.audio_record import AudioRecorder
from edge.events import SAMPLE_RATE
from tests.runtime.test_audio_record import frames_of, tone


def test_the_dashboard_plays_a_moment_and_says_when_nothing_was_recorded(client, box):
    run = box.store.records.open_run("cam1", "rtsp://127.0.0.1/x", live=True)
    rec = AudioRecorder(box.store, run, piece_s=1.0)
    rec.feed(tone(0.0, 1.5, 440))
    rec.flush()
    ok = client.get(f"/api/runs/{run.id}/audio", params={"start": 0.5, "end": 1.5})
    assert ok.status_code == 200 and ok.headers["content-type"] == "audio/wav"
    assert len(frames_of(ok.content)) == SAMPLE_RATE
    missing = client.get(f"/api/runs/{run.id}/audio", params={"start": 30, "end": 31})
    assert missing.status_code == 404 and "record_audio" in missing.json()["detail"]
    assert client.get("/api/runs/..%2f..%2fetc/audio", params={"start": 0, "end": 1}).status_code == 404
    assert client.get(f"/api/runs/{run.id}/audio", params={"start": 2, "end": 1}).status_code == 422
