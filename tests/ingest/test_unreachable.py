"""Sources that never connect say why, once, and which case it is (issue 9, command line).

Real GStreamer against real sockets on 127.0.0.1 and a real RTSP server: a
name that does not resolve, a refused port, a wrong path, a missing sound
card. A source that never played is given up on at its first-connect
deadline; one that played and dropped is retried and says so.
"""

from __future__ import annotations

import time

import pytest

from edge.errors import MediaError, SourceUnavailable
from edge.events import AudioChunk, SourceStatus
from edge.ingest import RetryPolicy, open_media
from edge.ingest.reach import diagnose
from edge.ingest.rtsp import RtspTestServer
from tests.conftest_media import closed_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

# Two seconds is long enough for a reachable RTSP server to answer on loopback, and keeps the tests short.
QUICK = RetryPolicy(initial_delay=0.1, max_delay=0.3, connect_timeout=2.0)


def failure(url: str, **kwargs: object) -> tuple[MediaError, list[SourceStatus]]:
    statuses: list[SourceStatus] = []
    with pytest.raises(MediaError) as info:
        for event in open_media(url, **kwargs):  # type: ignore[arg-type]
            if isinstance(event, SourceStatus):
                statuses.append(event)
    return info.value, statuses


def test_a_host_name_that_does_not_resolve_is_named_not_called_a_corrupt_file() -> None:
    err, _ = failure("http://example.invalid/x.mp4")

    assert isinstance(err, SourceUnavailable)
    assert "'example.invalid' does not resolve" in str(err)
    assert "corrupt" not in str(err) and "truncated" not in str(err)


def test_a_refused_connection_says_refused() -> None:
    port = closed_port()
    err, _ = failure(f"http://127.0.0.1:{port}/clip.mp4")

    assert f"connection refused by 127.0.0.1:{port}" in str(err)
    assert "corrupt" not in str(err)


def test_a_camera_on_a_wrong_port_is_given_up_at_the_first_connect_deadline() -> None:
    url = f"rtsp://127.0.0.1:{closed_port()}/cam"
    started = time.monotonic()
    err, statuses = failure(url, retry=QUICK)

    assert time.monotonic() - started < 20  # retried until the 2 s deadline, not forever
    assert "never connected (tried for 2 s)" in str(err) and "connection refused" in str(err)
    assert str(err).count("(fix:") == 1
    retrying = [s for s in statuses if s.state == "retrying"]
    assert retrying and all(s.message.startswith("not connected yet:") for s in retrying)
    assert statuses[-1].state == "failed"


def test_a_wrong_path_on_a_running_server_is_given_up_as_not_found() -> None:
    with RtspTestServer(path="/cam1") as server:
        wrong = server.url.replace("/cam1", "/cam9")
        err, _ = failure(wrong, retry=QUICK)

    assert "never connected" in str(err) and "stream not found" in str(err) and wrong in str(err)


def test_a_missing_sound_card_is_named_as_no_such_device() -> None:
    err, _ = failure("alsa:hw:9", retry=QUICK)

    assert "never connected" in str(err) and "no such capture device" in str(err) and "hw:9" in str(err)


def test_running_out_of_retries_counts_attempts_in_good_english_with_one_fix() -> None:
    err, _ = failure(f"rtsp://127.0.0.1:{closed_port()}/cam", retry=RetryPolicy(max_attempts=1, initial_delay=0.05))

    assert "after 1 reconnect attempt (it never connected)" in str(err)
    assert str(err).count("(fix:") == 1


def test_a_camera_that_played_and_dropped_is_retried_and_says_it_dropped() -> None:
    server = RtspTestServer(path="/cam").start()
    statuses: list[SourceStatus] = []
    events = open_media(server.url, stream="cam", retry=QUICK)
    try:
        for event in events:
            if isinstance(event, AudioChunk) and event.end > 0.5 and server.running:
                server.stop()
            elif isinstance(event, SourceStatus):
                statuses.append(event)
                if event.state == "retrying":
                    break
    finally:
        events.close()  # type: ignore[attr-defined]
        server.stop()

    assert statuses[-1].state == "retrying"
    assert statuses[-1].message.startswith("dropped, reconnecting:")


def test_diagnose_finds_nothing_wrong_with_a_listening_port() -> None:
    with RtspTestServer(path="/cam") as server:
        assert diagnose(server.url) is None
