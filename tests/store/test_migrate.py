"""Specification of the one-time import of an old-format data directory (edge.store.migrate).

The fixture tests/fixtures/legacy_datadir.tar.gz was made by the OLD code;
what it holds is taken from edge.store.legacy.read_legacy (tested in
test_legacy.py) rather than restated here.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from edge.store import AssetStore
from edge.store.legacy import read_legacy
from edge.store.migrate import IMPORT_SOURCE, ImportReport, import_legacy

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "legacy_datadir.tar.gz"
FAILED_UPLOAD = "17cf48eb7717a100d9e81d3f26"
EXPIRED_KEYFRAME = "17cf48da00be7300525ccb9159"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def open_store(data_dir: Path) -> AssetStore:
    return AssetStore(data_dir / "store", disk_floor_bytes=0, reserve_bytes=0)


def snapshot(store: AssetStore) -> dict[str, list]:
    tables = ("assets", "asset_tags", "runs", "records", "outbox", "notices", "imports", "asset_totals")
    return {t: store.db.read(f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}


def test_import_brings_in_every_valid_asset_with_its_id_sync_state_and_bytes(data_dir: Path) -> None:
    legacy = read_legacy(data_dir)
    with open_store(data_dir) as store:
        report = import_legacy(data_dir, store)
        assert isinstance(report, ImportReport)
        assert report.assets == len(legacy.assets) == store.count()
        for doc in legacy.assets:
            asset = store.get(doc["id"])
            assert (asset.kind, asset.sha256, asset.size, asset.sync, asset.synced_at, asset.created_at) == (
                doc["kind"], doc["sha256"], doc["size"], doc["sync"], doc["synced_at"], doc["created_at"])
            assert (asset.name, asset.tags, asset.meta, asset.stream) == (
                doc["name"], doc["tags"], doc["meta"], doc["stream"])
            if doc["sync"] == "evicted":
                with pytest.raises(Exception, match="evicted"):
                    store.content_path(asset.id)
            else:
                assert hashlib.sha256(store.content_path(asset.id).read_bytes()).hexdigest() == doc["sha256"]
        assert Counter(a.sync for a in store.list(limit=None)) == Counter(d["sync"] for d in legacy.assets)
        # New assets sort after the imported ones.
        assert store.add_bytes(b"new", kind="note", name="n").id > max(d["id"] for d in legacy.assets)


def test_quarantined_rows_are_reported_and_never_imported(data_dir: Path, caplog) -> None:
    legacy = read_legacy(data_dir)
    assert len(legacy.quarantined) == 2
    with open_store(data_dir) as store:
        report = import_legacy(data_dir, store)
        assert report.quarantined == legacy.quarantined
        for key, reason in legacy.quarantined:
            with pytest.raises(KeyError):
                store.get(key)
            assert key in caplog.text and reason in caplog.text
        row = store.db.read_one("SELECT report FROM imports WHERE source = ?", (IMPORT_SOURCE,))
        assert json.loads(row[0])["quarantined"] == [list(q) for q in legacy.quarantined]


def test_caption_runs_become_closed_runs_with_their_finals_as_records(data_dir: Path) -> None:
    legacy = read_legacy(data_dir)
    with open_store(data_dir) as store:
        report = import_legacy(data_dir, store)
        expected = {(s, c.run_index): 0 for s, caps in legacy.captions.items() for c in caps}
        for s, caps in legacy.captions.items():
            for c in caps:
                expected[(s, c.run_index)] += 1
        assert Counter(s for s, _ in expected) == {"cam1": 3, "studio-b": 2}
        assert report.runs == len(expected) == 5
        assert report.records == sum(expected.values()) == store.records.count()
        for stream in ("cam1", "studio-b"):
            runs = sorted(store.records.runs(stream), key=lambda r: r.id)  # oldest first
            sizes = [len(store.records.read(run=r.id, limit=None)) for r in runs]
            assert sizes == [expected[(stream, i)] for i in range(len(runs))]
            assert all(r.closed_at is not None and r.close_reason for r in runs)
            assert [r.origin for r in runs] == sorted(r.origin for r in runs)
            for run, index in zip(runs, range(len(runs))):
                finals = [c for c in legacy.captions[stream] if c.run_index == index]
                records = store.records.read(run=run.id, limit=None)
                assert [(r.text, r.start, r.end) for r in records] == [(c.text, c.start, c.end) for c in finals]
                for r, c in zip(records, finals):
                    assert r.wall_start == pytest.approx(run.origin + c.start)
                    # The wall clock never puts a final's end after the moment it was emitted.
                    assert r.wall_end <= c.emitted_at + 1e-6
                    assert c.emitted_at - r.wall_end < 5.0
                    assert r.data == {"legacy_id": f"{stream}:{c.seq}"}
                assert run.closed_at == max(c.emitted_at for c in finals)


def test_sizes_of_the_fixture_runs(data_dir: Path) -> None:
    with open_store(data_dir) as store:
        import_legacy(data_dir, store)
        sizes = {s: [len(store.records.read(run=r.id, limit=None)) for r in sorted(store.records.runs(s),
                                                                                   key=lambda r: r.id)]
                 for s in store.records.streams()}
    assert sizes == {"cam1": [15, 12, 10], "studio-b": [14, 10]}


def test_runs_with_an_old_caption_track_are_marked_built_and_their_tracks_found_by_what_was_said(
        data_dir: Path) -> None:
    legacy = read_legacy(data_dir)
    with open_store(data_dir) as store:
        import_legacy(data_dir, store)
        runs = {s: sorted(store.records.runs(s), key=lambda r: r.id) for s in ("cam1", "studio-b")}
        # The third box start lost power mid-run: no track was made, so those runs get one built.
        assert [r.tracks_built for r in runs["cam1"]] == [True, True, False]
        assert [r.tracks_built for r in runs["studio-b"]] == [True, False]
        assert {r.id for r in store.records.runs(closed_without_tracks=True)} == {
            runs["studio-b"][1].id, runs["cam1"][2].id}
        tracks = [d for d in legacy.assets if d["kind"] in ("caption_track", "transcript")]
        assert len(tracks) == 6
        for doc in tracks:
            asset = store.get(doc["id"])
            run = store.records.run(asset.run)
            assert run.stream == doc["stream"] and run.tracks_built
            records = store.records.read(run=run.id, limit=None)
            assert (records[0].start, records[-1].end) == (doc["start"], doc["end"])
        # Search: a track is found by what was said in its run.
        said = store.records.read(run=runs["studio-b"][0].id, limit=None)[3].text
        found = store.search(said)
        assert {a.kind for a in found if a.run == runs["studio-b"][0].id} == {"caption_track", "transcript"}
        assert store.records.search(said)


def test_notes_and_upload_notes_are_searchable(data_dir: Path) -> None:
    with open_store(data_dir) as store:
        import_legacy(data_dir, store)
        assert [a.kind for a in store.search("inspection moved")] == ["note"]
        assert "note" in {a.kind for a in store.search("haddad")}
        assert store.records.search("firefighters")


def test_upload_note_in_meta_becomes_search_text(data_dir: Path) -> None:
    index = data_dir / "store" / "assets.json"
    tables = json.loads(index.read_bytes())
    tables["assets"][FAILED_UPLOAD]["meta"] = {"note": "statement by the harbourmaster"}
    index.write_text(json.dumps(tables))
    with open_store(data_dir) as store:
        import_legacy(data_dir, store)
        assert [a.id for a in store.search("harbourmaster statement")] == [FAILED_UPLOAD]


def test_pending_assets_are_in_the_outbox_with_their_old_progress(data_dir: Path) -> None:
    legacy = read_legacy(data_dir)
    pending = {d["id"] for d in legacy.assets if d["sync"] == "pending"}
    with open_store(data_dir) as store:
        report = import_legacy(data_dir, store)
        rows = {r[0]: r[1:] for r in store.db.read(
            "SELECT asset_id, state, attempts, acked_bytes, last_error FROM outbox")}
        assert set(rows) == pending
        assert report.outbox_items == len([i for i in legacy.outbox if i in pending]) == 2
        item = legacy.outbox[FAILED_UPLOAD]
        assert rows[FAILED_UPLOAD][1:] == (item["attempts"], item["acked_bytes"], item["last_error"])
        assert rows[FAILED_UPLOAD][1] == 2
        assert rows[EXPIRED_KEYFRAME][0] == "expired"  # the old outbox gave up on it: it stays given up
        notices = store.db.read("SELECT topic, payload, created_at FROM notices ORDER BY id")
        assert report.notices == len(legacy.notices) == len(notices) == 1
        assert [(t, json.loads(p), c) for t, p, c in notices] == [
            (n["topic"], n["payload"], n["created_at"]) for n in legacy.notices]


def test_a_second_import_returns_none_and_changes_nothing(data_dir: Path) -> None:
    with open_store(data_dir) as store:
        assert import_legacy(data_dir, store) is not None
        before = snapshot(store)
        assert import_legacy(data_dir, store) is None
        assert snapshot(store) == before
    # Even with the old files put back (someone restored a backup), nothing is imported twice.
    for name in ("assets.json", "assets.json.bak"):
        os.rename(data_dir / "store" / f"{name}.imported", data_dir / "store" / name)
    os.rename(data_dir / "store" / "captions.imported", data_dir / "store" / "captions")
    with open_store(data_dir) as store:
        assert import_legacy(data_dir, store) is None
        assert snapshot(store) == before


def test_old_files_are_renamed_aside_never_deleted(data_dir: Path) -> None:
    store_dir, sync_dir = data_dir / "store", data_dir / "sync"
    old = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (
        store_dir / "assets.json", store_dir / "assets.json.bak", store_dir / "captions" / "cam1.jsonl",
        store_dir / "captions" / "studio-b.jsonl", sync_dir / "outbox.sqlite")}
    with open_store(data_dir) as store:
        import_legacy(data_dir, store)
    for path, digest in old.items():
        assert not path.exists()
        moved = Path(str(path).replace("captions/", "captions.imported/")) if path.parent.name == "captions" \
            else path.with_name(path.name + ".imported")
        assert hashlib.sha256(moved.read_bytes()).hexdigest() == digest
    assert not (store_dir / "captions").exists()
    assert (store_dir / "blobs").is_dir()  # the blobs are the store's now


def test_nothing_to_import(tmp_path: Path) -> None:
    with AssetStore(tmp_path / "data" / "store") as store:
        assert import_legacy(tmp_path / "data", store) is None
        assert store.db.read("SELECT * FROM imports") == []


def test_an_asset_whose_bytes_are_missing_is_quarantined(data_dir: Path) -> None:
    legacy = read_legacy(data_dir)
    victim = next(d for d in legacy.assets if d["kind"] == "keyframe" and d["sync"] == "pending")
    blob = data_dir / "store" / "blobs" / victim["sha256"][:2] / victim["sha256"][2:4] / victim["sha256"]
    blob.unlink()
    with open_store(data_dir) as store:
        report = import_legacy(data_dir, store)
        assert (victim["id"], f"its bytes {victim['sha256']} are missing from {legacy.blobs_dir}") in report.quarantined
        assert report.assets == len(legacy.assets) - 1
        with pytest.raises(KeyError):
            store.get(victim["id"])


def test_a_store_elsewhere_gets_the_old_blobs_copied_in(data_dir: Path, tmp_path: Path) -> None:
    legacy = read_legacy(data_dir)
    with AssetStore(tmp_path / "elsewhere", disk_floor_bytes=0, reserve_bytes=0) as store:
        report = import_legacy(data_dir, store)
        assert report.assets == len(legacy.assets)
        for d in legacy.assets:
            if d["sync"] != "evicted":
                assert hashlib.sha256(store.content_path(d["id"]).read_bytes()).hexdigest() == d["sha256"]


IMPORTER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from edge.store import AssetStore
    from edge.store.migrate import import_legacy
    data = Path(sys.argv[1])
    with AssetStore(data / "store", disk_floor_bytes=0, reserve_bytes=0) as store:
        print("READY", flush=True)
        report = import_legacy(data, store)
        print("DONE", report is not None, flush=True)
""")


