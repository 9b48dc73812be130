"""Specification of the content-addressed blob store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from edge.store import BlobStore, StoreError


def test_bytes_are_stored_under_their_sha256(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    sha, size = blobs.put_bytes(b"frame")
    assert sha == hashlib.sha256(b"frame").hexdigest() and size == 5
    assert blobs.path(sha) == tmp_path / sha[:2] / sha[2:4] / sha
    assert blobs.path(sha).read_bytes() == b"frame" and blobs.exists(sha)


def test_a_file_is_hashed_while_it_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several copy chunks
    blobs = BlobStore(tmp_path / "blobs")
    sha, size = blobs.put_file(src)
    assert sha == hashlib.sha256(src.read_bytes()).hexdigest() and size == src.stat().st_size
    assert blobs.path(sha).read_bytes() == src.read_bytes()
    assert blobs.put_file(src) == (sha, size)  # deduplicated
    assert list((tmp_path / "blobs" / ".tmp").iterdir()) == []


def test_delete_removes_the_blob_and_is_idempotent(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    sha, _ = blobs.put_bytes(b"x")
    assert blobs.delete(sha) is True and not blobs.exists(sha)
    assert blobs.delete(sha) is False
    with pytest.raises(KeyError):
        blobs.path(sha)


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "/etc/passwd", "A" * 64, "g" * 64, "a" * 63, "a" * 65])
def test_anything_but_64_lowercase_hex_digits_is_refused(tmp_path: Path, bad: str) -> None:
    blobs = BlobStore(tmp_path)
    with pytest.raises(KeyError):
        blobs.path(bad)
    with pytest.raises(KeyError):
        blobs.delete(bad)


def test_a_symlinked_directory_cannot_lead_out_of_the_store(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "cd").mkdir(parents=True)
    sha = "ab" + "cd" + "0" * 60
    (outside / "cd" / sha).write_text("secret")
    blobs = BlobStore(tmp_path / "blobs")
    (tmp_path / "blobs" / "ab").symlink_to(outside)
    with pytest.raises(StoreError):
        blobs.path(sha)


def test_a_symlinked_store_root_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    blobs = BlobStore(tmp_path / "link")
    sha, _ = blobs.put_bytes(b"x")
    assert blobs.path(sha).read_bytes() == b"x"


def test_leftover_temp_files_are_cleaned(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    (tmp_path / ".tmp" / "tmpabc123").write_bytes(b"half a copy")
    assert blobs.clean_temp() == 1
