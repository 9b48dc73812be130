"""The outbox: send order, TTL, size cap and durability, as specifications."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cloud_sync.config import SyncConfig
from cloud_sync.outbox import Outbox

T0 = 1_700_000_000.0


@dataclass
class A:
    id: str
    kind: str
    size: int = 100
    sha256: str = "0" * 64


def aid(seconds: float, n: int = 0) -> str:
    return f"{int(seconds * 1e9):016x}{n:010x}"


def order(outbox: Outbox) -> list[str]:
    return [i.kind for i in outbox.queued() if i.state == "queued"]


def test_drafts_and_captions_go_first_then_stills_and_notes_then_media_oldest_first(tmp_path: Path):
    ob = Outbox(tmp_path / "o.sqlite", SyncConfig(ttl_s={}))
    kinds = ["media", "keyframe", "upload", "note", "transcript", "draft", "caption_track", "sensor_series", "draft"]
    assets = [A(aid(T0 + i), k) for i, k in enumerate(kinds)]
    ob.refresh(assets, now=T0)
    assert order(ob) == ["transcript", "draft", "caption_track", "draft",
                         "keyframe", "note", "sensor_series", "media", "upload"]
    first = ob.next(now=T0)
    assert first is not None and first.kind == "transcript" and first.asset_id == assets[4].id


def test_next_skips_an_item_that_is_backing_off(tmp_path: Path):
    ob = Outbox(tmp_path / "o.sqlite", SyncConfig())
    a, b = A(aid(T0), "draft"), A(aid(T0 + 1), "draft")
    ob.refresh([a, b], now=T0)
    ob.failed(a.id, "center refused it", retry_in_s=30, now=T0)
    assert ob.next(now=T0 + 1).asset_id == b.id
    assert ob.next(now=T0 + 31).asset_id == a.id
    assert ob.get(a.id).last_error == "center refused it"


def test_keyframes_expire_after_their_ttl_and_drafts_never(tmp_path: Path):
    ob = Outbox(tmp_path / "o.sqlite", SyncConfig(ttl_s={"keyframe": 60}))
    kf, draft, cap = A(aid(T0, 0), "keyframe"), A(aid(T0, 1), "draft"), A(aid(T0, 2), "caption_track")
    assert ob.refresh([kf, draft, cap], now=T0 + 30).expired == []
    assert ob.refresh([kf, draft, cap], now=T0 + 61).expired == [kf.id]
    states = {i.asset_id: i.state for i in ob.queued()}
    assert states == {kf.id: "expired", draft.id: "queued", cap.id: "queued"}
    assert ob.refresh([kf, draft, cap], now=T0 + 10_000).expired == []  # reported once
    assert ob.stats().expired == 1


def test_drafts_and_captions_cannot_be_given_a_ttl():
    for kind in ("draft", "caption_track", "transcript"):
        with pytest.raises(ValueError, match="never expire"):
            SyncConfig(ttl_s={kind: 60})


def test_full_queue_holds_new_media_but_never_drafts_or_captions(tmp_path: Path):
    ob = Outbox(tmp_path / "o.sqlite", SyncConfig(max_queue_bytes=1000, ttl_s={}))
    big = A(aid(T0, 1), "media", 900)
    ob.refresh([big], now=T0)
    more = [A(aid(T0, 2), "upload", 500), A(aid(T0, 3), "draft", 5000), A(aid(T0, 4), "caption_track", 800)]
    ob.refresh([big, *more], now=T0)
    states = {i.asset_id: i.state for i in ob.queued()}
    assert states[more[0].id] == "held"  # the upload would take the queue over its cap
    assert states[more[1].id] == "queued" and states[more[2].id] == "queued"  # over the cap, still queued
    assert ob.stats().held == 1 and ob.stats().bytes_pending == 900 + 500 + 5000 + 800
    # Held is not dropped: once the queue drains it is sent.
    for i in [big, more[1], more[2]]:
        ob.done(i.id)
    assert ob.get(more[0].id).state == "queued"


def test_one_file_bigger_than_the_cap_still_goes_when_the_queue_is_empty(tmp_path: Path):
    ob = Outbox(tmp_path / "o.sqlite", SyncConfig(max_queue_bytes=1000))
    huge = A(aid(T0), "media", 10_000)
    ob.refresh([huge], now=T0)
    assert ob.next(now=T0).asset_id == huge.id


def test_state_survives_reopening_and_synced_assets_leave(tmp_path: Path):
    path = tmp_path / "o.sqlite"
    ob = Outbox(path, SyncConfig())
    a, b = A(aid(T0), "media", 5000), A(aid(T0 + 1), "draft")
    ob.refresh([a, b], now=T0)
    ob.started(a.id)
    ob.progress(a.id, 4096)
    nid = ob.add_notice("edge/x/status", {"state": "up"})
    ob.close()
    ob = Outbox(path, SyncConfig())
    item = ob.get(a.id)
    assert item.attempts == 1 and item.acked_bytes == 4096
    assert ob.stats().bytes_pending == (5000 - 4096) + 100
    assert [n.id for n in ob.notices()] == [nid]
    ob.refresh([b], now=T0)  # the store says `a` is no longer pending (synced elsewhere): it leaves
    assert ob.get(a.id) is None and ob.get(b.id) is not None


def test_outbox_is_rebuilt_from_the_store_when_its_file_is_lost(tmp_path: Path):
    assets = [A(aid(T0), "draft"), A(aid(T0 + 1), "media")]
    Outbox(tmp_path / "o.sqlite", SyncConfig()).refresh(assets, now=T0)
    (tmp_path / "o.sqlite").unlink()
    ob = Outbox(tmp_path / "o.sqlite", SyncConfig())
    assert ob.refresh(assets, now=T0).added == [a.id for a in assets]
