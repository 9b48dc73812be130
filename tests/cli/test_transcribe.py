"""`edge transcribe` on sources that never connect: one line saying which case, and a non-zero exit.

In process (the console script's own main()), real GStreamer and sockets on 127.0.0.1.
"""

from __future__ import annotations

import pytest

from edge.cli import main
from edge.ingest.rtsp import RtspTestServer
from tests.conftest_media import closed_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def transcribe(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["transcribe", *args])
    err = capsys.readouterr().err
    return code, err.strip().splitlines()


def test_a_camera_on_a_wrong_port_gives_one_line_once_the_first_connect_deadline_passes(capsys):
    port = closed_port()
    code, lines = transcribe(capsys, f"rtsp://127.0.0.1:{port}/cam", "--connect-timeout", "2")

    assert code != 0
    assert len(lines) == 1, lines  # no "source dropped, retrying" for something that never played
    assert lines[0].startswith("edge: error: ") and "never connected (tried for 2 s)" in lines[0]
    assert f"connection refused by 127.0.0.1:{port}" in lines[0] and lines[0].count("(fix:") == 1


def test_a_wrong_path_on_a_real_rtsp_server_is_named_not_found(capsys):
    with RtspTestServer(path="/cam1") as server:
        code, lines = transcribe(capsys, server.url.replace("/cam1", "/cam9"), "--connect-timeout", "2")

    assert code != 0 and len(lines) == 1 and "stream not found" in lines[0] and "never connected" in lines[0]


def test_a_name_that_does_not_resolve_is_not_called_a_corrupt_file(capsys):
    code, lines = transcribe(capsys, "http://example.invalid/x.mp4")

    assert code != 0 and len(lines) == 1
    assert "'example.invalid' does not resolve" in lines[0] and "corrupt" not in lines[0]


def test_running_out_of_retries_reads_in_good_english_with_one_fix(capsys):
    code, lines = transcribe(capsys, f"rtsp://127.0.0.1:{closed_port()}/cam", "--max-retries", "1")

    assert code != 0 and len(lines) == 1
    assert "after 1 reconnect attempt (it never connected)" in lines[0] and lines[0].count("(fix:") == 1
