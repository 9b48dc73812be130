"""What the newsroom receives: every exported item carries its metadata in a ninjs 2.2 document that
validates against IPTC's schema; caption files keep readable names; approved drafts arrive as the box wrote them.

A real box store syncs to a real center over the real protocol; the export reads the center's index.
"""

from __future__ import annotations

import json
from pathlib import Path

from cloud_sync.config import SyncConfig
from cloud_sync.syncer import Syncer
from edge.drafts.ninjs import provenance_of, validate
from edge.drafts.pipeline import draft_from_segments
from edge.drafts.store import DraftStore
from edge.events import CaptionEvent
from edge.store import AssetStore
from tests.drafts.conftest import FLOOD, segments

from .conftest import center_cli, make_box

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nThe flood wall held.\n"


def test_every_exported_item_has_a_valid_ninjs_document_with_its_metadata(center, tmp_path: Path):
    files = make_box(tmp_path / "box", "truck-7", center.data, center.endpoint, server=center.server)
    with AssetStore(files.store) as store:
        run = store.records.open_run("cam1", "rtsp://cam/1", live=True, origin=1_764_540_000.0)
        store.records.append_captions(run, [CaptionEvent("final", "cam1", "The flood wall held.", 1.0, 3.0, 3.2)])
        upload = store.add_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, kind="upload", name="IMG_0042.png",
                                 mime="image/png", stream="cam1", tags=["flood", "riverside"],
                                 meta={"uploaded_by": "maria", "note": "Mayor at the flood wall, east bank"})
        track = store.add_bytes(VTT.encode(), kind="caption_track", name="cam1-20251130-220000-captions.vtt",
                                mime="text/vtt", stream="cam1", run=run.id, start=1.0, end=3.0,
                                meta={"run": run.id, "wall_start": run.wall(1.0)})
        text = store.add_bytes(b"The flood wall held.\n", kind="transcript", mime="text/plain", stream="cam1",
                               run=run.id, name="cam1-20251130-220000-transcript.txt", meta={"run": run.id})
        still = store.add_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64, kind="keyframe", name="cam1-000012.jpg",
                                mime="image/jpeg", stream="cam1", run=run.id, meta={"run": run.id})
        drafts = DraftStore(store, box_id="truck-7")
        row = drafts.create(draft_from_segments(segments(FLOOD), model=None, model_error="not needed"), stream="cam1")
        unapproved = drafts.create(draft_from_segments(segments(FLOOD[:3]), model=None), stream="cam1")
        row = drafts.approve(row.id, user="maria")
        syncer = Syncer(store, files.root, SyncConfig())
        assert syncer.run(until_drained=True, timeout=30)
        syncer.close()
        assert drafts.get(row.id).state == "synced"  # the center holds it now

    out = tmp_path / "export"
    center_cli("export", "--data", str(center.data), "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    by_id = {a["id"]: a for a in manifest["assets"]}
    assert manifest["skipped"] == []
    # Only the approved draft went to the newsroom.
    drafts_out = [a for a in manifest["assets"] if a["kind"] == "draft"]
    assert [a["id"] for a in drafts_out] == [row.asset_id] and unapproved.asset_id is None
    for a in manifest["assets"]:
        doc = validate(json.loads((out / a["ninjs"]).read_text()))  # every document, against the schema
        assert doc["uri"].startswith("urn:edge-box:truck-7:")
        assert {"role": "edge-box", "value": "truck-7"} in doc["altids"]

    up = json.loads((out / by_id[upload.id]["ninjs"]).read_text())
    assert up["type"] == "picture" and up["by"] == "maria"
    assert up["descriptions"][0]["value"] == "Mayor at the flood wall, east bank"
    assert [s["name"] for s in up["subjects"]] == ["flood", "riverside"]
    assert {"role": "edge-stream", "value": "cam1"} in up["altids"]
    assert by_id[upload.id]["note"] == "Mayor at the flood wall, east bank" and by_id[upload.id]["uploaded_by"] == "maria"

    # Caption files are named by stream and time, not by id; their documents carry the run and wall time.
    assert by_id[track.id]["file"] == "truck-7/captions/cam1-20251130-220000-captions.vtt"
    assert (out / by_id[track.id]["file"]).read_text() == VTT
    assert by_id[text.id]["file"] == "truck-7/captions/cam1-20251130-220000-transcript.txt"
    cap = json.loads((out / by_id[track.id]["ninjs"]).read_text())
    assert {"role": "edge-run", "value": run.id} in cap["altids"]
    assert cap["contentcreated"] == "2025-11-30T22:00:01Z"
    assert cap["renditions"][0]["href"] == "file:captions/cam1-20251130-220000-captions.vtt"
    assert provenance_of(cap)["run"] == run.id
    assert json.loads((out / by_id[still.id]["ninjs"]).read_text())["type"] == "picture"

    # The draft is the box's own document: approved (usable), with its per-sentence provenance.
    d = json.loads((out / drafts_out[0]["ninjs"]).read_text())
    assert d["pubstatus"] == "usable" and d["uri"] == f"urn:edge-box:truck-7:draft:{row.id}"
    prov = provenance_of(d)
    assert prov["mode"] == "extractive" and all(s.get("support") for s in prov["sentences"][1:])
