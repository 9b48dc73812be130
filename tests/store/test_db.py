"""Specification of the store's one SQLite database (schema versions, damage) and of the one-writer rule."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.store import AssetStore, StoreError
from edge.store.db import DB_NAME, MIGRATIONS, SCHEMA_VERSION, Database, connect, migrate

ROOT = Path(__file__).resolve().parents[2]


def _fill(root: Path, n: int) -> list[str]:
    with AssetStore(root) as s:
        return [s.add_bytes(f"asset {i}".encode(), kind="note", name=f"n{i}").id for i in range(n)]


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_a_new_store_is_one_database_at_the_current_schema_version(tmp_path: Path) -> None:
    _fill(tmp_path, 2)
    assert (tmp_path / DB_NAME).is_file() and (tmp_path / "blobs").is_dir()
    assert _user_version(tmp_path / DB_NAME) == SCHEMA_VERSION == len(MIGRATIONS)
    assert not list(tmp_path.glob("*.json*"))
    db = sqlite3.connect(tmp_path / DB_NAME)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()
    assert {"assets", "asset_tags", "runs", "records", "outbox", "notices", "cursors", "imports"} <= tables


def test_migrations_run_once_and_opening_again_changes_nothing(tmp_path: Path) -> None:
    ids = _fill(tmp_path, 3)
    path = tmp_path / DB_NAME
    with AssetStore(tmp_path) as s:
        assert [a.id for a in s.list(newest_first=False)] == ids
    conn = connect(path)
    try:
        assert migrate(conn, path) == SCHEMA_VERSION  # found at the current version: nothing to run
        assert migrate(conn, path) == SCHEMA_VERSION
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()
    with AssetStore(tmp_path) as s:
        assert s.count() == 3
    conn = connect(path)
    try:
        assert conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    finally:
        conn.close()


def test_an_empty_database_is_migrated_from_version_0(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    conn = connect(path)
    try:
        assert migrate(conn, path) == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_a_database_from_newer_software_is_refused(tmp_path: Path) -> None:
    ids = _fill(tmp_path, 2)
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as err:
        AssetStore(tmp_path)
    message = str(err.value)
    assert str(tmp_path / DB_NAME) in message and "newer" in message and str(SCHEMA_VERSION + 1) in message
    assert "update the box software" in message
    assert _user_version(tmp_path / DB_NAME) == SCHEMA_VERSION + 1  # left as it was
    # The refused open let go of the writer lock: with the version put back, the data is all there.
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.commit()
    db.close()
    with AssetStore(tmp_path) as s:
        assert [a.id for a in s.list(newest_first=False)] == ids


@pytest.mark.parametrize("garbage", [b"\x00" * 4096, b"not a database at all" * 300, b"SQLite format 3\x00" + b"\xde\xad" * 2000])
def test_a_damaged_database_is_a_store_error_naming_the_file_and_the_fix(tmp_path: Path, garbage: bytes) -> None:
    _fill(tmp_path, 3)
    path = tmp_path / DB_NAME
    for side in ("-wal", "-shm"):
        Path(str(path) + side).unlink(missing_ok=True)
    path.write_bytes(garbage)
    with pytest.raises(StoreError) as err:
        AssetStore(tmp_path)
    message = str(err.value)
    assert str(path) in message and "fix:" in message
    assert "move it aside" in message and "media files are kept" in message
    assert path.read_bytes() == garbage  # nothing was overwritten
    # Following the fix: the database moved aside, the store opens empty; the blobs are still there.
    path.rename(tmp_path / "edge.sqlite.damaged")
    with AssetStore(tmp_path) as s:
        assert s.count() == 0 and len(list(s.blobs.iter_shas())) == 3


def test_a_truncated_database_is_a_clear_error(tmp_path: Path) -> None:
    _fill(tmp_path, 50)
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    path.write_bytes(path.read_bytes()[:4096 + 100])
    with pytest.raises(StoreError) as err:
        with AssetStore(tmp_path) as s:
            s.list(limit=None)
            s.db.read("PRAGMA integrity_check")
            raise StoreError(f"{path} opened although truncated", "")
    assert str(path) in str(err.value) and "opened although" not in str(err.value)
    assert "fix:" in str(err.value)


def test_a_database_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).mkdir()
    with pytest.raises(StoreError, match=DB_NAME):
        AssetStore(tmp_path)


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db = Database(tmp_path / DB_NAME)
    try:
        with pytest.raises(RuntimeError):
            with db.write() as conn:
                conn.execute("INSERT INTO cursors (name, value) VALUES ('a', 1)")
                raise RuntimeError("half way")
        assert db.read("SELECT * FROM cursors") == []
        with db.write() as conn:
            conn.execute("INSERT INTO cursors (name, value) VALUES ('a', 2)")
        assert db.read_one("SELECT value FROM cursors WHERE name = 'a'") == (2,)
    finally:
        db.close()


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


def test_a_failed_open_releases_the_writer_lock(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"\x00" * 4096)
    with pytest.raises(StoreError):
        AssetStore(tmp_path)
    (tmp_path / DB_NAME).unlink()
    with AssetStore(tmp_path) as s:
        assert s.count() == 0
