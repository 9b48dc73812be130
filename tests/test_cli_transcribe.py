"""`edge transcribe` as a user runs it: real GStreamer, real models, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.corpus import wer
from tests.conftest_media import closed_port, make_av_clip, make_video_only, truncate_copy, write_garbage

pytestmark = pytest.mark.slow
EDGE = [sys.executable, "-m", "edge.cli"]


def edge(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGE, *args], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("edge: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_json_lines_follow_the_schema_and_cover_the_speech(news_clip):
    wav, reference = news_clip
    proc = edge("transcribe", str(wav), "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events
    for ev in events:
        assert set(ev) == {"type", "stream", "text", "start", "end", "emitted_at", "language"}
        assert ev["type"] in {"partial", "final"} and ev["stream"] == "main"
        assert 0 <= ev["start"] <= ev["end"]
    assert wer(reference, " ".join(e["text"] for e in events if e["type"] == "final")) <= 0.12


def test_vtt_output_is_a_valid_caption_file(news_clip, tmp_path):
    wav, _ = news_clip
    out = tmp_path / "news.vtt"
    proc = edge("transcribe", str(wav), "--format", "vtt", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("WEBVTT\n\n1\n00:00:0")
    assert text.count(" --> ") >= 4


def test_an_audio_and_video_file_is_captioned_from_its_audio_track(news_clip, tmp_path):
    wav, reference = news_clip
    clip = make_av_clip(tmp_path / "news.mkv", wav, 25.0)
    proc = edge("transcribe", str(clip), "--format", "srt")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1\n00:00:0")
    body = " ".join(l for l in proc.stdout.splitlines() if l and "-->" not in l and not l.isdigit())
    assert wer(reference, body) <= 0.12


@pytest.mark.parametrize(
    "make, needles",
    [
        (lambda d: d / "nowhere.wav", ["nowhere.wav", "not found"]),
        (lambda d: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", ["empty.mp4", "0 bytes"]),
        (lambda d: write_garbage(d / "garbage.mkv"), ["garbage.mkv"]),
        (lambda d: make_video_only(d / "silent-film.mkv", 2.0), ["silent-film.mkv", "no audio"]),
    ],
    ids=["missing", "zero-bytes", "garbage", "video-only"],
)
def test_bad_files_give_a_one_line_error(tmp_path, make, needles):
    assert_one_line_error(edge("transcribe", str(make(tmp_path))), *needles)


def test_a_truncated_recording_captions_what_survived(news_clip, tmp_path):
    wav, _ = news_clip
    clip = make_av_clip(tmp_path / "full.mkv", wav, 25.0)
    cut = truncate_copy(clip, tmp_path / "cut.mkv", 0.5)
    proc = edge("transcribe", str(cut), "--json")
    # Either the surviving half is captioned, or a clear error says the file is damaged.
    if proc.returncode == 0:
        assert any(json.loads(l)["type"] == "final" for l in proc.stdout.splitlines())
    else:
        assert_one_line_error(proc, "cut.mkv")


def test_a_wrong_url_scheme_is_refused():
    assert_one_line_error(edge("transcribe", "gopher://camera/1"), "gopher://camera/1")


def test_an_unreachable_camera_is_reported_once_retries_run_out():
    unused_port = closed_port()
    url = f"rtsp://127.0.0.1:{unused_port}/cam"
    proc = edge("transcribe", url, "--max-retries", "1")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert f"127.0.0.1:{unused_port}" in proc.stderr.strip().splitlines()[-1]


def test_silence_prints_no_captions(tmp_path):
    silence = tmp_path / "silence.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(silence), "trim", "0", "5"], check=True)
    proc = edge("transcribe", str(silence), "--json")
    assert proc.returncode == 0 and proc.stdout == ""


def test_one_failing_source_does_not_stop_the_others(news_clip, tmp_path):
    wav, _ = news_clip
    bad = write_garbage(tmp_path / "broken.mp4")
    proc = edge("transcribe", f"good={wav}", f"bad={bad}", "--json")
    assert proc.returncode != 0
    finals = [json.loads(l) for l in proc.stdout.splitlines()]
    assert finals and all(e["stream"] == "good" for e in finals)
    assert "bad: cannot open" in proc.stderr and "broken.mp4" in proc.stderr
