"""A run's audio is kept in pieces, and any moment of it can be cut out and played."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from edge.events import SAMPLE_RATE, AudioChunk
from edge.runtime.audio_record import AudioRecorder, audio_slice
from edge.store import AssetStore


def tone(start: float, seconds: float, hz: float) -> AudioChunk:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return AudioChunk("cam1", start, (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32))


def frames_of(wav: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


@pytest.fixture
def store(tmp_path):
    with AssetStore(tmp_path / "store") as s:
        yield s


def test_pieces_are_media_assets_of_the_run_and_a_slice_spans_them(store):
    run = store.records.open_run("cam1", "rtsp://127.0.0.1/x", live=True)
    rec = AudioRecorder(store, run, piece_s=1.0)
    for i in range(5):  # 2.5 s in 0.5 s chunks: pieces of 1, 1 and (at flush) 0.5 s
        assert list(rec.feed(tone(i * 0.5, 0.5, 440 if i < 2 else 880))) == []
    rec.flush()
    pieces = store.list(kind="media", run=run.id, limit=None, newest_first=False)
    assert [(p.start, p.end, p.mime) for p in pieces] == [(0.0, 1.0, "audio/wav"), (1.0, 2.0, "audio/wav"),
                                                           (2.0, 2.5, "audio/wav")]
    cut = frames_of(audio_slice(store, run.id, 0.75, 2.25))
    assert len(cut) == int(1.5 * SAMPLE_RATE)
    assert audio_slice(store, run.id, 10.0, 12.0) is None  # nothing recorded then
    with pytest.raises(ValueError):
        audio_slice(store, run.id, 2.0, 1.0)
