"""Specification of the asset index: what goes in comes back, found by id, listing and search."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.events import CaptionEvent
from edge.store import AssetStore, StoreError

WHISPER = {"model": "whisper-tiny-en", "profile": "x86-cpu", "backend": "ctranslate2"}


@pytest.fixture
def store(tmp_path: Path):
    with AssetStore(tmp_path / "store") as s:
        yield s


def test_an_added_asset_comes_back_with_every_field(store: AssetStore) -> None:
    added = store.add_bytes(
        b"WEBVTT\n", kind="caption_track", name="cam1.vtt", mime="text/vtt", stream="cam1",
        start=0.0, end=12.5, tags=["council", "live"], provenance=WHISPER, meta={"lang": "en"},
    )
    got = store.get(added.id)
    assert got == added
    assert (got.kind, got.stream, got.start, got.end) == ("caption_track", "cam1", 0.0, 12.5)
    assert got.sha256 == hashlib.sha256(b"WEBVTT\n").hexdigest() and got.size == 7
    assert got.provenance == WHISPER and got.meta == {"lang": "en"} and got.tags == ["council", "live"]
    assert got.sync == "pending" and got.synced_at is None
    assert store.content_path(added.id).read_bytes() == b"WEBVTT\n"


def test_assets_survive_closing_and_reopening_the_store(tmp_path: Path) -> None:
    with AssetStore(tmp_path) as s:
        ids = [s.add_bytes(bytes([i]), kind="note", name=f"n{i}").id for i in range(5)]
    with AssetStore(tmp_path) as s:
        assert [a.id for a in s.list(newest_first=False)] == ids
        assert s.content_path(ids[3]).read_bytes() == b"\x03"


def test_a_file_is_copied_in_with_its_name_and_guessed_mime_type(store: AssetStore, tmp_path: Path) -> None:
    src = tmp_path / "frame_0001.jpg"
    src.write_bytes(os.urandom(300_000))
    asset = store.add_file(src, kind="keyframe", stream="cam2", start=4.0, end=4.0)
    assert (asset.name, asset.mime, asset.size) == ("frame_0001.jpg", "image/jpeg", 300_000)
    assert store.content_path(asset.id).read_bytes() == src.read_bytes()
    src.unlink()  # the store holds its own copy
    assert store.content_path(asset.id).stat().st_size == 300_000


def test_adding_a_missing_file_names_the_file(store: AssetStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nope.mp4"):
        store.add_file(tmp_path / "nope.mp4", kind="upload")


def test_identical_content_is_stored_once(store: AssetStore) -> None:
    a = store.add_bytes(b"same bytes", kind="upload", name="a.bin")
    b = store.add_bytes(b"same bytes", kind="draft", name="b.bin")
    assert a.id != b.id and a.sha256 == b.sha256
    assert store.content_path(a.id) == store.content_path(b.id)
    assert len(list(store.blobs.iter_shas())) == 1


def test_ids_sort_in_creation_order(store: AssetStore) -> None:
    ids = [store.add_bytes(bytes([i]), kind="note", name="n").id for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50


def test_invalid_fields_are_refused_before_anything_is_written(store: AssetStore) -> None:
    with pytest.raises(ValueError, match="unknown asset kind 'hologram'"):
        store.add_bytes(b"x", kind="hologram", name="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        store.add_bytes(b"x", kind="note", name="x", start=5.0, end=1.0)
    with pytest.raises(ValidationError):
        store.add_bytes(b"x", kind="note", name="x", start=float("nan"))
    with pytest.raises(ValueError, match="JSON"):
        store.add_bytes(b"x", kind="note", name="x", meta={"when": object()})
    assert store.count() == 0 and list(store.blobs.iter_shas()) == []


def test_list_filters_pages_and_orders_newest_first(store: AssetStore) -> None:
    made = [
        store.add_bytes(bytes([i]), kind="keyframe" if i % 2 else "note", name=f"a{i}", stream=f"cam{i % 3}")
        for i in range(10)
    ]
    assert [a.id for a in store.list()] == [a.id for a in reversed(made)]
    assert [a.id for a in store.list(newest_first=False, limit=3, offset=2)] == [a.id for a in made[2:5]]
    assert {a.kind for a in store.list(kind="keyframe")} == {"keyframe"}
    assert [a.name for a in store.list(kind="keyframe", stream="cam0")] == ["a9", "a3"]
    store.mark_synced(made[4].id)
    assert [a.id for a in store.list(sync="synced")] == [made[4].id]
    assert store.list(limit=0) == [] and store.count() == 10


def test_search_matches_name_tags_and_text_by_word_ignoring_case(store: AssetStore) -> None:
    fire = store.add_bytes(b"1", kind="keyframe", name="Harbour FIRE.jpg", stream="cam1")
    vote = store.add_bytes(b"2", kind="draft", name="story.md", tags=["Council-Vote"])
    memo = store.add_bytes(b"Evacuation of the east quay", kind="note", name="memo", mime="text/plain",
                           stream="Drone2")
    upload = store.add_bytes(b"%PDF", kind="upload", name="scan.pdf", text="press release from the mayor")
    assert [a.id for a in store.search("fire")] == [fire.id]
    assert [a.id for a in store.search("council")] == [vote.id]
    assert [a.id for a in store.search("VOTE council")] == [vote.id]  # every word, any order
    assert [a.id for a in store.search("evacuation")] == [memo.id]  # a text note by its words
    assert [a.id for a in store.search("east qu")] == [memo.id]  # the last word as a prefix
    assert [a.id for a in store.search("mayor")] == [upload.id]
    assert store.search("nothing like this") == []
    assert store.search("fire council") == []


def test_search_is_by_word_not_by_kind_or_stream_substring(store: AssetStore) -> None:
    store.add_bytes(b"1", kind="keyframe", name="frame.jpg", stream="cam1")
    store.add_bytes(b"3", kind="note", name="memo", stream="Drone2")
    assert store.search("keyframe") == [] and store.search("drone") == []
    assert store.search("ire") == []  # inside a word is not a match
    assert store.search("") == [] and store.search("  ,;- ") == []


@pytest.mark.parametrize("q", ['"', 'fire"', "NEAR(a b)", "name:fire", "fire*", "a OR b", "-fire", "(", "^x"])
def test_search_text_is_never_fts_syntax(store: AssetStore, q: str) -> None:
    fire = store.add_bytes(b"1", kind="keyframe", name="fire.jpg")
    got = store.search(q)  # no exception whatever was typed
    assert got in ([], [fire])


def test_search_finds_caption_tracks_by_what_was_said_during_their_run(store: AssetStore) -> None:
    early = store.records.open_run("cam1", "rtsp://cam1", live=True)
    store.records.append_captions(early, [CaptionEvent("final", "cam1", "The bridge will remain closed", 10.0, 12.0, 12.4)])
    store.records.close_run(early.id, "stopped")
    late = store.records.open_run("cam1", "rtsp://cam1", live=True)
    store.records.append_captions(late, [
        CaptionEvent("final", "cam1", "Firefighters worked through the night", 1.0, 3.0, 3.5)])
    store.records.close_run(late.id, "stopped")
    track = store.add_bytes(b"a", kind="caption_track", name="cam1-0.vtt", stream="cam1", run=early.id, start=10, end=12)
    text = store.add_bytes(b"b", kind="transcript", name="cam1-1.txt", stream="cam1", run=late.id, start=1, end=3)
    store.add_bytes(b"c", kind="caption_track", name="cam2.vtt", stream="cam2", start=0, end=120)
    store.add_bytes(b"d", kind="keyframe", name="k.jpg", stream="cam1", run=early.id, start=11, end=11)
    assert [a.id for a in store.search("BRIDGE")] == [track.id]
    assert [a.id for a in store.search("firefighters")] == [text.id]
    assert [a.id for a in store.search("firefight")] == [text.id]
    assert store.search("bridge night") == []  # all words in one record


def test_update_changes_tags_meta_and_name_only(store: AssetStore) -> None:
    a = store.add_bytes(b"x", kind="draft", name="draft.md", tags=["wip"])
    updated = store.update(a.id, tags=["approved", "approved", " lead "], meta={"editor": "kim"}, name="final.md")
    assert updated.tags == ["approved", "lead"] and updated.name == "final.md"
    assert store.get(a.id) == updated
    with pytest.raises(TypeError):
        store.update(a.id, sha256="0" * 64)
    with pytest.raises(ValidationError):
        store.update(a.id, name="")
    assert store.get(a.id) == updated


def test_mark_synced_records_when_and_pending_sync_is_oldest_first(store: AssetStore) -> None:
    a, b, c = (store.add_bytes(bytes([i]), kind="upload", name=f"u{i}") for i in range(3))
    assert [x.id for x in store.pending_sync()] == [a.id, b.id, c.id]
    synced = store.mark_synced(b.id)
    assert synced.sync == "synced" and synced.synced_at is not None
    assert store.get(b.id).sync == "synced"
    assert [x.id for x in store.pending_sync()] == [a.id, c.id]


def test_unknown_ids_are_a_key_error(store: AssetStore) -> None:
    with pytest.raises(KeyError):
        store.get("0" * 26)
    with pytest.raises(KeyError):
        store.update("0" * 26, name="x")
    with pytest.raises(KeyError):
        store.mark_synced("0" * 26)


@pytest.mark.parametrize("bad", ["", "../assets.json", "../../etc/passwd", "/etc/passwd", "blobs/ab", "0" * 26])
def test_content_path_refuses_anything_that_is_not_an_asset_id(store: AssetStore, bad: str) -> None:
    store.add_bytes(b"x", kind="note", name="x")
    with pytest.raises(KeyError):
        store.content_path(bad)


def test_content_path_refuses_a_symlink_planted_in_the_blob_store(store: AssetStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the dashboard")
    a = store.add_bytes(b"innocent", kind="note", name="x")
    blob = store.content_path(a.id)
    blob.unlink()
    blob.symlink_to(secret)
    with pytest.raises(StoreError, match="link"):
        store.content_path(a.id)


def test_a_closed_store_refuses_to_write_and_can_be_reopened(tmp_path: Path) -> None:
    s = AssetStore(tmp_path)
    a = s.add_bytes(b"x", kind="note", name="x")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.add_bytes(b"y", kind="note", name="y")
    with AssetStore(tmp_path) as again:
        assert again.get(a.id) == a and again.count() == 1


def test_a_closed_store_refuses_to_read_with_a_clear_error(tmp_path: Path) -> None:
    s = AssetStore(tmp_path)
    a = s.add_bytes(b"x", kind="note", name="x")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get(a.id)


def test_add_many_writes_the_index_once_for_a_batch(store: AssetStore) -> None:
    made = store.add_many({"data": bytes([i]), "kind": "sensor_series", "name": f"s{i}"} for i in range(100))
    assert store.count() == 100
    assert [a.id for a in store.list(limit=None, newest_first=False)] == [a.id for a in made]
    assert store.content_path(made[42].id).read_bytes() == bytes([42])


def test_bytes_deleted_behind_the_stores_back_are_a_clear_error(store: AssetStore) -> None:
    a = store.add_bytes(b"x", kind="media", name="clip.mp4")
    store.content_path(a.id).unlink()
    with pytest.raises(StoreError, match="missing"):
        store.content_path(a.id)


def test_garbage_collection_removes_only_old_blobs_no_asset_needs(store: AssetStore) -> None:
    kept = store.add_bytes(b"kept", kind="note", name="kept")
    orphan, _ = store.blobs.put_bytes(b"written just before a crash, never indexed")
    fresh, _ = store.blobs.put_bytes(b"being indexed right now")
    old = store.blobs.path(orphan)
    os.utime(old, (0, 0))
    assert store.collect_garbage(min_age_s=3600) == 1
    assert not store.blobs.exists(orphan) and store.blobs.exists(fresh)
    assert store.content_path(kept.id).read_bytes() == b"kept"


def test_threads_can_share_one_store(tmp_path: Path) -> None:
    import threading

    with AssetStore(tmp_path) as store:
        errors: list[BaseException] = []
        runs = [store.records.open_run(f"cam{n}", f"rtsp://cam{n}", live=True) for n in range(4)]

        def writer(n: int) -> None:
            try:
                for i in range(25):
                    store.add_bytes(f"{n}-{i}".encode(), kind="keyframe", name=f"{n}-{i}", stream=f"cam{n}")
                    store.records.append_captions(runs[n], [CaptionEvent("final", f"cam{n}", f"line {i}", i, i + 1, i + 1.2)])
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        def reader() -> None:
            try:
                for _ in range(50):
                    store.list(limit=10)
                    store.search("line")
                    store.disk_status()
            except BaseException as e:  # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [threading.Thread(target=reader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    with AssetStore(tmp_path) as store:
        assert store.count() == 100
        ids = [a.id for a in store.list(limit=None, newest_first=False)]
        assert ids == sorted(ids)
        assert all(len(store.records.read(stream=f"cam{n}")) == 25 for n in range(4))
        assert all(len(store.records.read(run=runs[n].id)) == 25 for n in range(4))


def test_records_close_with_the_store(tmp_path: Path) -> None:
    store = AssetStore(tmp_path)
    run = store.records.open_run("cam1", "rtsp://cam1", live=True)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.records.append_captions(run, [CaptionEvent("final", "cam1", "late", 0, 1, 1)])
    with AssetStore(tmp_path) as again:
        assert again.records.read() == []


def test_restore_keeps_the_given_id_times_and_sync_state_once(store: AssetStore) -> None:
    from edge.store import Asset

    sha, size = store.blobs.put_bytes(b"old bytes")
    old = Asset(id="17cf48da00be7300525ccb9159", kind="upload", created_at=1715670000.5, sha256=sha, size=size,
                name="old.pdf", sync="synced", synced_at=1715670100.0, tags=["press"])
    assert store.restore(old, body="council press release") is True
    assert store.get(old.id) == old and store.pending_sync() == []
    assert [a.id for a in store.search("press release")] == [old.id]
    assert store.restore(old) is False and store.count() == 1
    newer = store.add_bytes(b"new", kind="note", name="n")
    assert newer.id > old.id
    missing = old.model_copy(update={"id": "17cf48da00be7300525ccb915a", "sha256": "e" * 64, "sync": "pending"})
    with pytest.raises(StoreError, match="restore the blob"):
        store.restore(missing)
