"""`edge-center search`: everything two real boxes synced to a real center, searched by words and by meaning."""

from __future__ import annotations

import json

from cloud_sync.syncer import Syncer
from edge.store import AssetStore

from .conftest import center_cli, make_box
from .test_captions import RUN1, add_segment, final


def search(cdir, *args: str) -> list[dict]:
    return json.loads(center_cli("search", "--data", str(cdir), *args, "--json", timeout=120).stdout)["results"]


def test_center_search_finds_captions_and_notes_of_every_box_and_skips_hostile_bodies(center, tmp_path):
    boxes = {"truck-7": "The flood wall on the east bank held overnight.",
             "truck-9": "Forty homes in Riverside were evacuated as a precaution."}
    for box_id, said in boxes.items():
        files = make_box(tmp_path / box_id, box_id, center.data, center.endpoint, server=center.server)
        with AssetStore(files.store) as store:
            add_segment(store, "main", RUN1, [final(RUN1, 0, said)], [b"not json", b"[" * 50_000])
            store.add_bytes(b"Sandbags along the harbour road", kind="note", name="note.txt", mime="text/plain",
                            text="Sandbags along the harbour road")
            store.add_bytes(b"{not a ninjs document", kind="draft", name="broken.json", mime="application/json")
            syncer = Syncer(store, files.root)
            assert syncer.run(until_drained=True, timeout=60)
            syncer.close()

    by_words = search(center.data, "flood wall", "--text-only")
    assert by_words[0]["box"] == "truck-7" and by_words[0]["run"] == RUN1 and by_words[0]["kind"] == "caption_segment"

    by_meaning = search(center.data, "people left their houses for safety")
    assert by_meaning[0]["box"] == "truck-9" and "meaning" in by_meaning[0]["matched"]

    notes = search(center.data, "sandbags")
    assert {h["box"] for h in notes if h["kind"] == "note"} == {"truck-7", "truck-9"}

    empty = center_cli("search", "--data", str(center.data), " ", check=False)
    assert empty.returncode != 0 and "empty" in empty.stderr
