"""The Syncer loop: store in, center out, link state for the dashboard."""

from __future__ import annotations

import threading
import time

import pytest

from cloud_sync.boxfiles import BoxFiles, NotPaired
from cloud_sync.config import SyncConfig
from cloud_sync.syncer import Syncer
from edge.store import AssetStore

from .conftest import make_box, start_center, wait_for
from .test_protocol import stored

FAST = SyncConfig(reply_timeout_s=1.0, ping_interval_s=0.3, poll_s=0.2, backoff_min_s=0.1, backoff_max_s=0.5)


def test_drains_the_store_in_priority_order_and_marks_synced(center, tmp_path):
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    with AssetStore(files.store) as store:
        media = store.add_bytes(b"m" * 300_000, kind="media", name="clip.mp4")
        draft = store.add_bytes(b"Headline\nBody", kind="draft", name="d")
        syncer = Syncer(store, files.root, FAST)
        state = syncer.link_state()
        # Storing an asset queued it in the same transaction: the backlog shows before the link is up.
        assert state["state"] == "down" and state["queue_depth"] == 2
        assert syncer.run(until_drained=True, timeout=30)
        assert store.pending_sync() == []
        assert store.get(media.id).sync == "synced"
        syncer.close()
    rows = stored(center)
    assert sorted(r["id"] for r in rows) == sorted([media.id, draft.id])
    assert min(rows, key=lambda r: r["stored_at"])["id"] == draft.id  # the draft went first


def test_link_state_while_running_in_a_thread(tmp_path):
    center = start_center(tmp_path / "center")
    endpoint = center.endpoint
    files = make_box(tmp_path / "box", "cam1", center.data, endpoint, server=center.server)
    store = AssetStore(files.store)
    syncer = Syncer(store, files.root, FAST)
    syncer.start()
    try:
        wait_for(lambda: syncer.link_state()["state"] == "up", 5, what="link up")
        a = store.add_bytes(b"late arrival", kind="note", name="n")  # arrives while the syncer runs
        wait_for(lambda: store.get(a.id).sync == "synced", 5, what="the new asset to sync")

        center.stop()  # the link dies: noticed within a few seconds
        t0 = time.monotonic()
        wait_for(lambda: syncer.link_state()["state"] == "down", 5, what="link down")
        assert time.monotonic() - t0 < 4
        b = store.add_bytes(b"while down", kind="note", name="n2")
        wait_for(lambda: syncer.link_state()["queue_depth"] == 1, 3, what="the queue to show the backlog")
        state = syncer.link_state()
        assert state["bytes_pending"] == len(b"while down") and state["last_error"]

        center = start_center(tmp_path / "center", bind=endpoint)
        wait_for(lambda: store.get(b.id).sync == "synced", 15, what="resync after the center came back")
        assert set(syncer.link_state()) >= {"state", "queue_depth", "bytes_pending", "rate_bps", "eta_s", "last_error"}
    finally:
        syncer.stop()
        syncer.close()
        store.close()
        center.stop()
    assert not any(t.name == "sync-cam1" for t in threading.enumerate())


def test_bandwidth_cap_holds_the_rate(center, tmp_path):
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    config = SyncConfig(chunk_size=16 * 1024, window=4, bandwidth_kbps=800)  # 100 kB/s
    with AssetStore(files.store) as store:
        store.add_bytes(bytes(400_000), kind="media", name="m")
        syncer = Syncer(store, files.root, config)
        rates = []
        sampler_stop = threading.Event()

        def sample() -> None:
            while not sampler_stop.wait(0.5):
                rates.append(syncer.link_state()["rate_bps"])

        t = threading.Thread(target=sample)
        t.start()
        t0 = time.monotonic()
        assert syncer.run(until_drained=True, timeout=30)
        elapsed = time.monotonic() - t0
        sampler_stop.set()
        t.join()
        syncer.close()
    # 400 kB at 100 kB/s after a 50 kB burst: 3.5 s.
    assert 3.0 < elapsed < 6.0
    assert 600_000 < max(rates[2:]) < 1_100_000


def test_expired_keyframes_are_marked_and_not_sent_but_drafts_are(center, tmp_path):
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    with AssetStore(files.store) as store:
        kf = store.add_bytes(b"jpeg", kind="keyframe", name="k")
        draft = store.add_bytes(b"text", kind="draft", name="d")
        time.sleep(0.2)
        syncer = Syncer(store, files.root, SyncConfig(ttl_s={"keyframe": 0.1}))
        assert syncer.run(until_drained=True, timeout=20)
        assert syncer.link_state()["expired"] == 1
        assert store.get(kf.id).sync == "pending" and "sync_expired_at" in store.get(kf.id).meta
        assert store.get(draft.id).sync == "synced"
        syncer.close()
    assert [r["id"] for r in stored(center)] == [draft.id]


def test_an_unpaired_box_cannot_build_a_syncer(tmp_path):
    files = BoxFiles(tmp_path / "box")
    files.init("cam1")
    with AssetStore(files.store) as store, pytest.raises(NotPaired, match="not paired"):
        Syncer(store, files.root)


def test_until_drained_gives_up_at_its_timeout_when_the_center_is_away(tmp_path):
    center = start_center(tmp_path / "center")
    files = make_box(tmp_path / "box", "cam1", center.data, center.endpoint, server=center.server)
    center.stop()
    with AssetStore(files.store) as store:
        store.add_bytes(b"x", kind="note", name="n")
        syncer = Syncer(store, files.root, FAST)
        t0 = time.monotonic()
        assert not syncer.run(until_drained=True, timeout=2)
        assert time.monotonic() - t0 < 3.5
        assert syncer.link_state()["queue_depth"] == 1
        syncer.close()
