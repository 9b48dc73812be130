"""open_media on files, URLs and broken inputs: real GStreamer pipelines, real media, no mocks."""

from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edge.errors import MediaError, SourceUnavailable
from edge.events import SAMPLE_RATE, AudioChunk, SourceStatus, VideoFrame
from edge.ingest import MediaInfo, RetryPolicy, open_media, probe_media
from tests.conftest_media import (
    closed_port,
    make_audio_only,
    make_av_clip,
    make_speech_wav,
    make_video_only,
    require_tools,
    truncate_copy,
    wav_duration,
    write_garbage,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

CLIP_SECONDS = 3.0
SPEECH = "Good evening. The council met today to discuss the new bridge over the river."


@dataclass
class Media:
    speech: Path
    av_mkv: Path
    av_mp4: Path
    audio_only: Path
    video_only: Path
    dir: Path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    missing = require_tools("espeak-ng", "sox", "gst-launch-1.0")
    if missing:
        pytest.fail(f"media tools not installed: {', '.join(missing)} (make setup installs them)")
    root = tmp_path_factory.mktemp("media")
    speech = make_speech_wav(root / "speech.wav", SPEECH)
    return Media(
        speech=speech,
        av_mkv=make_av_clip(root / "av.mkv", speech, CLIP_SECONDS),
        av_mp4=make_av_clip(root / "av.mp4", speech, CLIP_SECONDS),
        audio_only=make_audio_only(root / "audio.ogg", speech),
        video_only=make_video_only(root / "video.mkv", CLIP_SECONDS),
        dir=root,
    )


@dataclass
class Collected:
    chunks: list[AudioChunk] = field(default_factory=list)
    frames: list[VideoFrame] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)

    @property
    def audio_seconds(self) -> float:
        return sum(c.duration for c in self.chunks)

    @property
    def states(self) -> list[str]:
        return [s.state for s in self.statuses]


def collect(events: Iterable[object]) -> Collected:
    out = Collected()
    for event in events:
        if isinstance(event, AudioChunk):
            out.chunks.append(event)
        elif isinstance(event, VideoFrame):
            out.frames.append(event)
        elif isinstance(event, SourceStatus):
            out.statuses.append(event)
        else:
            raise AssertionError(f"unexpected event {event!r}")
    return out


def media_error_for(source: str, **kwargs: object) -> MediaError:
    with pytest.raises(MediaError) as info:
        collect(open_media(source, **kwargs))  # type: ignore[arg-type]
    return info.value


def assert_one_line_naming(err: MediaError, name: str, *phrases: str) -> None:
    message = str(err)
    assert "\n" not in message, message
    assert name in message, message
    assert "(fix: " in message and err.fix, message
    for phrase in phrases:
        assert phrase in message, message


# --------------------------------------------------------------------------- what each kind of file yields


def test_audio_only_file_yields_audio_and_no_video(media: Media) -> None:
    got = collect(open_media(str(media.audio_only), video_fps=2))

    assert got.frames == []
    assert got.audio_seconds == pytest.approx(wav_duration(media.speech), abs=0.1)


def test_video_only_file_yields_frames_and_no_audio(media: Media) -> None:
    got = collect(open_media(str(media.video_only), video_fps=5))

    assert got.chunks == []
    assert abs(len(got.frames) - CLIP_SECONDS * 5) <= 1
    assert got.states[-1] == "ended"


def test_video_only_file_with_only_audio_requested_raises_no_audio_track(media: Media) -> None:
    err = media_error_for(str(media.video_only))

    assert_one_line_naming(err, media.video_only.name, "no audio track")


@pytest.mark.parametrize("container", ["mkv", "mp4"])
def test_audio_video_file_yields_full_audio_and_frames_at_requested_fps(media: Media, container: str) -> None:
    path = media.av_mkv if container == "mkv" else media.av_mp4
    fps = 4.0

    got = collect(open_media(str(path), video_fps=fps, video_size=(160, 90)))

    assert got.audio_seconds == pytest.approx(CLIP_SECONDS, abs=0.1)
    assert got.audio_seconds == pytest.approx(probe_media(str(path)).duration, abs=0.1)
    assert abs(len(got.frames) - CLIP_SECONDS * fps) <= 1
    gaps = np.diff([f.pts for f in got.frames])
    assert np.allclose(gaps, 1 / fps, atol=1e-3), gaps
    assert got.frames[0].pts == pytest.approx(0.0, abs=1e-3)


def test_audio_chunks_are_16k_mono_float32_contiguous_from_zero(media: Media) -> None:
    chunks = collect(open_media(str(media.av_mkv))).chunks

    assert chunks[0].start == 0.0
    for before, after in itertools.pairwise(chunks):
        assert after.start == pytest.approx(before.end, abs=1e-9)
    samples = np.concatenate([c.samples for c in chunks])
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 0.01 < float(np.abs(samples).max()) <= 1.0  # real speech, not silence
    assert chunks[-1].end == pytest.approx(len(samples) / SAMPLE_RATE)


