"""One search over speech, on-screen text, tags and notes: by words and by meaning."""

import json
import subprocess
import sys
import time

import pytest

from edge.search.hybrid import MAX_QUERY_CHARS, HybridSearch, QueryError
from edge.store import AssetStore
from edge.store.records import CAPTION, TAGS
from edge.tagging.postprocess import TaggingPostProcessor

SPOKEN = [
    (0.0, 4.0, "Good afternoon, thank you all for coming at short notice."),
    (4.5, 9.0, "The flood wall on the east bank held overnight."),
    (9.5, 14.0, "Forty homes in Riverside were evacuated as a precaution."),
    (40.0, 44.0, "The emergency shelter at the leisure centre is open to anyone who needs it."),
]


@pytest.fixture
def event(tmp_path, embedder):
    """A store with a run's captions, a lower third read off the screen, a keyframe and a crew note, tagged."""
    data = tmp_path / "box"
    store = AssetStore(data / "store")
    run = store.records.open_run("cam1", "rtsp://127.0.0.1/demo", live=True, origin=time.time() - 60)
    rows = [(CAPTION, run.id, "cam1", s, e, run.wall(s), run.wall(e), text, "{}") for s, e, text in SPOKEN]
    rows.append(("ocr", run.id, "cam1", 5.0, 30.0, run.wall(5.0), run.wall(30.0), "JANE OKAFOR Mayor of Riverside",
                 "{}"))
    store.records.append(rows)
    still = store.add_bytes(b"\xff\xd8\xff\xe0 not really a jpeg", kind="keyframe", name="cam1-0004.jpg",
                            mime="image/jpeg", stream="cam1", run=run.id, start=4.0)
    note = store.add_bytes(b"Crew note", kind="note", name="note.txt", mime="text/plain",
                           text="Sandbags are stacked along the harbour road by volunteers")
    store.records.close_run(run.id, "ended")
    tagger = TaggingPostProcessor(store, embedder, clock=lambda: time.time() + 3600)
    assert tagger.step() > 0
    yield store, run, still, note, data
    store.close()


def test_the_tagger_writes_a_tags_record_per_window_and_tags_notes(event):
    store, run, still, note, _ = event
    tags = store.records.read(type=TAGS, run=run.id)
    assert tags, "a closed run's captions were not tagged"
    data = tags[0].data
    assert data["topics"][0]["code"] == "medtop:03000000"
    assert {"text": "Riverside", "type": "place"} in data["entities"]
    labels = store.get(note.id).tags
    assert any(t.startswith("topic:") for t in labels) and "keyword:sandbags" in labels


def test_the_tagger_does_not_repeat_work_after_a_restart(event, embedder):
    store, run, *_ = event
    before = len(store.records.read(type=TAGS, run=run.id))
    again = TaggingPostProcessor(store, embedder, clock=lambda: time.time() + 3600)
    assert again.step() == 0
    assert len(store.records.read(type=TAGS, run=run.id)) == before


def test_search_by_words_finds_what_was_said_with_where_to_play_it(event, embedder):
    store, run, still, *_ = event
    hits = HybridSearch(store.db, embedder).search("flood wall")
    top = hits[0]
    assert top.type == "caption" and "flood wall" in top.text
    assert top.run == run.id and top.start == pytest.approx(4.5) and top.stream == "cam1"
    assert top.thumbnail == still.id  # the camera still shown at that moment
    assert "text" in top.matched


def test_search_by_meaning_finds_a_paraphrase_with_no_shared_word(event, embedder):
    store, *_ = event
    hits = HybridSearch(store.db, embedder).search("people moved out of their houses for safety", limit=3)
    assert any("evacuated" in h.text for h in hits)
    assert any("meaning" in h.matched for h in hits)


def test_search_covers_screen_text_and_notes(event, embedder):
    store, run, still, note, _ = event
    search = HybridSearch(store.db, embedder)
    assert search.search("Okafor")[0].type in ("ocr", "tags")
    assert any(h.ref == note.id for h in search.search("sandbags harbour"))


def test_empty_and_overlong_queries_are_refused_with_what_to_do(event, embedder):
    store, *_ = event
    search = HybridSearch(store.db, embedder)
    with pytest.raises(QueryError, match="empty"):
        search.search("   ")
    with pytest.raises(QueryError, match="limit"):
        search.search("flood " * (MAX_QUERY_CHARS // 5))
    assert search.search('"); DROP TABLE records; --') is not None  # FTS syntax never reaches SQLite raw


def test_edge_search_reads_a_box_beside_it_and_prints_json(event):
    store, run, *_ , data = event
    out = subprocess.run([sys.executable, "-m", "edge.cli", "search", "flood wall", "--data", str(data), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert results[0]["run"] == run.id and "flood wall" in results[0]["text"]
    bad = subprocess.run([sys.executable, "-m", "edge.cli", "search", "x", "--data", str(data / "nope"), "--text-only"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no store database" in bad.stderr
