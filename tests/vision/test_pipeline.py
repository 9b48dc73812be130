"""The vision path on real GStreamer video: scenes, on-screen text, storage, and what it must never cost audio."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edge.asr.streaming import StreamClock
from edge.events import AudioChunk, KeyframeEvent, OcrTextEvent, SAMPLE_RATE, VideoFrame
from edge.runtime.pipeline import Pipeline, StreamSpec
from edge.store import AssetStore
from edge.store.records import OCR
from edge.vision.images import read_image
from edge.vision.ocr import SharedOcr
from edge.vision.processor import VisionProcessor
from edge.vision.recorder import VisionRecorder
from edge.vision.service import Vision
from edge.vision.settings import VisionSettings
from edge.vision.snapshots import SnapshotBoard
from tests.conftest_media import make_audio_only
from tests.vision.media import SECONDS


@dataclass
class AudioCounter:
    """A caption-side consumer that only counts what it hears: every sample must arrive."""

    name: str = "audio"
    consumes: str = "audio"
    samples: int = 0
    chunks: list[float] = field(default_factory=list)

    def feed(self, item):
        if isinstance(item, AudioChunk):
            self.samples += len(item.samples)
            self.chunks.append(item.start)
        return []

    def flush(self):
        return []


def run_pipeline(source: Path, processors, fps: float, *, live: bool = True) -> list:
    """`live`: played at camera pace (as `edge run` plays a camera); a file decoded flat out hands a
    busy vision consumer only the frames it happens to be ready for."""
    events: list = []
    lock = threading.Lock()

    def collect(ev) -> None:
        with lock:
            events.append(ev)

    pipeline = Pipeline(StreamSpec("cam", str(source), live=live, video_fps=fps), processors, clock=StreamClock())
    pipeline.run(collect)
    run_pipeline.last = pipeline  # type: ignore[attr-defined]
    return events


@pytest.fixture(scope="module")
def vision_run(av_clip, ocr_engine):
    board = SnapshotBoard()
    # Text is read every second here (4 s on the x86 profile), so 3 s scenes show spans being extended.
    settings = VisionSettings(ocr={"interval_s": 1.0})
    vision = VisionProcessor("cam", settings, ocr=SharedOcr(engine=ocr_engine), snapshots=board)
    vision.queue_size = 64  # keeps every frame however slow OCR is here (dropping is tested on its own)
    audio = AudioCounter()
    events = run_pipeline(av_clip, [audio, vision], fps=2.0, live=False)
    return events, audio, vision, board


def test_each_scene_of_a_real_clip_gives_one_keyframe(vision_run):
    events, _audio, vision, _board = vision_run
    keyframes = [e for e in events if isinstance(e, KeyframeEvent)]
    # Scenes start at 0, 3 and 6 s; at 2 fps the keyframe is the first settled frame of each.
    assert [k.scene for k in keyframes] == [0, 1, 2]
    assert [k.pts for k in keyframes] == [0.0, 3.5, 6.5]
    assert vision.frames == pytest.approx(SECONDS * 2, abs=1)
    first = read_image(keyframes[0].jpeg)
    assert first.shape == (360, 640, 3)
    assert read_image(keyframes[0].thumbnail).shape[1] == 160


def test_on_screen_text_is_one_span_per_line_with_its_time_range(vision_run):
    events, *_ = vision_run
    texts = [e for e in events if isinstance(e, OcrTextEvent)]
    appeared = [e.text for e in texts if e.change == "appeared"]
    assert sorted(appeared) == ["ANNA BERG", "BREAKING NEWS", "Mayor of Ashford"]
    ended = {e.text: (e.start, e.end) for e in texts if e.change == "ended"}
    assert ended["BREAKING NEWS"][0] == 0.0 and ended["BREAKING NEWS"][1] < 3.0
    assert 3.0 <= ended["ANNA BERG"][0] < 6.0
    keyframe_text = [e.text for e in events if isinstance(e, KeyframeEvent)]
    assert keyframe_text == ["BREAKING NEWS", "ANNA BERG\nMayor of Ashford", ""]


def test_audio_is_whole_and_the_snapshot_goes_when_the_stream_ends(vision_run):
    _events, audio, _vision, board = vision_run
    # Opus adds a few ms of priming; a lost chunk would cost 20 ms or more.
    assert audio.samples / SAMPLE_RATE == pytest.approx(SECONDS, abs=0.05)
    assert board.get("cam") is None


def test_a_slow_vision_consumer_drops_frames_never_audio(av_clip, ocr_engine):
    class Slow(VisionProcessor):
        def feed(self, item):
            if isinstance(item, VideoFrame):
                time.sleep(0.25)  # OCR on a busy box: slower than the frame rate
            return super().feed(item)

    audio = AudioCounter()
    slow = Slow("cam", ocr=SharedOcr(engine=ocr_engine))
    run_pipeline(av_clip, [audio, slow], fps=10.0, live=False)  # decoded flat out: far more frames than it takes
    stats = {s.name: s for s in run_pipeline.last.fanout.stats()}  # type: ignore[attr-defined]
    assert stats["vision"].dropped > 0 and slow.frames < SECONDS * 10
    assert stats["audio"].dropped == 0
    assert audio.samples / SAMPLE_RATE == pytest.approx(SECONDS, abs=0.05)
    assert np.all(np.diff(audio.chunks) > 0)  # in order, no repeats


def test_an_audio_only_source_starts_no_vision_and_does_not_hang(tmp_path, av_clip):
    wav = av_clip.with_suffix(".wav")
    audio_only = make_audio_only(tmp_path / "mic.ogg", wav)
    assert Vision().wants(str(audio_only)) is False  # the supervisor gives such a stream no vision path
    # Asked for video anyway (a camera that sends none): the run ends with the audio, frames never come.
    board = SnapshotBoard()
    vision, audio = VisionProcessor("cam", snapshots=board), AudioCounter()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (run_pipeline(audio_only, [audio, vision], fps=1.0, live=False),
                                              done.set()),
                              daemon=True)
    worker.start()
    assert done.wait(60), "the pipeline hung on a source without video"
    assert vision.frames == 0 and audio.samples > 0 and board.get("cam") is None


def test_keyframes_and_text_are_stored_and_searchable(tmp_path, vision_run):
    events, *_ = vision_run
    with AssetStore(tmp_path / "store", disk_floor_bytes=0, reserve_bytes=0) as store:
        run = store.records.open_run("cam", "scenes.mkv", live=False, origin=1_700_000_000.0)
        recorder = VisionRecorder(store, run, provenance={"ocr": "test"})
        stored = [recorder.handle(e) for e in events]
        keyframes = store.list(kind="keyframe", newest_first=False)
        assert [k.start for k in keyframes] == [e.pts for e in stored if isinstance(e, KeyframeEvent)]
        assert all(k.run == run.id and k.mime == "image/jpeg" for k in keyframes)
        assert keyframes[1].meta["wall"] == pytest.approx(1_700_000_000.0 + keyframes[1].start)
        thumb = keyframes[1].meta["thumbnail"]
        assert thumb.startswith("data:image/jpeg;base64,")
        assert read_image(base64.b64decode(thumb.split(",", 1)[1])).shape[1] == 160
        # One record per span, its end moved while it stayed on screen.
        records = store.records.read(run=run.id, type=OCR)
        assert sorted(r.text for r in records) == ["ANNA BERG", "BREAKING NEWS", "Mayor of Ashford"]
        anna = next(r for r in records if r.text == "ANNA BERG")
        assert anna.end > anna.start and anna.data["keyframe"] == keyframes[1].id
        # Search finds screen text as records, and the keyframe that showed it as an asset.
        assert [r.text for r in store.records.search("mayor ashford")] == ["Mayor of Ashford"]
        assert keyframes[1].id in [a.id for a in store.search("anna berg")]
