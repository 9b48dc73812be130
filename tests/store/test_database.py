"""Specification of the crash-safe index file and of the one-writer rule."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.store import AssetStore, CrashSafeStorage, StoreError

ROOT = Path(__file__).resolve().parents[2]


def _fill(root: Path, n: int) -> list[str]:
    with AssetStore(root) as s:
        return [s.add_bytes(f"asset {i}".encode(), kind="note", name=f"n{i}").id for i in range(n)]


def test_every_write_leaves_a_valid_file_and_the_previous_version_as_backup(tmp_path: Path) -> None:
    ids = _fill(tmp_path, 3)
    main, bak = tmp_path / "assets.json", tmp_path / "assets.json.bak"
    assert list(json.loads(main.read_bytes())["assets"]) == ids
    assert list(json.loads(bak.read_bytes())["assets"]) == ids[:2]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_truncated_database_is_recovered_from_the_last_good_copy(tmp_path: Path, caplog) -> None:
    before = _fill(tmp_path, 5)  # acknowledged, and in the backup once a later write rotates it
    with AssetStore(tmp_path) as s:
        last = s.add_bytes(b"the write that gets damaged", kind="note", name="last").id
    main = tmp_path / "assets.json"
    main.write_bytes(main.read_bytes()[: main.stat().st_size // 2])

    with caplog.at_level(logging.WARNING, logger="edge.store"), AssetStore(tmp_path) as s:
        assert [a.id for a in s.list(newest_first=False)] == before
        assert all(s.content_path(i).read_bytes() == f"asset {n}".encode() for n, i in enumerate(before))
        with pytest.raises(KeyError):
            s.get(last)  # only the damaged file's own last write is lost
        s.add_bytes(b"writable again", kind="note", name="after")
    assert "damaged" in caplog.text and "recovered" in caplog.text
    assert (tmp_path / "assets.json.damaged").exists()  # kept for a post-mortem
    with AssetStore(tmp_path) as s:
        assert s.count() == 6


@pytest.mark.parametrize("garbage", [b"\x00" * 4096, b"{\"assets\": {\"1\": ", b"[1, 2, 3]", b"\xff\xfe not json", b""])
def test_a_garbled_database_is_recovered_from_the_last_good_copy(tmp_path: Path, garbage: bytes) -> None:
    before = _fill(tmp_path, 4)
    (tmp_path / "assets.json").write_bytes(garbage)
    with AssetStore(tmp_path) as s:
        assert [a.id for a in s.list(newest_first=False)] == before[:3]


def test_a_missing_database_with_a_backup_is_recovered_from_it(tmp_path: Path) -> None:
    # The rename fallback (filesystems without hard links) has an instant with no main file.
    before = _fill(tmp_path, 3)
    (tmp_path / "assets.json").unlink()
    with AssetStore(tmp_path) as s:
        assert [a.id for a in s.list(newest_first=False)] == before[:2]


def test_a_damaged_database_without_a_good_backup_is_a_clear_error(tmp_path: Path) -> None:
    _fill(tmp_path, 3)
    (tmp_path / "assets.json").write_bytes(b"{\"assets\": {")
    (tmp_path / "assets.json.bak").write_bytes(b"garbage")
    with pytest.raises(StoreError) as err:
        AssetStore(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "assets.json") in message and "backup" in message and "fix:" in message
    # The failed open let go of the lock, and touched neither file.
    assert (tmp_path / "assets.json.bak").read_bytes() == b"garbage"
    (tmp_path / "assets.json").write_bytes(b"{}")
    with AssetStore(tmp_path) as s:
        assert s.count() == 0


def test_a_failed_write_leaves_the_file_and_the_memory_copy_as_they_were(tmp_path: Path) -> None:
    storage = CrashSafeStorage(tmp_path / "db.json")
    storage.write({"t": {"1": {"x": 1}}})
    data = storage.read()
    assert data is not None
    data["t"]["2"] = {"x": float("nan")}  # refused by the serialiser, like TinyDB changing its copy then failing
    with pytest.raises(ValueError):
        storage.write(data)
    assert storage.read() == {"t": {"1": {"x": 1}}}
    assert json.loads((tmp_path / "db.json").read_bytes()) == {"t": {"1": {"x": 1}}}


def test_the_storage_serves_plain_tinydb_too(tmp_path: Path) -> None:
    from tinydb import Query, TinyDB

    with TinyDB(tmp_path / "plain.json", storage=CrashSafeStorage) as db:
        db.insert_multiple([{"name": "a", "n": 1}, {"name": "b", "n": 2}])
        db.update({"n": 3}, Query().name == "b")
    with TinyDB(tmp_path / "plain.json", storage=CrashSafeStorage) as db:
        assert [d["n"] for d in db.all()] == [1, 3]
        assert db.search(Query().n > 2)[0]["name"] == "b"


def test_a_second_process_opening_the_store_gets_a_clear_error(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from edge.store import AssetStore, StoreError
        try:
            AssetStore({str(tmp_path)!r})
        except StoreError as e:
            print(e)
        else:
            print("opened")
        """
    )
    with AssetStore(tmp_path):
        out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert f"is in use by another process (pid {os.getpid()})" in out.stdout
    assert "fix:" in out.stdout
    after = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert after.stdout.strip() == "opened"  # closing released the lock


def test_opening_the_store_twice_in_one_process_says_to_share_it(tmp_path: Path) -> None:
    with AssetStore(tmp_path):
        with pytest.raises(StoreError, match="already open in this process"):
            AssetStore(tmp_path)
