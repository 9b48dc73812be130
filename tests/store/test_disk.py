"""Specification of the disk guard and retention, on a simulated small disk.

FakeDisk is the only stand-in in these tests: the store's files are real, but
the disk is `capacity` bytes that only the store's media uses, so deleting a
blob really does free simulated space. The SQLite files are left out of the
count: their WAL grows in page-sized steps up to its checkpoint size, which
would make byte-exact expectations about media meaningless.
"""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import pytest

from edge.events import CaptionEvent
from edge.store import AssetStore, DiskFullError, StoreError

Usage = namedtuple("Usage", "total used free")
KB = 1000


class FakeDisk:
    def __init__(self, root: Path, capacity: int) -> None:
        self.root, self.capacity = root, capacity

    def used(self) -> int:
        blobs = self.root / "blobs"
        return sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file() and not p.is_symlink())

    def __call__(self, path: str | os.PathLike[str]) -> Usage:
        used = self.used()
        return Usage(self.capacity, used, max(self.capacity - used, 0))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _open(root: Path, capacity: int, **kw) -> tuple[AssetStore, FakeDisk]:
    disk = FakeDisk(root, capacity)
    root.mkdir(parents=True, exist_ok=True)
    return AssetStore(root, disk_usage=disk, **{"disk_floor_bytes": 0, "reserve_bytes": 0, **kw}), disk


def test_a_write_that_would_eat_into_the_reserve_is_refused_and_nothing_is_damaged(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=200 * KB, reserve_bytes=50 * KB)
    kept = store.add_bytes(os.urandom(100 * KB), kind="media", name="clip.mp4")
    run = store.records.open_run("cam1", "rtsp://cam1", live=True)
    store.records.append_captions(run, [CaptionEvent("final", "cam1", "before the disk filled", 0, 1, 1.2)])
    before = _snapshot(tmp_path)

    with pytest.raises(DiskFullError) as err:
        store.add_bytes(os.urandom(60 * KB), kind="media", name="too-big.mp4")
    assert "refusing to write" in str(err.value) and "free on /" in str(err.value)
    assert "evict" in str(err.value.fix)
    big = tmp_path.parent / "big.mp4"
    big.write_bytes(os.urandom(60 * KB))
    with pytest.raises(DiskFullError):
        store.add_file(big, kind="upload")
    with pytest.raises(DiskFullError):
        store.records.append_captions(run, [CaptionEvent("final", "cam1", "x" * 60 * KB, 1, 2, 2.1)])
    with pytest.raises(DiskFullError):
        store.add_many([{"data": os.urandom(30 * KB), "kind": "media", "name": f"c{i}.mp4"} for i in range(2)])

    assert _snapshot(tmp_path) == before  # refused before touching anything
    assert store.content_path(kept.id).read_bytes() == before[str(store.content_path(kept.id).relative_to(tmp_path))]
    store.close()
    with AssetStore(tmp_path) as reopened:
        assert reopened.get(kept.id) == kept
        assert [r.text for r in reopened.records.read()] == ["before the disk filled"]
        assert reopened.count() == 1


def test_small_writes_still_fit_while_the_reserve_is_intact(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=200 * KB, reserve_bytes=50 * KB)
    store.add_bytes(os.urandom(100 * KB), kind="media", name="clip.mp4")
    assert store.add_bytes(b"a short note", kind="note", name="note.txt").size == 12
    store.close()


def test_syncing_may_use_the_reserve_because_it_is_how_space_is_freed(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=200 * KB, reserve_bytes=50 * KB)
    clip = store.add_bytes(os.urandom(140 * KB), kind="media", name="clip.mp4")
    disk.capacity = disk.used() + 10 * KB  # the box recorded elsewhere: only 10 KB left
    with pytest.raises(DiskFullError):
        store.add_bytes(b"x", kind="note", name="n")
    store.mark_synced(clip.id)
    store.disk_floor_bytes = 20 * KB
    assert store.enforce_retention() == [clip.id]
    assert store.add_bytes(b"x", kind="note", name="n").size == 1
    store.close()


