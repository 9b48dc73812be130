"""Reading old-format box data directories (edge.store.legacy) for the one-time import.

The fixture tests/fixtures/legacy_datadir.tar.gz was made by the OLD code
(tests/fixtures/make_legacy_datadir.py, run against commit b06914b); the
literals below are what that script put in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from edge.store.legacy import LegacyCaption, LegacyData, find_legacy, read_legacy

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_datadir.tar.gz"

EXPIRED_KEYFRAME = "17cf48da00be7300525ccb9159"
FAILED_UPLOAD = "17cf48eb7717a100d9e81d3f26"
DUP_UPLOAD = "17cf664d113a5900b735346e0c"
EVICTED_MEDIA = "17cf48f01f2f690040f0c62249"
NOTE_C = "17cf9ded456c8c0002689f32a4"
NO_KIND = "17cf9df2e1e55c00592686ee1d"
BAD_SIZE = "17cf9df31d8026001f9489b839"
QUARANTINED = [(NO_KIND, "kind: missing"), (BAD_SIZE, "size: '12x' is not a non-negative integer")]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def tree_digest(root: Path) -> dict[str, tuple]:
    """Every entry under root: type, mode, size, mtime and content hash (atime left out: reading sets it)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


# -- the fixture as the old code left it ---------------------------------------------------------


def test_fixture_is_small() -> None:
    assert FIXTURE.stat().st_size < 200 * 1024