def test_an_import_killed_at_any_moment_is_completed_by_the_next_one(tmp_path: Path) -> None:
    seed = int(os.environ.get("STORE_KILL_SEED", time.time_ns()))
    print(f"kill timings: STORE_KILL_SEED={seed}")
    rng = random.Random(seed)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(tmp_path / "reference", filter="data")
    ref_dir = tmp_path / "reference" / "data"
    with open_store(ref_dir) as ref_store:
        import_legacy(ref_dir, ref_store)
        expected = snapshot(ref_store)
    legacy_counts = None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for attempt in range(4):
        work = tmp_path / f"killed{attempt}"
        with tarfile.open(FIXTURE) as tar:
            tar.extractall(work, filter="data")
        data = work / "data"
        legacy_counts = legacy_counts or len(read_legacy(data).assets)
        for _kill in range(3):
            proc = subprocess.Popen([sys.executable, "-c", IMPORTER, str(data)], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "READY", proc.stderr.read() if proc.stderr else ""
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        with open_store(data) as store:
            import_legacy(data, store)  # completes it, or finds it done
            got = snapshot(store)
            assert store.count() == legacy_counts
            assert import_legacy(data, store) is None
        assert not (data / "store" / "assets.json").exists() and (data / "store" / "assets.json.imported").exists()
        assert not (data / "sync" / "outbox.sqlite").exists()
        # The same rows as an import that was never interrupted (the done time and report aside).
        for table, rows in expected.items():
            if table == "imports":
                assert [r[0] for r in got[table]] == [r[0] for r in rows]
                assert json.loads(got[table][0][2]) == json.loads(rows[0][2])
            elif table in ("records", "notices"):  # seq/id numbering may differ; the content may not
                assert [r[1:] for r in got[table]] == [r[1:] for r in rows]
            else:
                assert got[table] == rows, table


CRASHER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from edge.store import AssetStore
    from edge.store import migrate
    data, where, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    calls = {"n": 0}

    def die_after(real):
        def wrapper(*a, **kw):
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            calls["n"] += 1
            return real(*a, **kw)
        return wrapper

    if where == "restore":
        AssetStore.restore = die_after(AssetStore.restore)
    elif where == "rename":
        migrate.os.rename = die_after(os.rename)
    with AssetStore(data / "store", disk_floor_bytes=0, reserve_bytes=0) as store:
        migrate.import_legacy(data, store)
""")


@pytest.mark.parametrize(("where", "n"), [("restore", 0), ("restore", 7), ("restore", 17), ("rename", 0),
                                          ("rename", 2)])
def test_an_import_killed_at_a_chosen_step_is_completed_by_the_next_one(data_dir: Path, where: str, n: int) -> None:
    legacy = read_legacy(data_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CRASHER, str(data_dir), where, str(n)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL, out.stderr
    with open_store(data_dir) as store:
        done = store.db.read("SELECT source FROM imports")
        assert store.count() == (n if where == "restore" else len(legacy.assets))
        assert done == ([] if where == "restore" else [(IMPORT_SOURCE,)])
        report = import_legacy(data_dir, store)
        if where == "restore":
            assert report is not None and report.assets == len(legacy.assets)
            assert (report.runs, report.records, report.notices) == (5, store.records.count(), 1)
        else:
            assert report is None  # it was done; only the renames were left
        assert store.count() == len(legacy.assets) and len(store.records.runs()) == 5
        assert len(store.db.read("SELECT * FROM notices")) == 1
        assert store.db.read("SELECT attempts FROM outbox WHERE asset_id = ?", (FAILED_UPLOAD,)) == [(2,)]
    assert not (data_dir / "store" / "assets.json").exists() and not (data_dir / "store" / "captions").exists()
    assert not (data_dir / "sync" / "outbox.sqlite").exists()
    assert (data_dir / "store" / "captions.imported" / "cam1.jsonl").is_file()
