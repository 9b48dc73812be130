"""Draft states, the audit trail and what goes to the newsroom, on the real one-database store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.drafts.ninjs import provenance_of, validate
from edge.drafts.pipeline import draft_from_segments
from edge.drafts.store import DraftStateError, DraftStore
from edge.store import AssetStore

from .conftest import FLOOD, segments


@pytest.fixture
def store(tmp_path: Path):
    s = AssetStore(tmp_path / "store")
    yield s
    s.close()


def _draft():
    return draft_from_segments(segments(FLOOD), model=None, model_error="not needed here")


def test_generated_edited_approved_synced_with_an_audit_of_who_did_what(store):
    drafts = DraftStore(store, box_id="truck-7")
    row = drafts.create(_draft(), stream="cam", last_seq=5)
    assert (row.state, row.version, row.asset_id) == ("generated", 1, None)
    assert store.list(kind="draft") == []  # nothing goes to the newsroom before approval

    first = row.content["body"][0]["text"]
    row = drafts.edit(row.id, user="maria", headline="Flood wall held, thirty homes evacuated",
                      body=[first, "Crews will inspect the wall again at noon."])
    assert (row.state, row.version) == ("edited", 2)
    assert row.content["body"][0].get("support")  # an unchanged sentence keeps its sources
    assert row.content["body"][1]["edited_by"] == "maria" and "support" not in row.content["body"][1]

    row = drafts.approve(row.id, user="maria")
    assert row.state == "approved" and row.asset_id
    asset = store.get(row.asset_id)
    assert asset.kind == "draft" and asset.meta["draft_id"] == row.id and asset.meta["version"] == 2
    doc = validate(json.loads(store.content_path(asset.id).read_bytes()))
    assert doc["pubstatus"] == "usable" and doc["by"] == "maria"
    assert doc["headlines"][0]["value"] == "Flood wall held, thirty homes evacuated"
    assert doc["digitalsourcetype"]["uri"].endswith("/compositeWithTrainedAlgorithmicMedia")
    assert provenance_of(doc)["edited"] is True

    store.mark_synced(asset.id)
    assert drafts.get(row.id).state == "synced"
    actions = [(a["user"], a["action"]) for a in drafts.audit(row.id)]
    assert actions == [("box", "generated"), ("maria", "edited"), ("maria", "approved"), ("maria", "queued")]
    edit = drafts.audit(row.id)[1]["detail"]
    assert edit["headline"]["to"] == "Flood wall held, thirty homes evacuated" and edit["headline"]["from"]


def test_rejected_drafts_are_not_sent_and_cannot_be_approved_without_an_edit(store):
    drafts = DraftStore(store, box_id="truck-7")
    row = drafts.reject(drafts.create(_draft(), stream="cam").id, user="lee", reason="duplicate of the 10:00 draft")
    assert row.state == "rejected" and store.list(kind="draft") == []
    with pytest.raises(DraftStateError, match="rejected: it cannot be approved"):
        drafts.approve(row.id, user="lee")
    assert drafts.audit(row.id)[-1]["detail"] == {"reason": "duplicate of the 10:00 draft"}
    assert validate(drafts.document(row.id))["pubstatus"] == "canceled"


def test_sync_all_sends_every_version_withheld(store):
    drafts = DraftStore(store, box_id="truck-7", sync="all")
    row = drafts.create(_draft(), stream="cam")
    doc = json.loads(store.content_path(row.asset_id).read_bytes())
    assert doc["pubstatus"] == "withheld"


def test_bad_edits_are_refused_with_the_reason(store):
    drafts = DraftStore(store, box_id="truck-7")
    row = drafts.create(_draft(), stream="cam")
    with pytest.raises(DraftStateError, match="headline is empty"):
        drafts.edit(row.id, user="x", headline="   ")
    with pytest.raises(DraftStateError, match="no draft"):
        drafts.get("nope")
    assert drafts.get(row.id).state == "generated"  # nothing changed


def test_drafts_survive_a_restart(tmp_path: Path):
    with AssetStore(tmp_path / "store") as s:
        row = DraftStore(s, box_id="b").create(_draft(), stream="cam", last_seq=9)
    with AssetStore(tmp_path / "store") as s:
        drafts = DraftStore(s, box_id="b")
        assert drafts.get(row.id).headline == row.headline and drafts.last_seq("cam") == 9


def test_the_taggers_topics_become_the_drafts_subjects(store):
    from edge.drafts.postprocess import segments_for, tags_in_window
    from edge.events import CaptionEvent
    from edge.store.records import TAGS

    run = store.records.open_run("cam", "rtsp://cam", live=True)
    recs = store.records.append_captions(run, [CaptionEvent("final", "cam", t, i * 4.0, i * 4.0 + 4, 0.0)
                                               for i, t in enumerate(FLOOD)])
    data = {"topics": [{"label": "disaster and accident", "code": "medtop:03000000"}], "keywords": ["flood wall"],
            "entities": [], "seqs": [r.seq for r in recs]}
    store.records.append([(TAGS, run.id, "cam", 0.0, 20.0, 0.0, 20.0, "disaster and accident", json.dumps(data))])
    segs, _marked, last = segments_for(store, "cam")
    tags = tags_in_window(store, "cam", segs[0].seq, last)
    assert tags == ["disaster and accident", "flood wall"]
    drafts = DraftStore(store, box_id="truck-7")
    row = drafts.create(draft_from_segments(segs, model=None), stream="cam", tags=tags)
    assert [s["name"] for s in validate(drafts.document(row.id))["subjects"]] == tags
    assert store.get(drafts.approve(row.id, user="ed").asset_id).tags == tags
