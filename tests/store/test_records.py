"""Specification of runs and time-stamped records (caption finals) in the store."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.events import CaptionEvent
from edge.store import AssetStore, DiskFullError, Record, Run, StoreError
from edge.store.records import CAPTION


def final(stream: str, text: str, start: float, end: float) -> CaptionEvent:
    return CaptionEvent("final", stream, text, start, end, end + 0.4)


def partial(stream: str, text: str, start: float, end: float) -> CaptionEvent:
    return CaptionEvent("partial", stream, text, start, end, end + 0.1)


@pytest.fixture
def store(tmp_path: Path):
    with AssetStore(tmp_path / "store") as s:
        yield s


def test_a_run_is_opened_and_closed(store: AssetStore) -> None:
    before = time.time()
    run = store.records.open_run("cam1", "rtsp://10.0.0.21/cam1", live=True)
    assert isinstance(run, Run) and run.stream == "cam1" and run.live
    assert before <= run.opened_at <= time.time() and run.origin == run.opened_at
    assert run.closed_at is None and run.close_reason is None and not run.tracks_built
    assert store.records.run(run.id) == run
    closed = store.records.close_run(run.id, "stopped from the dashboard")
    assert closed.closed_at is not None and closed.closed_at >= run.opened_at
    assert closed.close_reason == "stopped from the dashboard"
    again = store.records.close_run(run.id, "a second close changes nothing")
    assert again == closed
    assert store.records.runs() == [closed] and store.records.streams() == ["cam1"]


def test_runs_are_listed_newest_first_per_stream(store: AssetStore) -> None:
    a = store.records.open_run("cam1", "s", live=True)
    b = store.records.open_run("cam2", "s", live=False)
    c = store.records.open_run("cam1", "s", live=True)
    assert [r.id for r in store.records.runs()] == [c.id, b.id, a.id]
    assert [r.id for r in store.records.runs("cam1")] == [c.id, a.id]
    assert [r.id for r in store.records.runs(limit=1)] == [c.id]
    store.records.close_run(a.id, "eof")
    assert [r.id for r in store.records.runs(closed_without_tracks=True)] == [a.id]
    with store.db.write() as db:
        store.records.mark_tracks_built(db, a.id)
    assert store.records.runs(closed_without_tracks=True) == []
    with pytest.raises(KeyError):
        store.records.run("0" * 26)


@pytest.mark.parametrize("bad", ["", "../etc", "cam 1", "cam/1", "x" * 65, "caméra"])
def test_stream_names_that_cannot_name_a_run_are_refused(store: AssetStore, bad: str) -> None:
    with pytest.raises(StoreError, match="stream name"):
        store.records.open_run(bad, "s", live=True)
    assert store.records.runs() == []


def test_runs_left_open_by_a_crash_are_closed_at_the_next_start(tmp_path: Path) -> None:
    s = AssetStore(tmp_path)
    run = s.records.open_run("cam1", "rtsp://cam1", live=True, origin=1000.0)
    s.records.append_captions(run, [final("cam1", "one", 0, 1), final("cam1", "two", 1, 2.5)])
    done = s.records.open_run("cam2", "rtsp://cam2", live=True)
    s.records.close_run(done.id, "eof")
    s.close()  # the process died: the run was never closed

    with AssetStore(tmp_path) as again:
        assert again.records.run(run.id).closed_at is None
        closed = again.records.close_open_runs("box restarted")
        assert [r.id for r in closed] == [run.id]
        assert closed[0].close_reason == "box restarted"
        assert closed[0].closed_at == pytest.approx(1002.5)  # when its last record ended
        assert again.records.run(done.id).close_reason == "eof"  # closed runs are left alone
        assert again.records.close_open_runs("again") == []
        assert [r.text for r in again.records.read(run=run.id)] == ["one", "two"]


def test_an_open_run_without_records_is_closed_at_the_time_of_the_restart(tmp_path: Path) -> None:
    with AssetStore(tmp_path) as s:
        run = s.records.open_run("cam1", "s", live=True)
    before = time.time()
    with AssetStore(tmp_path) as s:
        [closed] = s.records.close_open_runs("crash")
        assert closed.id == run.id and closed.closed_at >= before


def test_finals_are_stored_with_a_box_wide_sequence_and_partials_never(store: AssetStore) -> None:
    run = store.records.open_run("cam1", "s", live=True)
    stored = store.records.append_captions(run, [
        partial("cam1", "the may", 0, 1), final("cam1", "the mayor", 0, 1.5), partial("cam1", "said", 1.5, 2)])
    assert [r.text for r in stored] == ["the mayor"]
    assert isinstance(stored[0], Record) and stored[0].type == CAPTION and stored[0].run == run.id
    assert store.records.append_captions(run, [partial("cam1", "only a partial", 2, 3)]) == []
    assert store.records.append_captions(run, []) == []
    assert [r.text for r in store.records.read()] == ["the mayor"] and store.records.count() == 1
    more = store.records.append_captions(run, [final("cam1", "two", 2, 3), final("cam1", "three", 3, 4)])
    seqs = [r.seq for r in stored + more]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert store.records.last_seq() == seqs[-1]
    assert store.records.read() == stored + more  # what was returned is what is stored


def test_records_keep_their_sequence_after_a_reopen(tmp_path: Path) -> None:
    with AssetStore(tmp_path) as s:
        run = s.records.open_run("cam1", "s", live=True)
        first = s.records.append_captions(run, [final("cam1", "one", 0, 1)])
    with AssetStore(tmp_path) as s:
        assert s.records.read() == first
        run = s.records.open_run("cam1", "s", live=True)
        [second] = s.records.append_captions(run, [final("cam1", "two", 0, 1)])
        assert second.seq > first[0].seq and s.records.last_seq() == second.seq


def test_paging_with_after_returns_each_record_once(store: AssetStore) -> None:
    run = store.records.open_run("cam1", "s", live=True)
    made = store.records.append_captions(run, [final("cam1", f"line {i}", i, i + 1) for i in range(25)])
    pages, after = [], 0
    while page := store.records.read(after=after, limit=10):
        pages.append(page)
        after = page[-1].seq
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [r for p in pages for r in p] == made
    assert store.records.read(after=store.records.last_seq()) == []
    assert store.records.read(after=made[-2].seq) == [made[-1]]
    assert len(store.records.read(limit=None)) == 25


def test_reading_by_run_never_mixes_runs_even_with_the_same_stream_times(store: AssetStore) -> None:
    # Stream time restarts at 0 in every run: the same seconds mean different moments.
    one = store.records.open_run("cam1", "s", live=True, origin=1000.0)
    two = store.records.open_run("cam1", "s", live=True, origin=5000.0)
    other = store.records.open_run("cam2", "s", live=True, origin=1000.0)
    for i in range(3):
        store.records.append_captions(one, [final("cam1", f"first run {i}", i, i + 1)])
        store.records.append_captions(two, [final("cam1", f"second run {i}", i, i + 1)])
        store.records.append_captions(other, [final("cam2", f"other stream {i}", i, i + 1)])
    assert [r.text for r in store.records.read(run=one.id)] == [f"first run {i}" for i in range(3)]
    assert [r.text for r in store.records.read(run=two.id)] == [f"second run {i}" for i in range(3)]
    assert {r.run for r in store.records.read(stream="cam1")} == {one.id, two.id}
    assert {r.stream for r in store.records.read(stream="cam2")} == {"cam2"}
    assert store.records.read(type="ocr_line") == []
    page = store.records.read(run=one.id, after=store.records.read(run=one.id)[0].seq)
    assert [r.text for r in page] == ["first run 1", "first run 2"]


def test_wall_clock_time_comes_from_the_run_origin(store: AssetStore) -> None:
    run = store.records.open_run("cam1", "s", live=True, origin=1715670000.0)
    assert run.wall(12.5) == 1715670012.5
    [rec] = store.records.append_captions(run, [final("cam1", "hello", 12.5, 14.0)])
    assert (rec.start, rec.end) == (12.5, 14.0)
    assert (rec.wall_start, rec.wall_end) == (1715670012.5, 1715670014.0)
    # The camera's first audio came later than the run opened: anchor second 0 to it.
    live = store.records.open_run("cam2", "s", live=True)
    moved = store.records.set_origin(live.id, live.opened_at + 3.0)
    assert moved.origin == live.opened_at + 3.0
    [later] = store.records.append_captions(moved, [final("cam2", "x", 1.0, 2.0)])
    assert later.wall_start == pytest.approx(live.opened_at + 4.0)
    store.records.close_run(moved.id, "eof")
    assert store.records.set_origin(moved.id, 0.0).origin == moved.origin  # a closed run keeps its origin
    assert store.records.read(run=run.id)[0].to_json()["wall_start"] == 1715670012.5


def test_search_finds_records_by_word_ignoring_case_and_accents(store: AssetStore) -> None:
    cam1 = store.records.open_run("cam1", "s", live=True)
    cam2 = store.records.open_run("cam2", "s", live=True)
    [fire] = store.records.append_captions(cam1, [final("cam1", "The Harbour fire is out", 0, 3)])
    store.records.append_captions(cam1, [partial("cam1", "harbour again", 3, 4)])
    [cafe] = store.records.append_captions(cam2, [final("cam2", "Interview at the Café Central", 0, 2)])
    assert [r.seq for r in store.records.search("HARBOUR")] == [fire.seq]
    assert [r.seq for r in store.records.search("harb")] == [fire.seq]  # prefix of the last word
    assert [r.seq for r in store.records.search("fire harbour")] == [fire.seq]
    assert store.records.search("harbour", stream="cam2") == []
    assert [r.seq for r in store.records.search("harbour", stream="cam1")] == [fire.seq]
    assert [r.seq for r in store.records.search("cafe")] == [cafe.seq]
    assert store.records.search("arbour") == [] and store.records.search("") == []
    assert store.records.search('"') == [] and store.records.search("NEAR(") == []


def test_search_ranks_better_matches_first(store: AssetStore) -> None:
    run = store.records.open_run("cam1", "s", live=True)
    weak, strong = store.records.append_captions(run, [
        final("cam1", "The bridge is long and the river below it is wide and slow today", 0, 3),
        final("cam1", "bridge bridge bridge", 3, 4)])
    assert [r.seq for r in store.records.search("bridge")] == [strong.seq, weak.seq]
    assert len(store.records.search("bridge", limit=1)) == 1


def test_a_refused_space_check_writes_nothing(tmp_path: Path) -> None:
    from collections import namedtuple

    Usage = namedtuple("Usage", "total used free")
    free = {"bytes": 10 << 30}
    with AssetStore(tmp_path, disk_floor_bytes=0, reserve_bytes=1 << 20,
                    disk_usage=lambda p: Usage(20 << 30, 0, free["bytes"])) as s:
        run = s.records.open_run("cam1", "s", live=True)
        s.records.append_captions(run, [final("cam1", "before", 0, 1)])
        seq = s.records.last_seq()
        free["bytes"] = 1 << 20  # only the reserve is left
        with pytest.raises(DiskFullError, match="refusing to write"):
            s.records.append_captions(run, [final("cam1", "after", 1, 2)])
        with pytest.raises(DiskFullError):
            s.records.open_run("cam2", "s", live=True)
        assert s.records.last_seq() == seq and [r.text for r in s.records.read()] == ["before"]
        assert s.records.search("after") == [] and [r.id for r in s.records.runs()] == [run.id]
        # Closing a run is housekeeping-sized and still allowed.
        assert s.records.close_run(run.id, "disk full").close_reason == "disk full"
