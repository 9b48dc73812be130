"""One stream's pipeline: a slow video processor never costs captions a word."""

from __future__ import annotations

import time

import pytest

from edge.asr.processor import CaptionProcessor
from edge.asr.streaming import StreamClock
from edge.events import CaptionEvent, VideoFrame
from edge.runtime.pipeline import Pipeline, StreamSpec
from edge.runtime.streams import caption_media
from tests.conftest_media import make_av_clip, wav_duration

pytestmark = pytest.mark.slow


class SlowVision:
    """Stands in for OCR on a 2-core box: each frame costs far longer than the frame interval."""

    name = "slow-vision"
    consumes = "video"

    def __init__(self, seconds_per_frame: float) -> None:
        self.seconds_per_frame = seconds_per_frame
        self.frames: list[float] = []

    def feed(self, item):
        if isinstance(item, VideoFrame):
            self.frames.append(item.pts)
            time.sleep(self.seconds_per_frame)
        return ()

    def flush(self):
        return ()


def _finals(events: list[CaptionEvent]) -> list[tuple[str, float, float]]:
    return [(e.text, round(e.start, 2), round(e.end, 2)) for e in events if e.type == "final"]


def test_a_slow_video_consumer_drops_frames_and_captions_are_unaffected(news_clip, speech_models, tmp_path):
    wav, _ = news_clip
    seconds = wav_duration(wav)
    clip = make_av_clip(tmp_path / "av.mkv", wav, seconds, fps=10)
    alone = list(caption_media(speech_models, str(clip), stream="cam"))

    vision = SlowVision(seconds_per_frame=0.5)
    clock = StreamClock()
    events: list[CaptionEvent] = []
    pipeline = Pipeline(StreamSpec("cam", str(clip), video_fps=10.0),
                        [CaptionProcessor(speech_models.caption_stream("cam", live=False)), vision], clock=clock)
    pipeline.run(events.append)

    assert _finals(events) == _finals(alone) and len(_finals(alone)) >= 3
    assert pipeline.fanout is not None
    stats = {s.name: s for s in pipeline.fanout.stats()}
    decoded = seconds * 10
    # The slow consumer saw a fraction of the frames, the newest ones, and the rest were dropped, not queued.
    assert len(vision.frames) < decoded / 2 and stats["slow-vision"].dropped > 0
    assert vision.frames == sorted(vision.frames)
    assert stats["captions"].dropped == 0