def test_audio_samples_are_writable_copies(media: Media) -> None:
    # Halving silence would prove nothing: take the first chunk with sound in it.
    chunk = next(e for e in open_media(str(media.speech)) if isinstance(e, AudioChunk) and np.abs(e.samples).max() > 0.01)
    original = chunk.samples.copy()

    # Consumers may normalise in place; that must not touch GStreamer's memory
    # (a view of a mapped buffer is read-only, and this would raise).
    assert chunk.samples.flags.writeable
    np.multiply(chunk.samples, 0.5, out=chunk.samples)

    np.testing.assert_array_equal(chunk.samples, original * 0.5)


def test_video_frames_are_rgb_at_requested_size_or_source_size_when_none(media: Media) -> None:
    scaled = next(e for e in open_media(str(media.video_only), audio=False, video_fps=1, video_size=(200, 100))
                  if isinstance(e, VideoFrame))
    native = next(e for e in open_media(str(media.video_only), audio=False, video_fps=1, video_size=None)
                  if isinstance(e, VideoFrame))

    assert (scaled.width, scaled.height, scaled.rgb.shape, scaled.rgb.dtype) == (200, 100, (100, 200, 3), np.uint8)
    assert (native.width, native.height, native.rgb.shape) == (320, 240, (240, 320, 3))
    assert native.rgb.std() > 10  # the SMPTE bars, not a blank frame


def test_file_reports_connecting_playing_ended_in_order(media: Media) -> None:
    got = collect(open_media(str(media.av_mkv), stream="cam-a"))

    assert got.states == ["connecting", "playing", "ended"]
    assert {s.stream for s in got.statuses} == {"cam-a"}
    assert {c.stream for c in got.chunks} == {"cam-a"}


