"""RTSP cameras end to end: a real GstRtspServer on 127.0.0.1 read by open_media."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edge.errors import MediaError, SourceUnavailable
from edge.events import AudioChunk, SourceStatus, VideoFrame
from edge.ingest import RetryPolicy, open_media
from edge.ingest.rtsp import RtspTestServer
from tests.conftest_media import FreezableTcpProxy, make_av_clip, make_speech_wav, require_tools

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

CLIP_SECONDS = 2.5  # served in real time, so it sets the length of these tests
FAST_RETRY = RetryPolicy(initial_delay=0.2, max_delay=0.5)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = require_tools("espeak-ng", "sox", "gst-launch-1.0")
    if missing:
        pytest.fail(f"media tools not installed: {', '.join(missing)} (make setup installs them)")
    root = tmp_path_factory.mktemp("rtsp-media")
    speech = make_speech_wav(root / "speech.wav", "Live from the harbour, the ferry has arrived.")
    return make_av_clip(root / "clip.mkv", speech, CLIP_SECONDS)


@dataclass
class Received:
    chunks: list[AudioChunk] = field(default_factory=list)
    frames: list[VideoFrame] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    error: MediaError | None = None

    @property
    def audio_seconds(self) -> float:
        return sum(c.duration for c in self.chunks)

    def add(self, event: object) -> None:
        if isinstance(event, AudioChunk):
            self.chunks.append(event)
        elif isinstance(event, VideoFrame):
            self.frames.append(event)
        elif isinstance(event, SourceStatus):
            self.statuses.append(event)


def receive(url: str, **kwargs: object) -> Received:
    got = Received()
    try:
        for event in open_media(url, **kwargs):  # type: ignore[arg-type]
            got.add(event)
    except MediaError as exc:
        got.error = exc
    return got


def assert_monotonic(chunks: list[AudioChunk]) -> None:
    for before, after in itertools.pairwise(chunks):
        assert after.start >= before.end - 1e-9, (before.start, before.end, after.start)


def test_served_clip_is_received_with_audio_as_long_as_the_clip(clip: Path) -> None:
    with RtspTestServer(media=clip, path="/cam1") as server:
        got = receive(server.url, video_fps=5)

    assert got.error is None
    assert [s.state for s in got.statuses] == ["connecting", "playing", "ended"]
    # Re-encoding to Opus and RTP packetisation may add or cut a frame or two at the ends.
    assert got.audio_seconds == pytest.approx(CLIP_SECONDS, abs=0.25)
    assert abs(len(got.frames) - CLIP_SECONDS * 5) <= 2
    assert_monotonic(got.chunks)
    assert float(np.abs(np.concatenate([c.samples for c in got.chunks])).max()) > 0.01


def test_camera_that_goes_away_is_retried_and_resumes_with_monotonic_times() -> None:
    server = RtspTestServer(path="/cam").start()
    events = open_media(server.url, stream="cam", retry=FAST_RETRY)
    got = Received()
    phase = "before-drop"
    try:
        for event in events:
            got.add(event)
            if phase == "before-drop" and isinstance(event, AudioChunk) and event.end > 1.0:
                server.stop()  # the camera loses power
                phase = "dropped"
            elif phase == "dropped" and isinstance(event, SourceStatus) and event.state == "retrying":
                server.start()  # ... and comes back on the same address
                resumed_after, phase = got.chunks[-1].end, "restarted"
            elif phase == "restarted" and isinstance(event, AudioChunk) and event.start > resumed_after + 1.0:
                break
    finally:
        events.close()  # type: ignore[attr-defined]
        server.stop()

    states = [s.state for s in got.statuses]
    assert states[:2] == ["connecting", "playing"]
    assert "retrying" in states
    assert states.count("playing") == 2, states
    assert_monotonic(got.chunks)
    first_after = next(c for c in got.chunks if c.start >= resumed_after)
    assert first_after.start > resumed_after  # the outage shows as a gap, never as time going back
    assert got.error is None


def test_camera_that_hangs_without_closing_is_detected_as_stalled_and_retried() -> None:
    with RtspTestServer(path="/hang") as server, FreezableTcpProxy(server.port) as proxy:
        url = server.url.replace(f":{server.port}/", f":{proxy.port}/")
        got = Received()
        froze = False
        events = open_media(url, retry=FAST_RETRY, stall_timeout=1.0, startup_timeout=3.0)
        try:
            for event in events:
                got.add(event)
                if isinstance(event, AudioChunk) and event.end > 0.5 and not froze:
                    proxy.freeze()  # packets stop, the TCP connection stays up
                    froze = True
                elif isinstance(event, SourceStatus) and event.state == "retrying":
                    proxy.thaw()
                elif isinstance(event, SourceStatus) and event.state == "playing" and event.attempt > 0:
                    break
        finally:
            events.close()  # type: ignore[attr-defined]

    retrying = [s for s in got.statuses if s.state == "retrying"]
    assert retrying and "no media for 1 s" in retrying[0].message
    assert [s.state for s in got.statuses][-1] == "playing"


def test_slow_consumer_is_not_mistaken_for_a_stalled_camera() -> None:
    with RtspTestServer(path="/slow") as server:
        got = Received()
        events = open_media(server.url, video_fps=15, retry=FAST_RETRY, stall_timeout=0.5)
        try:
            for event in events:
                got.add(event)
                if len(got.chunks) == 1:
                    time.sleep(1.5)  # e.g. ASR catching up: the queue fills and GStreamer waits on us
                if got.audio_seconds > 2.0:
                    break
        finally:
            events.close()  # type: ignore[attr-defined]

    assert [s.state for s in got.statuses] == ["connecting", "playing"]
    assert_monotonic(got.chunks)


def test_two_streams_in_parallel_one_failing_does_not_affect_the_other(clip: Path) -> None:
    results: dict[str, Received] = {}
    with RtspTestServer(media=clip, path="/good") as good, RtspTestServer(path="/bad") as bad:
        readers = {
            "good": threading.Thread(target=lambda: results.__setitem__(
                "good", receive(good.url, stream="good", video_fps=2))),
            "bad": threading.Thread(target=lambda: results.__setitem__(
                "bad", receive(bad.url, stream="bad", retry=RetryPolicy(max_attempts=1, initial_delay=0.1)))),
        }
        for reader in readers.values():
            reader.start()
        time.sleep(1.0)
        bad.stop()  # this camera dies for good while the other is mid-stream
        for reader in readers.values():
            reader.join(30)

    assert isinstance(results["bad"].error, SourceUnavailable)
    assert "gave up" in str(results["bad"].error) and bad.url in str(results["bad"].error)
    assert results["good"].error is None
    assert results["good"].audio_seconds == pytest.approx(CLIP_SECONDS, abs=0.25)
    assert {c.stream for c in results["good"].chunks} == {"good"}


def test_looping_file_mount_keeps_streaming_past_the_end_of_the_file(clip: Path) -> None:
    with RtspTestServer(media=clip, loop=True) as server:
        events = open_media(server.url)
        got = Received()
        for event in events:
            got.add(event)
            if got.audio_seconds > CLIP_SECONDS + 1.0:
                break
        events.close()  # type: ignore[attr-defined]

    assert [s.state for s in got.statuses] == ["connecting", "playing"]
    assert_monotonic(got.chunks)


def test_shared_mount_serves_two_clients_at_once() -> None:
    with RtspTestServer(path="/shared", shared=True) as server:
        results: list[Received] = []

        def read_one_second() -> None:
            got = Received()
            for event in open_media(server.url, video_fps=5):
                got.add(event)
                if got.audio_seconds > 1.0 and got.frames:
                    break
            results.append(got)

        readers = [threading.Thread(target=read_one_second) for _ in range(2)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(20)

    assert len(results) == 2
    assert all(r.frames and r.audio_seconds > 1.0 for r in results)


def test_server_restarts_on_the_same_port() -> None:
    server = RtspTestServer(path="/again")
    with server:
        first_url = server.url
    with server:
        assert server.url == first_url
        got = Received()
        for event in open_media(server.url):
            got.add(event)
            if got.chunks:
                break

    assert got.chunks and not server.running


def test_camera_without_audio_raises_no_audio_track_instead_of_retrying() -> None:
    with RtspTestServer(path="/mute", audio=False) as server:
        got = receive(server.url, retry=FAST_RETRY)

    assert got.error is not None and "no audio track" in str(got.error)
    assert server.url in str(got.error)
    assert "retrying" not in [s.state for s in got.statuses]


def test_wrong_stream_path_raises_stream_not_found() -> None:
    with RtspTestServer(path="/cam1") as server:
        wrong = server.url.replace("/cam1", "/cam9")
        got = receive(wrong)

    assert isinstance(got.error, SourceUnavailable)
    assert "stream not found" in str(got.error) and wrong in str(got.error)