def test_retention_evicts_the_oldest_synced_media_first_and_keeps_its_metadata(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=1000 * KB)
    clip1 = store.add_bytes(os.urandom(100 * KB), kind="media", name="clip1.mp4")
    frame = store.add_bytes(os.urandom(100 * KB), kind="keyframe", name="frame.jpg")
    draft = store.add_bytes(os.urandom(100 * KB), kind="draft", name="old-draft.md")
    clip2 = store.add_bytes(os.urandom(100 * KB), kind="upload", name="clip2.mp4")
    clip3 = store.add_bytes(os.urandom(100 * KB), kind="media", name="clip3.mp4")
    unsynced = store.add_bytes(os.urandom(100 * KB), kind="media", name="not-yet-synced.mp4")
    for a in (clip1, frame, draft, clip2, clip3):
        store.mark_synced(a.id)

    store.disk_floor_bytes = store.free_bytes() + 150 * KB  # two 100 KB blobs must go
    evicted = store.enforce_retention()

    assert evicted == [clip1.id, frame.id]
    assert store.free_bytes() >= store.disk_floor_bytes
    for gone in (clip1, frame):
        assert store.get(gone.id).sync == "evicted"  # the index still knows it existed
        with pytest.raises(StoreError, match="evicted"):
            store.content_path(gone.id)
    for kept in (draft, clip2, clip3, unsynced):
        assert store.content_path(kept.id).stat().st_size == 100 * KB
    assert store.disk_status().alarm is False
    store.close()


def test_media_is_evicted_before_smaller_synced_kinds(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=1000 * KB)
    transcript = store.add_bytes(os.urandom(50 * KB), kind="transcript", name="t.txt")
    clip = store.add_bytes(os.urandom(50 * KB), kind="media", name="clip.mp4")
    for a in (transcript, clip):
        store.mark_synced(a.id)
    store.disk_floor_bytes = store.free_bytes() + 10 * KB
    assert store.enforce_retention() == [clip.id]
    store.close()


def test_unsynced_assets_are_never_evicted_and_the_disk_alarm_is_raised_instead(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=1000 * KB)
    synced = store.add_bytes(os.urandom(100 * KB), kind="media", name="synced.mp4")
    store.mark_synced(synced.id)
    pending = [store.add_bytes(os.urandom(100 * KB), kind=k, name=k) for k in ("media", "keyframe", "upload")]

    store.disk_floor_bytes = store.free_bytes() + 500 * KB  # more than all synced media can free
    assert store.disk_status().alarm is True
    assert store.enforce_retention() == [synced.id]

    status = store.disk_status()
    assert status.alarm is True and status.evictable_bytes == 0
    assert status.unsynced_bytes == 300 * KB and status.free < status.floor
    for a in pending:
        assert store.get(a.id).sync == "pending"
        assert store.content_path(a.id).stat().st_size == 100 * KB
    with pytest.raises(StoreError, match="unsynced"):
        store.evict(pending[0].id)
    assert store.enforce_retention() == []
    store.close()


def test_bytes_shared_with_an_unsynced_asset_are_not_deleted(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=1000 * KB)
    data = os.urandom(100 * KB)
    synced = store.add_bytes(data, kind="media", name="a.mp4")
    store.mark_synced(synced.id)
    copy = store.add_bytes(data, kind="upload", name="same-bytes.mp4")
    store.disk_floor_bytes = store.free_bytes() + 50 * KB
    assert store.eviction_candidates() == []
    assert store.enforce_retention() == []  # evicting it would free nothing
    assert store.get(synced.id).sync == "synced"
    assert store.content_path(copy.id).read_bytes() == data
    store.close()


def test_the_alarm_is_raised_when_only_shared_bytes_are_left(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=1000 * KB)
    data = os.urandom(100 * KB)
    synced = store.add_bytes(data, kind="media", name="a.mp4")
    store.mark_synced(synced.id)
    store.add_bytes(data, kind="upload", name="same-bytes.mp4")
    store.disk_floor_bytes = store.free_bytes() + 50 * KB
    assert store.enforce_retention() == []
    assert store.disk_status().alarm is True
    store.close()


def test_writes_below_the_floor_evict_synced_media_on_their_own(tmp_path: Path) -> None:
    store, disk = _open(tmp_path, capacity=1000 * KB)
    old = store.add_bytes(os.urandom(300 * KB), kind="media", name="old.mp4")
    store.mark_synced(old.id)
    store.disk_floor_bytes = store.free_bytes() - 50 * KB
    new = store.add_bytes(os.urandom(100 * KB), kind="media", name="new.mp4")
    assert store.get(old.id).sync == "evicted"
    assert store.content_path(new.id).stat().st_size == 100 * KB
    store.close()