def test_file_uri_is_accepted_like_a_path(media: Media) -> None:
    got = collect(open_media(media.speech.as_uri()))

    assert got.audio_seconds == pytest.approx(wav_duration(media.speech), abs=0.01)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def http_server(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()


def test_http_url_is_decoded_like_a_file(media: Media) -> None:
    with http_server(media.dir) as base:
        got = collect(open_media(f"{base}/{media.av_mkv.name}"))

    assert got.audio_seconds == pytest.approx(CLIP_SECONDS, abs=0.1)


# --------------------------------------------------------------------------- broken inputs fail fast and clearly


def test_nonexistent_path_raises_file_not_found(media: Media) -> None:
    err = media_error_for(str(media.dir / "missing.mp4"))

    assert_one_line_naming(err, "missing.mp4", "file not found")


def test_zero_byte_file_raises_file_is_empty(media: Media) -> None:
    empty = media.dir / "empty.mp4"
    empty.touch()

    assert_one_line_naming(media_error_for(str(empty)), "empty.mp4", "file is empty (0 bytes)")


def test_garbage_bytes_raise_not_a_media_file(media: Media) -> None:
    garbage = write_garbage(media.dir / "garbage.mkv")

    assert_one_line_naming(media_error_for(str(garbage)), "garbage.mkv", "not a recognised audio/video file")


def test_truncated_mp4_without_index_raises_corrupt_or_truncated(media: Media) -> None:
    # mp4mux writes the index (moov) last, so a cut-off mp4 has no index at all.
    truncated = truncate_copy(media.av_mp4, media.dir / "cut.mp4", 0.5)

    assert_one_line_naming(media_error_for(str(truncated)), "cut.mp4", "corrupt or truncated")


def test_truncated_mkv_delivers_what_decodes_then_ends(media: Media) -> None:
    truncated = truncate_copy(media.av_mkv, media.dir / "cut.mkv", 0.5)

    started = time.monotonic()
    got = collect(open_media(str(truncated), video_fps=2))

    assert time.monotonic() - started < 5
    assert got.states[-1] == "ended"
    assert 0.5 < got.audio_seconds < CLIP_SECONDS - 0.5
    assert got.frames


def test_unsupported_url_scheme_raises_naming_the_url() -> None:
    err = media_error_for("ftp://archive.example/clip.mp4")

    assert_one_line_naming(err, "ftp://archive.example/clip.mp4", "unsupported URL scheme 'ftp://'")


def test_unreachable_rtsp_camera_raises_source_unavailable_quickly() -> None:
    url = f"rtsp://127.0.0.1:{closed_port()}/x"

    started = time.monotonic()
    err = media_error_for(url)

    assert isinstance(err, SourceUnavailable)
    assert_one_line_naming(err, url, "connection refused")
    assert time.monotonic() - started < 5


def test_missing_capture_device_raises_source_unavailable() -> None:
    err = media_error_for("/dev/video99")

    assert isinstance(err, SourceUnavailable)
    assert_one_line_naming(err, "/dev/video99", "no such capture device")


def test_http_url_that_does_not_exist_raises_not_found(media: Media) -> None:
    with http_server(media.dir) as base:
        url = f"{base}/gone.mp4"
        err = media_error_for(url)

    assert_one_line_naming(err, url, "not found")


def test_rtsp_password_never_appears_in_messages() -> None:
    err = media_error_for(f"rtsp://crew:s3cret@127.0.0.1:{closed_port()}/x")

    assert "s3cret" not in str(err)
    assert "crew:***@" in str(err)


@pytest.mark.parametrize("case", ["decode", "validation"])
def test_failure_is_reported_as_failed_status_before_the_error(media: Media, case: str) -> None:
    source, phrase = {"decode": (media.video_only, "no audio track"),
                      "validation": (media.dir / "nope.wav", "file not found")}[case]
    seen: list[object] = []
    with pytest.raises(MediaError):
        for event in open_media(str(source)):
            seen.append(event)

    assert isinstance(seen[-1], SourceStatus) and seen[-1].state == "failed"
    assert phrase in seen[-1].message


def test_invalid_arguments_raise_value_error(media: Media) -> None:
    with pytest.raises(ValueError):
        next(open_media(str(media.speech), audio=False))
    with pytest.raises(ValueError):
        next(open_media(str(media.speech), video_fps=0))


def test_live_source_retries_give_up_with_source_unavailable() -> None:
    url = f"rtsp://127.0.0.1:{closed_port()}/x"
    seen: list[SourceStatus] = []

    with pytest.raises(SourceUnavailable, match="gave up .* after 2 reconnect attempts"):
        for event in open_media(url, retry=RetryPolicy(max_attempts=2, initial_delay=0.05)):
            assert isinstance(event, SourceStatus)
            seen.append(event)

    assert [(s.state, s.attempt) for s in seen if s.state == "retrying"] == [("retrying", 1), ("retrying", 2)]
    assert seen[-1].state == "failed"


def test_files_are_never_retried(media: Media) -> None:
    got = collect(open_media(str(media.speech), retry=RetryPolicy(initial_delay=0.01)))

    assert "retrying" not in got.states and got.states[-1] == "ended"


# --------------------------------------------------------------------------- lifecycle and concurrency


def _python_threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def test_closing_generator_early_stops_pipeline_and_its_thread(media: Media) -> None:
    before = _python_threads()
    events: Iterator[object] = open_media(str(media.av_mkv), video_fps=10)
    next(e for e in events if isinstance(e, AudioChunk))
    assert _python_threads() - before  # the worker is running

    started = time.monotonic()
    events.close()  # type: ignore[attr-defined]

    assert time.monotonic() - started < 2
    assert _python_threads() - before == set()


def test_breaking_out_of_a_loop_releases_the_source(media: Media) -> None:
    before = _python_threads()
    for _ in range(5):
        for event in open_media(str(media.av_mkv), video_fps=10):
            if isinstance(event, VideoFrame):
                break

    assert _python_threads() - before == set()


def test_slow_consumer_throttles_decoding_without_losing_audio(media: Media) -> None:
    total = 0.0
    for event in open_media(str(media.av_mkv), video_fps=10):
        if isinstance(event, AudioChunk):
            total += event.duration
        time.sleep(0.001)

    assert total == pytest.approx(CLIP_SECONDS, abs=0.1)


def test_parallel_files_are_independent_when_one_fails(media: Media) -> None:
    garbage = write_garbage(media.dir / "bad-parallel.mp4")
    results: dict[str, object] = {}

    def run(name: str, source: str) -> None:
        try:
            results[name] = collect(open_media(source, stream=name, video_fps=5))
        except MediaError as exc:
            results[name] = exc

    threads = [threading.Thread(target=run, args=(f"s{i}", str(media.av_mkv))) for i in range(3)]
    threads.append(threading.Thread(target=run, args=("bad", str(garbage))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert isinstance(results["bad"], MediaError)
    for i in range(3):
        got = results[f"s{i}"]
        assert isinstance(got, Collected), got
        assert got.audio_seconds == pytest.approx(CLIP_SECONDS, abs=0.1)
        assert {c.stream for c in got.chunks} == {f"s{i}"}


# --------------------------------------------------------------------------- probe and retry policy


def test_probe_media_reports_tracks_and_duration(media: Media) -> None:
    info = probe_media(str(media.av_mkv))
    assert isinstance(info, MediaInfo) and (info.has_audio, info.has_video) == (True, True)
    assert info.duration == pytest.approx(CLIP_SECONDS, abs=0.1)
    info = probe_media(str(media.video_only))
    assert (info.has_audio, info.has_video) == (False, True)
    info = probe_media(str(media.audio_only))
    assert (info.has_audio, info.has_video) == (True, False)


def test_probe_media_raises_media_error_on_garbage(media: Media) -> None:
    garbage = write_garbage(media.dir / "garbage-probe.mp4")

    assert_one_line_naming(pytest.raises(MediaError, probe_media, str(garbage)).value, "garbage-probe.mp4")


def test_retry_delay_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=0.5, factor=2.0, max_delay=3.0, max_attempts=4)

    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.allows(4) and not policy.allows(5)
    assert RetryPolicy().allows(10_000)