def test_finds_the_old_format(data_dir: Path, tmp_path: Path) -> None:
    assert find_legacy(data_dir)
    assert not find_legacy(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    (empty / "store" / "captions").mkdir(parents=True)
    (empty / "sync").mkdir()
    (empty / "sync" / "outbox.sqlite").write_bytes(b"")  # an outbox alone is not an old store
    assert not find_legacy(empty)
    (empty / "store" / "captions" / "cam1.jsonl").write_bytes(b"")
    assert find_legacy(empty)


@pytest.mark.parametrize("keep", ["assets.json", "assets.json.bak"])
def test_finds_an_index_or_its_backup_alone(data_dir: Path, tmp_path: Path, keep: str) -> None:
    only = tmp_path / "only" / "store"
    only.mkdir(parents=True)
    (only / keep).write_bytes((data_dir / "store" / keep).read_bytes())
    assert find_legacy(only.parent)


def test_assets(data_dir: Path) -> None:
    data = read_legacy(data_dir)
    assert isinstance(data, LegacyData)
    assert len(data.assets) == 18
    assert Counter(a["kind"] for a in data.assets) == {
        "keyframe": 4, "note": 3, "upload": 3, "caption_track": 3, "transcript": 3, "media": 2}
    assert Counter(a["sync"] for a in data.assets) == {"pending": 14, "synced": 3, "evicted": 1}
    ids = [a["id"] for a in data.assets]
    assert ids == sorted(ids) and len(set(ids)) == 18
    assert {a["id"] for a in data.assets if a["sync"] == "evicted"} == {EVICTED_MEDIA}

    # As stored: the valid rows of assets.json, unchanged.
    stored = json.loads((data_dir / "store" / "assets.json").read_bytes())["assets"]
    assert all(a == stored[a["id"]] for a in data.assets)
    by_id = {a["id"]: a for a in data.assets}
    assert by_id[NOTE_C]["tags"] == ["bridge", "checked"]  # the last write before the fixture was packed
    assert by_id[EXPIRED_KEYFRAME]["meta"]["sync_expired_at"] > by_id[EXPIRED_KEYFRAME]["created_at"]
    assert by_id[FAILED_UPLOAD]["sha256"] == by_id[DUP_UPLOAD]["sha256"]  # one blob, two assets


def test_blobs_dir_holds_the_bytes_of_every_asset_not_evicted(data_dir: Path) -> None:
    data = read_legacy(data_dir)
    assert data.blobs_dir == data_dir / "store" / "blobs"
    for a in data.assets:
        blob = data.blobs_dir / a["sha256"][:2] / a["sha256"][2:4] / a["sha256"]
        if a["sync"] == "evicted":
            assert not blob.exists()
        else:
            assert blob.read_bytes() and hashlib.sha256(blob.read_bytes()).hexdigest() == a["sha256"]
            assert blob.stat().st_size == a["size"]


def test_bad_rows_are_quarantined_with_a_reason(data_dir: Path) -> None:
    data = read_legacy(data_dir)
    assert data.quarantined == QUARANTINED
    assert {NO_KIND, BAD_SIZE}.isdisjoint(a["id"] for a in data.assets)


def test_captions_are_finals_in_file_order(data_dir: Path) -> None:
    captions = read_legacy(data_dir).captions
    assert set(captions) == {"cam1", "studio-b"}
    assert {s: len(c) for s, c in captions.items()} == {"cam1": 37, "studio-b": 24}
    for stream, finals in captions.items():
        assert all(isinstance(c, LegacyCaption) and c.stream == stream and c.type == "final" for c in finals)
        seqs = [c.seq for c in finals]
        assert seqs == sorted(seqs)
        assert all(c.text and c.end >= c.start and c.emitted_at > 1.7e9 for c in finals)
    # Partials (cam1:3, cam1:11, studio-b:5, ...) are left out; so is cam1:9, rotten mid-file.
    cam1 = [c.seq for c in captions["cam1"]]
    assert {3, 9, 11}.isdisjoint(cam1) and max(cam1) == 40
    assert captions["cam1"][0] == LegacyCaption(
        "cam1", 1, "final", "The mayor is expected to speak after the vote.", 0.8, 4.016, 1715670004.616, 0)


def test_a_torn_last_line_is_skipped(data_dir: Path) -> None:
    log = data_dir / "store" / "captions" / "studio-b.jsonl"
    assert not log.read_bytes().endswith(b"\n")  # the old box lost power mid-append
    assert b'"id": "studio-b:27"' in log.read_bytes().rsplit(b"\n", 1)[1]
    studio = read_legacy(data_dir).captions["studio-b"]
    assert studio[-1].seq == 26 and studio[-1].text == "The council meets at nine to vote on the transport budget."


def test_runs_split_where_stream_time_restarts(data_dir: Path) -> None:
    captions = read_legacy(data_dir).captions
    # cam1 captioned through three box starts, studio-b (added in the second) through two.
    assert Counter(c.run_index for c in captions["cam1"]) == {0: 15, 1: 12, 2: 10}
    assert Counter(c.run_index for c in captions["studio-b"]) == {0: 14, 1: 10}
    for finals in captions.values():
        runs = [c.run_index for c in finals]
        assert runs == sorted(runs)  # runs are contiguous in file order
        for prev, cur in zip(finals, finals[1:]):
            if cur.run_index != prev.run_index:
                assert cur.start < 3.0 < prev.start  # stream time went back to (about) 0
    # In cam1's third run one final starts 0.5 s before the one before it: still the same run.
    third = [c for c in captions["cam1"] if c.run_index == 2]
    steps = [cur.start - prev.start for prev, cur in zip(third, third[1:])]
    assert min(steps) == pytest.approx(-0.5)


def test_outbox_items_and_notices(data_dir: Path) -> None:
    data = read_legacy(data_dir)
    assert data.outbox == {
        EXPIRED_KEYFRAME: {"attempts": 0, "acked_bytes": 0, "state": "expired",
                           "last_error": "expired: never synced within its TTL"},
        FAILED_UPLOAD: {"attempts": 2, "acked_bytes": 1024, "state": "queued",
                        "last_error": "center: sha256 mismatch at commit"},
    }
    assert len(data.notices) == 1
    notice = data.notices[0]
    assert set(notice) == {"topic", "payload", "created_at"}
    assert notice["topic"] == "edge/box-07/assets"
    assert notice["payload"]["event"] == "synced" and notice["payload"]["asset_id"] == EVICTED_MEDIA
    assert notice["created_at"] == pytest.approx(1715695402.204)


def test_missing_outbox_is_fine(data_dir: Path) -> None:
    (data_dir / "sync" / "outbox.sqlite").unlink()
    data = read_legacy(data_dir)
    assert data.outbox == {} and data.notices == []
    assert len(data.assets) == 18


def test_damaged_outbox_reads_as_empty(data_dir: Path) -> None:
    (data_dir / "sync" / "outbox.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 600)
    data = read_legacy(data_dir)
    assert data.outbox == {} and data.notices == []


def test_uncheckpointed_outbox_changes_are_read_without_touching_the_files(data_dir: Path) -> None:
    """A crashed box leaves committed outbox changes in outbox.sqlite-wal: they count."""
    path = data_dir / "sync" / "outbox.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # as the old Outbox left it
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("INSERT INTO notices (topic, payload, created_at) VALUES (?, ?, ?)",
                   ("edge/box-07/assets", json.dumps({"event": "queued"}), 1715700000.0))
        db.execute("UPDATE items SET attempts = 3 WHERE asset_id = ?", (FAILED_UPLOAD,))
        assert (data_dir / "sync" / "outbox.sqlite-wal").stat().st_size > 0
        before = tree_digest(data_dir)
        data = read_legacy(data_dir)
        assert tree_digest(data_dir) == before
    finally:
        db.close()
    assert [n["payload"] for n in data.notices][1:] == [{"event": "queued"}]
    assert data.outbox[FAILED_UPLOAD]["attempts"] == 3


# -- damage ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "empty", "missing", "not tables", "garbage bytes"])
def test_damaged_index_falls_back_to_its_backup(data_dir: Path, damage: str) -> None:
    main = data_dir / "store" / "assets.json"
    payload = main.read_bytes()
    if damage == "truncated":
        main.write_bytes(payload[: len(payload) // 2])
    elif damage == "empty":
        main.write_bytes(b"")
    elif damage == "missing":
        main.unlink()
    elif damage == "not tables":
        main.write_bytes(b'{"assets": []}')
    else:
        main.write_bytes(b"\x00\xff" * 100)
    data = read_legacy(data_dir)
    # The backup is the index before its last write, which tagged a note "checked".
    assert len(data.assets) == 18
    assert {a["id"]: a for a in data.assets}[NOTE_C]["tags"] == ["bridge"]
    assert data.quarantined == QUARANTINED
    assert find_legacy(data_dir)


def test_index_and_backup_both_damaged(data_dir: Path) -> None:
    (data_dir / "store" / "assets.json").write_bytes(b"{")
    (data_dir / "store" / "assets.json.bak").write_bytes(b"")
    data = read_legacy(data_dir)
    assert data.assets == [] and data.quarantined == []
    assert len(data.captions["cam1"]) == 37 and len(data.outbox) == 2  # the rest is still read


def test_nothing_to_read(tmp_path: Path) -> None:
    data = read_legacy(tmp_path / "nowhere")
    assert data == LegacyData(blobs_dir=tmp_path / "nowhere" / "store" / "blobs")
    assert (data.assets, data.quarantined, data.captions, data.outbox, data.notices) == ([], [], {}, {}, [])


def test_reading_modifies_nothing(data_dir: Path) -> None:
    before = tree_digest(data_dir)
    assert len(before) > 30
    read_legacy(data_dir)
    find_legacy(data_dir)
    assert tree_digest(data_dir) == before
    # Nor with the damage the old code repaired at open (cut the torn line, restored the index).
    (data_dir / "store" / "assets.json").write_bytes(b'{"assets": {"x"')
    before = tree_digest(data_dir)
    read_legacy(data_dir)
    assert tree_digest(data_dir) == before


# -- row validation and caption parsing on made-up data ------------------------------------------------

GOOD = {
    "id": "17cf48e0fce21f00d1a9aea9c4", "kind": "note", "stream": None, "start": None, "end": None,
    "created_at": 1715670114.0, "sha256": "a" * 64, "size": 73, "mime": "text/plain", "name": "n.txt",
    "tags": ["x"], "provenance": {}, "sync": "pending", "synced_at": None, "meta": {},
}


def write_index(data_dir: Path, rows: dict) -> None:
    store = data_dir / "store"
    store.mkdir(parents=True, exist_ok=True)
    (store / "assets.json").write_text(json.dumps({"assets": rows}))


@pytest.mark.parametrize(("change", "reason"), [
    ({"kind": "podcast"}, "kind: 'podcast' is not a known asset kind"),
    ({"kind": None}, "kind: None is not a known asset kind"),
    ({"id": "17CF48E0FCE21F00D1A9AEA9C4"}, "id: '17CF48E0FCE21F00D1A9AEA9C4' is not an asset id"),
    ({"id": "17cf48e0fce21f00d1a9aea9c5"}, "id: '17cf48e0fce21f00d1a9aea9c5' differs from its index key"),
    ({"sha256": "a" * 63}, f"sha256: '{'a' * 36}... is not a sha256"),
    ({"size": -1}, "size: -1 is not a non-negative integer"),
    ({"size": 1.5}, "size: 1.5 is not a non-negative integer"),
    ({"size": True}, "size: True is not a non-negative integer"),
    ({"sync": "done"}, "sync: 'done' is not pending, synced or evicted"),
    ({"start": "0"}, "start: '0' is not a number or null"),
    ({"start": 5.0, "end": 2.0}, "end: 2.0 is before start 5.0"),
    ({"tags": "x"}, "tags: 'x' is not a list of strings"),
    ({"tags": ["x", 1]}, "tags: ['x', 1] is not a list of strings"),
    ({"meta": []}, "meta: [] is not an object"),
    ({"provenance": None}, "provenance: None is not an object"),
    ({"name": ""}, "name: '' is not a non-empty string"),
    ({"created_at": "yesterday"}, "created_at: 'yesterday' is not a number"),
    ({"stream": 7}, "stream: 7 is not a string or null"),
    ({"size": "12x", "name": None}, "size: '12x' is not a non-negative integer; name: None is not a non-empty string"),
])
def test_row_validation(tmp_path: Path, change: dict, reason: str) -> None:
    write_index(tmp_path, {GOOD["id"]: {**GOOD, **change}})
    data = read_legacy(tmp_path)
    assert data.assets == [] and data.quarantined == [(GOOD["id"], reason)]


def test_rows_that_are_fine(tmp_path: Path) -> None:
    minimal = {k: GOOD[k] for k in ("id", "kind", "created_at", "sha256", "size", "name")}
    other = {**GOOD, "id": "17cf48e0fce21f00d1a9aea9c3", "kind": "media", "start": 0, "end": 1.5, "size": 0,
             "sync": "evicted", "synced_at": 1715670200.5, "extra": "kept"}
    write_index(tmp_path, {GOOD["id"]: minimal, other["id"]: other, "junk": [1, 2]})
    data = read_legacy(tmp_path)
    assert [a["id"] for a in data.assets] == [other["id"], GOOD["id"]]  # oldest id first
    assert data.assets[0] == other
    # A row without the optional fields gets the old model's defaults.
    assert data.assets[1] == {**minimal, "stream": None, "start": None, "end": None,
                              "mime": "application/octet-stream", "tags": [], "provenance": {},
                              "sync": "pending", "synced_at": None, "meta": {}}
    assert data.quarantined == [("junk", "not an object (list)")]


def write_log(data_dir: Path, name: str, payload: bytes) -> None:
    root = data_dir / "store" / "captions"
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(payload)


def line(stream: str, n: int, start: float, type_: str = "final", **extra) -> bytes:
    record = {"id": f"{stream}:{n}", "type": type_, "stream": stream, "text": f"t{n}", "start": start,
              "end": start + 1, "emitted_at": 1715670000.0 + n, **extra}
    return json.dumps(record).encode() + b"\n"


def test_garbage_caption_lines_are_skipped(tmp_path: Path) -> None:
    write_log(tmp_path, "s1.jsonl", b"".join([
        line("s1", 1, 0.0),
        b"\xff\xfe not utf-8\n",
        b"[1, 2, 3]\n",
        b"\n",
        line("s2", 2, 1.0),  # another stream's id
        line("s1", 3, 2.0)[:-2].replace(b'"text"', b'"txt"') + b"}\n",  # no text
        line("s1", 4, 3.0).replace(b'"start": 3.0', b'"start": true'),
        line("s1", 5, 4.0).replace(b'"s1:5"', b'"s1:x"'),
        line("s1", 6, 5.0, "partial"),
        line("s1", 7, 6.0),
        b'{"id": "s1:8", "type": "final", "text": "to',  # torn
    ]))
    write_log(tmp_path, "bad name.jsonl", line("bad name", 1, 0.0))
    write_log(tmp_path, "empty.jsonl", b"")
    data = read_legacy(tmp_path)
    assert set(data.captions) == {"s1", "empty"}
    assert [c.seq for c in data.captions["s1"]] == [1, 7]
    assert data.captions["empty"] == []


def test_a_complete_last_line_without_newline_is_torn(tmp_path: Path) -> None:
    """Every old append ended in a newline; a line without one was cut short, whatever it parses as."""
    write_log(tmp_path, "s1.jsonl", line("s1", 1, 0.0) + line("s1", 2, 1.0)[:-1])
    assert [c.seq for c in read_legacy(tmp_path).captions["s1"]] == [1]


def test_run_splitting_threshold(tmp_path: Path) -> None:
    starts = [0.5, 3.0, 2.0, 6.0, 4.99, 1.0, 9.0, 0.2]
    # 3.0 -> 2.0: back 1.0 s (not more): same run. 6.0 -> 4.99: back 1.01 s: new run.
    write_log(tmp_path, "s1.jsonl", b"".join(line("s1", i + 1, s) for i, s in enumerate(starts))
              + line("s1", 20, 0.0, "partial"))  # partials do not count
    caps = read_legacy(tmp_path).captions["s1"]
    assert [c.run_index for c in caps] == [0, 0, 0, 0, 1, 2, 2, 3]
