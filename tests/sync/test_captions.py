"""`edge-center captions`: live caption segments from a real box store, synced to a real center, read back in order."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cloud_sync.syncer import Syncer
from cloud_sync.zmq_transfer import Offer
from edge.ids import IdClock
from edge.store import AssetStore

from .conftest import center_cli, make_box
from .test_protocol import client_for

CLOCK = IdClock()
RUN1, RUN2 = CLOCK.next(), CLOCK.next()  # RUN1 was created first
WALL0 = 1_790_000_000.0


def final(run: str, seq: int, text: str) -> dict:
    return {"run": run, "seq": seq, "text": text, "start": seq * 2.0, "end": seq * 2.0 + 1.5,
            "wall_start": WALL0 + seq * 2.0, "wall_end": WALL0 + seq * 2.0 + 1.5}


def body(lines: list) -> bytes:
    return b"".join((x if isinstance(x, bytes) else json.dumps(x).encode()) + b"\n" for x in lines)


def add_segment(store: AssetStore, stream: str, run: str, finals: list[dict], extra: list | None = None):
    return store.add_bytes(body([*finals, *(extra or [])]), kind="caption_segment", name=f"{stream}-{run}",
                           mime="application/x-ndjson", stream=stream, start=finals[0]["start"],
                           end=finals[-1]["end"],
                           meta={"run": run, "first_seq": finals[0]["seq"], "last_seq": finals[-1]["seq"]})


def captions(cdir: Path, *args: str) -> list[dict]:
    out = center_cli("captions", "--data", str(cdir), *args, "--json").stdout
    return [json.loads(line) for line in out.splitlines()]


def test_captions_per_stream_and_run_in_order_deduplicated_and_hostile_lines_skipped(center, tmp_path):
    files = make_box(tmp_path / "box", "truck-7", center.data, center.endpoint, server=center.server)
    r1 = [final(RUN1, i, f"run one line {i}") for i in range(6)]
    r2 = [final(RUN2, i, f"run two line {i}") for i in range(3)]
    hostile = [b"not json", b"[" * 100_000, b'{"run": "../x", "seq": 9, "text": "x", "start": 0, "end": 1}',
               {**final(RUN1, 7, "seq as text"), "seq": "7"}, {**final(RUN1, 8, "inf"), "end": 1e999},
               {**final(RUN2, 9, "another run inside run one's segment")}, b"\xff\xfe", b"null"]
    with AssetStore(files.store) as store:
        # Sent out of order, with an overlap (seq 2 twice) as a box resending after a crash would.
        add_segment(store, "main", RUN2, r2)
        add_segment(store, "main", RUN1, r1[3:], hostile)
        add_segment(store, "main", RUN1, r1[:3])
        add_segment(store, "main", RUN1, [r1[2]])
        add_segment(store, "side", RUN1, [final(RUN1, 0, "side camera")])
        store.add_bytes(b"WEBVTT\n", kind="caption_track", name="main.vtt", stream="main", meta={"run": RUN1})
        syncer = Syncer(store, files.root)
        assert syncer.run(until_drained=True, timeout=60)
        syncer.close()

    got = captions(center.data, "--box", "truck-7", "--stream", "main")
    assert [(x["run"], x["text"]) for x in got] == [(RUN1, f.get("text")) for f in r1] + [(RUN2, f["text"]) for f in r2]
    assert got[0] == {"box": "truck-7", "stream": "main", "run": RUN1, "text": "run one line 0", "start": 0.0,
                      "end": 1.5, "wall_start": WALL0}
    every = captions(center.data, "--box", "truck-7")
    assert [x["stream"] for x in every] == ["main"] * 9 + ["side"]
    assert captions(center.data, "--box", "someone-else") == []
    # Readable form: one line per final, in the same order.
    text = center_cli("captions", "--data", str(center.data), "--box", "truck-7", "--stream", "main").stdout
    lines = text.splitlines()
    assert len(lines) == 9 and "run one line 0" in lines[0] and "run two line 2" in lines[-1]


def test_a_segment_with_terminal_escapes_prints_them_escaped(center, tmp_path):
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    data = body([final(RUN1, 0, "\x1b]0;owned\x07\x1b[2Jhello")])
    sha = hashlib.sha256(data).hexdigest()
    (tmp_path / "seg").write_bytes(data)
    c = client_for(files)
    c.send_asset(Offer("cam1", CLOCK.next(), sha, len(data),
                       {"kind": "caption_segment", "stream": "main", "meta": {"run": RUN1}}), tmp_path / "seg")
    c.close()
    text = center_cli("captions", "--data", str(center.data), "--box", "cam1").stdout
    assert "\x1b" not in text and "\x07" not in text and "\\x1b]0;owned\\x07\\x1b[2Jhello" in text
    assert captions(center.data, "--box", "cam1")[0]["text"] == "\x1b]0;owned\x07\x1b[2Jhello"  # JSON keeps the text


def test_export_writes_caption_segments_as_one_ordered_file_per_run(center, tmp_path):
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    r1 = [final(RUN1, i, f"line {i}") for i in range(4)]
    with AssetStore(files.store) as store:
        add_segment(store, "main", RUN1, r1[2:])
        add_segment(store, "main", RUN1, r1[:3])
        syncer = Syncer(store, files.root)
        assert syncer.run(until_drained=True, timeout=60)
        syncer.close()
    out = tmp_path / "export"
    center_cli("export", "--data", str(center.data), "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert {a["file"] for a in manifest["assets"]} == {f"cam1/captions/main/{RUN1}.jsonl"}
    lines = [json.loads(x) for x in (out / "cam1" / "captions" / "main" / f"{RUN1}.jsonl").read_text().splitlines()]
    assert [x["text"] for x in lines] == [f"line {i}" for i in range(4)]
