"""Ingest fans out to each processor through its own bounded queue: audio is
never dropped (the source waits, and that is counted), video drops its oldest
frame when a consumer is behind, every consumer sees every status, and a slow
consumer never holds up another."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.errors import MediaError
from edge.events import SAMPLE_RATE, AudioChunk, SourceStatus, VideoFrame
from edge.ingest.fanout import Fanout
from edge.ingest.gstreamer import open_media
from tests.conftest_media import make_av_clip, make_speech_wav, require_tools

pytestmark = pytest.mark.timeout(60)

CHUNK = 1600  # 0.1 s


def _chunk(i: int) -> AudioChunk:
    return AudioChunk("cam", i * CHUNK / SAMPLE_RATE, np.full(CHUNK, i, np.float32))


def _frame(i: int) -> VideoFrame:
    return VideoFrame("cam", i / 10, 4, 2, np.full((2, 4, 3), i % 256, np.uint8))


def source(n: int = 20, *, error: Exception | None = None, log: list[str] | None = None) -> Iterator:
    """A camera in miniature: connecting, playing, one chunk and one frame per step, ended."""
    try:
        yield SourceStatus("cam", "connecting")
        yield SourceStatus("cam", "playing")
        for i in range(n):
            yield _chunk(i)
            yield _frame(i)
            if log is not None:
                log.append(f"produced {i}")
        if error is not None:
            yield SourceStatus("cam", "failed", str(error))
            raise error
        yield SourceStatus("cam", "ended")
    finally:
        if log is not None:
            log.append("source closed")


def _drain(consumer, results: dict, key: str, delay: float = 0.0) -> threading.Thread:
    def run() -> None:
        got = []
        try:
            for item in consumer:
                got.append(item)
                if delay and not isinstance(item, SourceStatus):
                    time.sleep(delay)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            results[key + ".error"] = exc
        results[key] = got

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _states(items) -> list[str]:
    return [i.state for i in items if isinstance(i, SourceStatus)]


def test_each_consumer_gets_its_kind_and_every_status_in_source_order():
    fan = Fanout(source(5))
    audio, video, watcher = fan.audio("captions"), fan.video("keyframes", maxsize=10), fan.status("dashboard")
    with fan:
        got_audio, got_video, got_status = list(audio), list(video), list(watcher)

    assert [int(c.samples[0]) for c in got_audio if isinstance(c, AudioChunk)] == list(range(5))
    assert all(isinstance(i, AudioChunk | SourceStatus) for i in got_audio)
    assert [int(f.rgb[0, 0, 0]) for f in got_video if isinstance(f, VideoFrame)] == list(range(5))
    assert all(isinstance(i, VideoFrame | SourceStatus) for i in got_video)
    assert _states(got_audio) == _states(got_video) == _states(got_status) == ["connecting", "playing", "ended"]
    assert len(got_status) == 3
    assert got_audio[0].state == "connecting" and got_audio[-1].state == "ended"  # statuses stay in place


def test_a_slow_audio_consumer_makes_the_source_wait_and_loses_nothing():
    fan = Fanout(source(30))
    audio = fan.audio("captions", maxsize=3)
    results: dict = {}
    with fan:
        thread = _drain(audio, results, "audio", delay=0.01)
        thread.join(10)

    chunks = [c for c in results["audio"] if isinstance(c, AudioChunk)]
    assert [int(c.samples[0]) for c in chunks] == list(range(30))
    stats = audio.stats()
    assert stats.dropped == 0 and stats.delivered == 30 + 3
    assert stats.blocked_puts >= 20 and stats.blocked_s > 0.1  # the back-pressure is reported
    assert stats.max_queued == 3


def test_a_stuck_video_consumer_drops_its_oldest_frames_and_never_stalls_audio():
    fan = Fanout(source(50))
    audio = fan.audio("captions", maxsize=4)
    video = fan.video("ocr", maxsize=3)
    results: dict = {}
    with fan:
        _drain(audio, results, "audio").join(10)  # the video consumer has not read anything yet
        assert fan.join(5), "the pump waited for the video consumer"
        frames_seen = list(video)

    assert len([c for c in results["audio"] if isinstance(c, AudioChunk)]) == 50
    frames = [f for f in frames_seen if isinstance(f, VideoFrame)]
    assert [int(f.rgb[0, 0, 0]) for f in frames] == [47, 48, 49]  # the newest survive
    assert _states(frames_seen) == ["connecting", "playing", "ended"]  # statuses are never dropped
    stats = video.stats()
    assert stats.dropped == 47 and stats.blocked_puts == 0
    assert audio.stats().dropped == 0


def test_a_slow_video_consumer_does_not_slow_a_fast_one():
    fan = Fanout(source(40))
    slow, fast = fan.video("ocr", maxsize=2), fan.video("keyframes", maxsize=64)
    results: dict = {}
    with fan:
        slow_thread = _drain(slow, results, "slow", delay=0.05)
        _drain(fast, results, "fast").join(10)
        fast_done = time.monotonic()
        slow_thread.join(10)
        slow_done = time.monotonic()

    assert len([f for f in results["fast"] if isinstance(f, VideoFrame)]) == 40
    assert slow.stats().dropped > 20
    assert slow_done - fast_done > 0.05


def test_the_source_error_is_raised_in_every_consumer_after_the_items_before_it():
    failure = MediaError("camera unplugged", "plug it back in")
    fan = Fanout(source(4, error=failure))
    audio, video = fan.audio("captions"), fan.video("keyframes", maxsize=8)
    results: dict = {}
    with fan:
        threads = [_drain(audio, results, "audio"), _drain(video, results, "video")]
        for t in threads:
            t.join(10)

    for key in ("audio", "video"):
        assert results[key + ".error"] is failure
        assert len(results[key]) == 2 + 4 + 1  # connecting, playing, 4 items, failed
        assert results[key][-1].state == "failed"


def test_a_consumer_that_closes_early_no_longer_holds_up_the_others():
    fan = Fanout(source(30))
    quitter, stayer = fan.audio("quitter", maxsize=2), fan.audio("stayer", maxsize=64)
    results: dict = {}
    with fan:
        next(quitter)
        quitter.close()  # its queue fills no more: the pump must not wait on it
        _drain(stayer, results, "stayer").join(10)

    assert len([c for c in results["stayer"] if isinstance(c, AudioChunk)]) == 30
    assert list(quitter) == []


def test_the_source_is_closed_once_every_consumer_has_gone():
    log: list[str] = []
    fan = Fanout(source(1000, log=log))
    audio = fan.audio("captions", maxsize=2)
    fan.start()
    next(audio)
    audio.close()

    assert fan.join(5)
    assert log[-1] == "source closed" and len(log) < 20


def test_close_ends_every_consumer_even_while_the_source_waits():
    gate = threading.Event()

    def hanging():
        yield SourceStatus("cam", "connecting")
        gate.wait(10)  # a camera that connected and sends nothing

    fan = Fanout(hanging())
    audio = fan.audio("captions")
    fan.start()
    assert next(audio).state == "connecting"
    fan.close(timeout=0.2)

    assert list(audio) == []
    gate.set()


def test_consumers_are_registered_before_the_start_under_unique_names():
    fan = Fanout(source(1))
    fan.audio("captions")
    with pytest.raises(ValueError, match="already registered"):
        fan.video("captions")
    fan.start()
    with pytest.raises(RuntimeError, match="after start"):
        fan.video("late")
    fan.close()
    with pytest.raises(RuntimeError, match="at least one consumer"):
        Fanout(source(1)).start()


# -- real media through real GStreamer ----------------------------------------------------


@pytest.fixture(scope="module")
def av_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = require_tools("espeak-ng", "sox", "gst-launch-1.0")
    if missing:
        pytest.fail(f"media tools not installed: {', '.join(missing)} (make setup installs them)")
    root = tmp_path_factory.mktemp("fanout")
    speech = make_speech_wav(root / "speech.wav", "The river rose a metre overnight and the bridge is closed.")
    return make_av_clip(root / "av.mkv", speech, 4.0, fps=10)


def test_real_media_a_slow_video_consumer_drops_frames_while_audio_gets_every_sample(av_clip: Path):
    reference = np.concatenate([c.samples for c in open_media(str(av_clip)) if isinstance(c, AudioChunk)])

    fan = Fanout(open_media(str(av_clip), stream="cam", video_fps=10, video_size=(160, 90)))
    audio, video = fan.audio("captions"), fan.video("ocr", maxsize=2)
    results: dict = {}
    with fan:
        video_thread = _drain(video, results, "video", delay=0.2)  # OCR at 5 frames/s on a 10 fps camera
        _drain(audio, results, "audio").join(30)
        video_still_busy = video_thread.is_alive()
        video_thread.join(30)

    samples = np.concatenate([c.samples for c in results["audio"] if isinstance(c, AudioChunk)])
    np.testing.assert_array_equal(samples, reference)  # every sample, in order
    assert video_still_busy, "audio waited for the slow video consumer"
    frames = [f for f in results["video"] if isinstance(f, VideoFrame)]
    stats = video.stats()
    assert stats.dropped > 10 and len(frames) + stats.dropped == 40
    assert frames[-1].pts == pytest.approx(3.9, abs=0.01)  # the newest frame survives
    assert _states(results["audio"]) == _states(results["video"]) == ["connecting", "playing", "ended"]
    assert audio.stats().dropped == 0
