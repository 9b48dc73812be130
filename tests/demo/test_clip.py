"""The demo event clip and the benchmark corpus are built from synthetic speech;
these tests check that what the files claim (streams, durations, sentence
timings) is what the media actually contains."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

# bench/ is not an installed package, so a bare `pytest` (unlike
# `python -m pytest`) would not find it without the repository root on the path.
if importlib.util.find_spec("bench") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.corpus import RATE, build_corpus, normalize_text, wer
from edge.demo import clip
from edge.demo.clip import (
    TIMINGS_NAME,
    TRANSCRIPT_NAME,
    VIDEO_FPS,
    VIDEO_HEIGHT,
    VIDEO_WIDTH,
    demo_clip_path,
    demo_segments,
    SCRIPT_PATH,
    build_demo_clip,
    read_sentences,
    read_wav,
)
from edge.errors import MediaError


def _discover(path):
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstPbutils", "1.0")
    from gi.repository import Gst, GstPbutils

    Gst.init(None)
    return GstPbutils.Discoverer.new(10 * Gst.SECOND).discover_uri(Gst.filename_to_uri(str(path)))


@pytest.fixture(scope="module")
def demo_clip(tmp_path_factory):
    return demo_clip_path(tmp_path_factory.mktemp("data"))


@pytest.mark.slow
def test_demo_clip_has_one_audio_and_one_video_stream(demo_clip):
    assert demo_clip.name == "demo_event.mkv" and demo_clip.parent.name == "demo"
    info = _discover(demo_clip)
    assert len(info.get_audio_streams()) == 1
    videos = info.get_video_streams()
    assert len(videos) == 1
    v = videos[0]
    assert (v.get_width(), v.get_height()) == (VIDEO_WIDTH, VIDEO_HEIGHT)
    assert v.get_framerate_num() / v.get_framerate_denom() == VIDEO_FPS

    timings = json.loads((demo_clip.parent / TIMINGS_NAME).read_text())
    assert 40 <= timings["duration"] <= 60
    assert info.get_duration() / 1e9 == pytest.approx(timings["duration"], abs=1.0)


@pytest.mark.slow
def test_demo_clip_sidecars_match_script(demo_clip):
    sentences = read_sentences(SCRIPT_PATH)
    transcript = (demo_clip.parent / TRANSCRIPT_NAME).read_text().splitlines()
    assert transcript == sentences
    segments = demo_segments(demo_clip)
    assert [t for _, _, t in segments] == sentences
    for (s0, e0, _), (s1, _, _) in zip(segments, segments[1:]):
        assert s0 < e0 < s1


@pytest.mark.slow
def test_demo_clip_is_reused_when_cached(demo_clip):
    before = demo_clip.stat().st_mtime_ns
    assert demo_clip_path(demo_clip.parent.parent) == demo_clip
    assert demo_clip.stat().st_mtime_ns == before


@pytest.mark.slow
def test_demo_clip_is_rebuilt_when_the_script_changes(tmp_path, monkeypatch):
    script = tmp_path / "script.txt"
    script.write_text("The bridge is open.\nTraffic is moving again.\n")
    monkeypatch.setattr(clip, "SCRIPT_PATH", script)
    out = build_demo_clip(tmp_path / "demo" / "demo_event.mkv")
    first = out.stat().st_mtime_ns
    later = out.stat().st_mtime + 60
    os.utime(script, (later, later))
    build_demo_clip(out)
    assert out.stat().st_mtime_ns != first
    assert (out.parent / TRANSCRIPT_NAME).read_text().splitlines() == [
        "The bridge is open.", "Traffic is moving again."]


def test_missing_tools_name_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(clip.shutil, "which", lambda name: None)
    with pytest.raises(MediaError) as exc:
        clip.synthesize("hello")
    assert "espeak-ng" in exc.value.problem and "apt-get install espeak-ng" in exc.value.fix


def test_missing_gstreamer_element_names_the_debian_package(tmp_path, monkeypatch):
    Gst = clip._gst()
    real_find = Gst.ElementFactory.find
    monkeypatch.setattr(Gst.ElementFactory, "find", lambda name: None if name == "x264enc" else real_find(name))
    with pytest.raises(MediaError) as exc:
        build_demo_clip(tmp_path / "demo_event.mkv")
    assert "x264enc" in exc.value.problem and "gstreamer1.0-plugins-ugly" in exc.value.fix
    assert not (tmp_path / "demo_event.mkv").exists()


def test_normalization_ignores_spelling_numbers_and_punctuation():
    assert wer("The Harbour, 23 boats", "the harbor twenty three boats") == 0.0
    assert normalize_text("three hundred and six votes") == normalize_text("306 votes")
    assert normalize_text("fifty one per cent") == normalize_text("51%")
    assert normalize_text("forty two million pounds") == normalize_text("£42 million")
    assert normalize_text("twelve thousand fans") == normalize_text("12,000 fans")
    assert normalize_text("the twenty-third councillor") == normalize_text("the 23rd councilor")
    assert normalize_text("flood defence programme") == normalize_text("Flood defense program.")


def test_wer_counts_word_errors():
    assert wer("the council met today", "the council met") == pytest.approx(0.25)
    assert wer("the council met today", "a council met today now") == pytest.approx(0.5)
    assert wer("", "") == 0.0


@pytest.mark.slow
def test_corpus_segments_match_the_audio(tmp_path):
    items = {it.name: it for it in build_corpus(tmp_path, limit=3)}
    clean, noisy = items["clean"], items["noisy"]
    assert len(clean.segments) == 3 and clean.segments == noisy.segments
    assert clean.reference == " ".join(t for _, _, t in clean.segments)

    x, rate = read_wav(clean.wav)
    assert rate == RATE and len(x) / RATE == pytest.approx(clean.duration)
    x = x.astype(np.float64)

    def rms(a, b):
        seg = x[int(a * RATE) : int(b * RATE)]
        return float(np.sqrt(np.mean(seg**2))) if len(seg) else 0.0

    edges = [0.0] + [t for s, e, _ in clean.segments for t in (s, e)] + [clean.duration]
    silences = list(zip(edges[::2], edges[1::2]))
    assert silences[0][1] == pytest.approx(0.5, abs=0.01)
    assert clean.duration - silences[-1][0] == pytest.approx(0.5, abs=0.01)
    for a, b in silences[1:-1]:
        assert 0.6 <= b - a <= 1.2
    for a, b in silences:
        assert rms(a, b) < 5, f"sound in the pause {a:.2f}-{b:.2f}"
    for s, e, _ in clean.segments:
        assert rms(s, e) > 500
        # Speech reaches both ends of the segment: the timings are not padded.
        assert rms(s, s + 0.1) > 30 and rms(e - 0.1, e) > 30

    n, _ = read_wav(noisy.wav)
    noise = n.astype(np.float64) - x
    mask = np.zeros(len(x), dtype=bool)
    for s, e, _ in clean.segments:
        mask[int(s * RATE) : int(e * RATE)] = True
    snr = 10 * np.log10(np.mean(x[mask] ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(20.0, abs=0.5)

    if "beckett" in items:
        (start, end, text), = items["beckett"].segments
        assert 0 < start < end < items["beckett"].duration
        assert "Fail better" in text

    manifest = tmp_path / "manifest.json"
    before = manifest.stat().st_mtime_ns
    assert build_corpus(tmp_path, limit=3) == list(items.values())
    assert manifest.stat().st_mtime_ns == before
