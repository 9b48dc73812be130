"""What a run leaves behind uses its polished text once it exists, and the live text until then.

The caption track and transcript wait for a run's background re-decode; the
caption segments the newsroom follows carry the live finals first and the
polished text later, which the center shows in their place (the live finals
stay as they were shown, on the box and at the center with `--live`).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cloud_sync.center.captions import parse_line
from cloud_sync.syncer import Syncer
from edge.asr.options import CaptionOptions
from edge.asr.polish import ClosedSpeech, Polisher, best_text, read_best
from edge.events import SAMPLE_RATE, AudioChunk
from edge.ids import IdClock
from edge.runtime.segments import CaptionSegmenter
from edge.runtime.tracks import TrackBuilder
from edge.store import AssetStore
from edge.store.records import CAPTION, POLISHED
from tests.conftest import speak
from tests.sync.conftest import center_cli, make_box, start_center

SENTENCES = ["Police said the bridge would remain closed until Friday.",
             "The mayor thanked the volunteers who filled sandbags overnight."]


def read(store: AssetStore, asset) -> str:
    return store.content_path(asset.id).read_text()


# -- on hand-written records (the rules) --------------------------------------------------------


def add_captions(store: AssetStore, run, texts: list[tuple[str, float, float]]):
    return store.records.append([(CAPTION, run.id, run.stream, s, e, run.wall(s), run.wall(e), t, "{}")
                                 for t, s, e in texts])


def polish(store: AssetStore, run, replaces, text: str, cues: list) -> None:
    first, last = replaces[0], replaces[-1]
    store.records.append([(POLISHED, run.id, run.stream, first.start, last.end, run.wall(first.start),
                           run.wall(last.end), text,
                           json.dumps({"replaces": [r.seq for r in replaces], "language": "en", "cues": cues}))])


def test_a_run_being_polished_waits_for_it_then_its_track_and_transcript_use_the_polished_text(tmp_path):
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "cam.wav", live=True)
        live = add_captions(store, run, [("Police said the", 0.0, 1.2), ("lease was closed.", 1.2, 2.5),
                                         ("Rain is expected tonight.", 4.0, 6.0)])
        store.records.close_run(run.id, "ended")
        waiting = {run.id}
        builder = TrackBuilder(store, pending=lambda run_id: run_id in waiting)
        assert builder.step() == 0 and not store.list(kind="caption_track")  # still being polished
        polish(store, run, live[:2], "Police said the bridge was closed.",
               [[0.1, 1.4, "Police said the bridge"], [1.4, 2.4, "was closed."]])
        waiting.clear()
        assert builder.step() == 1
        (track,) = store.list(kind="caption_track")
        (transcript,) = store.list(kind="transcript")
        vtt = read(store, track)
        assert "Police said the bridge was closed." in vtt and "lease" not in vtt
        assert "00:00:00.100 --> " in vtt  # cues timed by the re-decode's own segments
        assert "Rain is expected tonight." in vtt  # nothing replaced it: the live text stays
        assert read(store, transcript) == "Police said the bridge was closed. Rain is expected tonight.\n"
        assert track.meta["polished"] == 1
        # The live finals are kept as they were shown.
        assert [r.text for r in store.records.read(run=run.id)] == ["Police said the", "lease was closed.",
                                                                     "Rain is expected tonight."]


def test_a_run_nobody_polishes_gets_its_live_text_at_once(tmp_path):
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "cam.wav", live=True)
        add_captions(store, run, [("Ever tried.", 0.0, 1.0), ("Ever failed.", 1.5, 2.5)])
        store.records.close_run(run.id, "ended")
        assert TrackBuilder(store).step() == 1
        (transcript,) = store.list(kind="transcript")
        assert read(store, transcript) == "Ever tried. Ever failed.\n"


def test_the_center_refuses_replacement_lines_that_could_touch_other_captions():
    run = IdClock().next()
    line = {"run": run, "seq": 10, "text": "polished", "start": 0.0, "end": 2.0, "wall_start": 1.0}
    ok = parse_line(json.dumps({**line, "replaces": [3, 4, 4]}).encode(), run)
    assert ok is not None and ok["replaces"] == [3, 4]
    # Empty, itself or later finals, not integers, or more finals than ~30 s of speech can hold.
    for seq, bad in ((10, []), (10, [10]), (10, [11]), (10, [-1]), (10, ["3"]), (10, [True]), (10, "3"),
                     (10, [3.0]), (5000, list(range(3000)))):
        assert parse_line(json.dumps({**line, "seq": seq, "replaces": bad}).encode(), run) is None, bad


# -- the real path: real model, store, sync and center ------------------------------------------


@pytest.mark.slow
def test_a_late_polished_text_replaces_the_synced_live_finals_at_the_center(tmp_path, speech_models):
    silence = np.zeros(int(0.8 * SAMPLE_RATE), np.float32)
    audio = np.concatenate([silence, speak(SENTENCES[0]), silence, speak(SENTENCES[1], "en-gb"), silence])
    center = start_center(tmp_path / "center")
    try:
        files = make_box(tmp_path / "box", "truck-7", center.data, center.endpoint, server=center.server)
        with AssetStore(files.store) as store:
            run = store.records.open_run("cam", "cam.wav", live=True)
            polisher = Polisher(store, speech_models.whisper, speech_models.profile.asr.offline)
            polisher.start()
            try:
                def closed(start, samples, language):
                    polisher.submit(ClosedSpeech(run.id, "cam", start, samples, language))

                stream = speech_models.caption_stream("cam", live=False, options=CaptionOptions(on_utterance=closed))
                finals = [e for e in stream.run([AudioChunk("cam", 0.0, audio)]) if e.type == "final"]
                live = store.records.append_captions(run, finals)
                store.records.close_run(run.id, "ended")
                segments, builder = CaptionSegmenter(store), TrackBuilder(store, pending=polisher.pending)
                assert segments.step() == 1 and builder.step() == 0  # the live text leaves; the track waits
                sync(store, files)
                shown = [(x["text"], x.get("polished", False)) for x in center_view(center.data)]
                assert shown == [(r.text, False) for r in live]

                polisher.finish_run(run.id)
                assert polisher.drain(timeout=120)
            finally:
                polisher.stop()
            best = read_best(store, run.id)
            polished = [r for r in best if r.type == POLISHED]
            assert polished, "nothing was polished"
            assert builder.step() == 1
            (transcript,) = store.list(kind="transcript")
            assert read(store, transcript) == best_text(best) + "\n"
            assert segments.step() == 1  # the polished text follows as its own segment
            sync(store, files)
            sync(store, files)  # a resend changes nothing at the center
        view = center_view(center.data)
        assert [(x["text"], x.get("polished", False)) for x in view] == [(r.text, r.type == POLISHED) for r in best]
        assert [x["text"] for x in center_view(center.data, "--live")] == [r.text for r in live]
    finally:
        center.stop()


def sync(store: AssetStore, files) -> None:
    syncer = Syncer(store, files.root)
    try:
        assert syncer.run(until_drained=True, timeout=60)
    finally:
        syncer.close()


def center_view(data, *flags: str) -> list[dict]:
    out = center_cli("captions", "--data", str(data), "--box", "truck-7", "--stream", "cam", "--json", *flags).stdout
    return [json.loads(line) for line in out.splitlines()]
