"""Specification of the per-stream caption logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from edge.events import CaptionEvent
from edge.store import CaptionLog, StoreError


def final(stream: str, text: str, start: float, end: float) -> CaptionEvent:
    return CaptionEvent("final", stream, text, start, end, end + 0.4)


def partial(stream: str, text: str, start: float, end: float) -> CaptionEvent:
    return CaptionEvent("partial", stream, text, start, end, end + 0.1)


def test_finals_are_appended_to_one_file_per_stream_with_monotonic_ids(tmp_path: Path) -> None:
    log = CaptionLog(tmp_path)
    assert log.append([final("cam1", "one", 0, 1), final("cam2", "uno", 0, 1), final("cam1", "two", 1, 2)]) == 3
    assert log.append([final("cam1", "three", 2, 3)]) == 1
    assert [r["id"] for r in log.read("cam1")] == ["cam1:1", "cam1:2", "cam1:3"]
    assert [r["id"] for r in log.read("cam2")] == ["cam2:1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam1.jsonl", "cam2.jsonl"]
    assert log.streams() == ["cam1", "cam2"]
    first = json.loads((tmp_path / "cam1.jsonl").read_text().splitlines()[0])
    assert first == {"id": "cam1:1", "type": "final", "stream": "cam1", "text": "one", "start": 0, "end": 1,
                     "emitted_at": 1.4}
    log.close()


def test_ids_keep_counting_after_a_reopen(tmp_path: Path) -> None:
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "one", 0, 1), final("cam1", "two", 1, 2)])
    log.close()
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "three", 2, 3)])
    assert [r["id"] for r in log.read("cam1")] == ["cam1:1", "cam1:2", "cam1:3"]
    assert log.last_id("cam1") == "cam1:3"
    log.close()


def test_partials_are_skipped_unless_asked_for(tmp_path: Path) -> None:
    log = CaptionLog(tmp_path)
    assert log.append([partial("cam1", "the may", 0, 1), final("cam1", "the mayor", 0, 1.5)]) == 1
    assert log.append([partial("cam1", "said", 1.5, 2)], keep_partials=True) == 1
    assert [r["type"] for r in log.read("cam1")] == ["final", "partial"]
    assert [r["text"] for r in log.read("cam1", types=("final",))] == ["the mayor"]
    log.close()


def test_a_torn_last_line_is_cut_away_at_open(tmp_path: Path, caplog) -> None:
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "one", 0, 1), final("cam1", "two", 1, 2)])
    log.close()
    path = tmp_path / "cam1.jsonl"
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"id": "cam1:3", "type": "final", "stream": "cam1", "text": "thr')  # power cut mid-write

    with caplog.at_level(logging.WARNING, logger="edge.store"):
        log = CaptionLog(tmp_path)
    assert "torn" in caplog.text
    assert path.read_bytes() == good
    assert [r["text"] for r in log.read("cam1")] == ["one", "two"]
    log.append([final("cam1", "three", 2, 3)])
    assert [r["id"] for r in log.read("cam1")] == ["cam1:1", "cam1:2", "cam1:3"]
    log.close()


@pytest.mark.parametrize("tail", [b"\x00" * 512, b'{"id": "cam1:3"}\n', b"garbage\n\x00\x00"])
def test_a_garbled_tail_is_cut_away_at_open(tmp_path: Path, tail: bytes) -> None:
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "one", 0, 1)])
    log.close()
    with open(tmp_path / "cam1.jsonl", "ab") as f:
        f.write(tail)
    log = CaptionLog(tmp_path)
    assert [r["text"] for r in log.read()] == ["one"]
    log.close()


def test_a_damaged_line_in_the_middle_is_skipped_not_cut(tmp_path: Path) -> None:
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "one", 0, 1)])
    log.close()
    with open(tmp_path / "cam1.jsonl", "ab") as f:
        f.write(b"bit rot\n")
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "two", 1, 2)])
    log.close()
    log = CaptionLog(tmp_path)
    assert [r["text"] for r in log.read()] == ["one", "two"]
    log.close()


def test_since_keeps_captions_that_end_after_it(tmp_path: Path) -> None:
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "a", 0, 4), final("cam1", "b", 4, 9), final("cam1", "c", 9, 12), final("cam2", "d", 8, 10)])
    assert [r["text"] for r in log.read(since=8.5)] == ["b", "d", "c"]  # all streams, in stream time order
    assert [r["text"] for r in log.read("cam1", since=9)] == ["c"]
    assert log.read("cam1", since=12) == []
    log.close()


def test_search_looks_at_final_text_ignoring_case(tmp_path: Path) -> None:
    log = CaptionLog(tmp_path)
    log.append([final("cam1", "The Harbour fire is out", 0, 3), final("cam2", "no news", 0, 1)])
    log.append([partial("cam1", "harbour again", 3, 4)], keep_partials=True)
    assert [r["id"] for r in log.search("HARBOUR")] == ["cam1:1"]
    assert log.search("harbour", stream="cam2") == []
    log.close()


@pytest.mark.parametrize("bad", ["", "../etc", "cam 1", "cam/1", "x" * 65, "caméra"])
def test_stream_names_that_cannot_be_file_names_are_refused(tmp_path: Path, bad: str) -> None:
    log = CaptionLog(tmp_path)
    with pytest.raises(StoreError, match="stream name"):
        log.append([final(bad, "text", 0, 1)])
    assert list(tmp_path.iterdir()) == []
    log.close()


def test_a_refused_space_check_writes_nothing(tmp_path: Path) -> None:
    def full(nbytes: int) -> None:
        raise StoreError("no space")

    log = CaptionLog(tmp_path, check_space=full)
    with pytest.raises(StoreError):
        log.append([final("cam1", "text", 0, 1)])
    assert log.read() == [] and list(tmp_path.iterdir()) == []
    log.close()
