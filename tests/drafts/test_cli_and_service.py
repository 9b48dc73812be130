"""`edge draft` on transcript files and stores, and the box drafting by itself (DraftService)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.config import DraftsConfig
from edge.drafts.ninjs import provenance_of, validate
from edge.drafts.postprocess import DraftService
from edge.drafts.store import DraftStore
from edge.events import CaptionEvent
from edge.profiles import LlmChoice
from edge.runtime.scheduler import Priority, Scheduler
from edge.store import AssetStore

from .conftest import FLOOD


@pytest.fixture
def edge(capsys):
    """`edge ARGS...` in this process (the real command line, without a Python start-up per call)."""
    from edge.cli import main

    def run(*args: str) -> SimpleNamespace:
        code = main(list(args))
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def _transcript(path: Path, texts: list[str]) -> Path:
    lines = []
    for i, t in enumerate(texts):
        lines.append({"type": "partial", "stream": "cam", "text": t[:10], "start": i * 4.0, "end": i * 4.0 + 1,
                      "emitted_at": i * 4.0 + 1})
        lines.append({"type": "final", "stream": "cam", "text": t, "start": i * 4.0, "end": i * 4.0 + 4,
                      "emitted_at": i * 4.0 + 4.5})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_edge_draft_prints_a_valid_ninjs_document_from_a_transcript(tmp_path: Path, edge):
    r = edge("draft", "--transcript", str(_transcript(tmp_path / "t.jsonl", FLOOD)), "--event-name",
             "Riverside flood briefing", "--no-model", "--json", "--box-id", "truck-7")
    assert r.returncode == 0, r.stderr
    doc = validate(json.loads(r.stdout))
    assert doc["events"] == [{"name": "Riverside flood briefing"}] and doc["pubstatus"] == "withheld"
    assert provenance_of(doc)["sources"]["segments"] == len(FLOOD)  # finals only, partials ignored


def test_edge_draft_readable_output_lists_quotes_and_facts(tmp_path: Path, edge):
    r = edge("draft", "--transcript", str(_transcript(tmp_path / "t.jsonl", FLOOD)), "--no-model")
    assert r.returncode == 0, r.stderr
    assert "Quotes:" in r.stdout and "Key facts: 4.2 metres; thirty homes; two shelters" in r.stdout
    assert "(extractive draft: no language model: --no-model given)" in r.stdout


@pytest.mark.parametrize("content, message", [
    ("", "no speech to draft from"),
    ('{"type": "final", "stream": "cam", "text": "", "start": 0, "end": 1}\n', "no speech to draft from"),
    ('{"type": "final", "stream": "cam", "text": "Um, uh. Okay.", "start": 0, "end": 1}\n', "only filler words"),
    ("not json at all\n", "line 1 is not a caption event"),
])
def test_edge_draft_bad_transcripts_fail_in_one_line(tmp_path: Path, content: str, message: str, edge):
    path = tmp_path / "t.jsonl"
    path.write_text(content)
    r = edge("draft", "--transcript", str(path), "--no-model")
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_edge_draft_from_a_store_names_unknown_streams(tmp_path: Path, edge):
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "rtsp://cam", live=True)
        store.records.append_captions(run, [CaptionEvent("final", "cam", t, i * 4.0, i * 4.0 + 4, 0.0)
                                            for i, t in enumerate(FLOOD)])
    r = edge("draft", "--data", str(tmp_path), "--stream", "cam", "--no-model", "--json")
    assert r.returncode == 0, r.stderr
    assert provenance_of(validate(json.loads(r.stdout)))["sources"]["streams"] == ["cam"]
    r = edge("draft", "--data", str(tmp_path), "--stream", "stage", "--no-model")
    assert r.returncode == 2 and "no stream 'stage'" in r.stderr and "(streams: cam)" in r.stderr


def _service(store: AssetStore, **settings) -> DraftService:
    # A model name the registry does not hold: the service drafts extractively and says why.
    return DraftService(store, DraftStore(store, box_id="truck-7"),
                        DraftsConfig(min_new_words=20, min_interval_s=10, **settings),
                        LlmChoice(model="not-provisioned"))


def test_the_box_drafts_a_stream_once_it_has_enough_new_speech_and_not_again(tmp_path: Path):
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "rtsp://cam", live=True)
        service = _service(store)
        store.records.append_captions(run, [CaptionEvent("final", "cam", "Good morning everyone.", 0, 2, 2)])
        assert service.step() == 0  # four words: not enough yet
        store.records.append_captions(run, [CaptionEvent("final", "cam", t, i * 4.0, i * 4.0 + 4, 0.0)
                                            for i, t in enumerate(FLOOD)])
        assert service.step() == 1
        [row] = service.drafts.list()
        assert row.stream == "cam" and row.state == "generated" and "not-provisioned" in row.content["fallback_reason"]
        assert service.drafts.last_seq("cam") == store.records.last_seq()
        service._last_auto.clear()
        assert service.step() == 0  # nothing new since that draft
    with AssetStore(tmp_path / "store") as store:  # after a restart: the cursor is the stored draft's
        assert _service(store).step() == 0


def test_a_filler_only_stream_makes_no_draft_and_the_service_carries_on(tmp_path: Path):
    with AssetStore(tmp_path / "store") as store:
        run = store.records.open_run("cam", "rtsp://cam", live=True)
        store.records.append_captions(run, [CaptionEvent("final", "cam", "Um, uh, okay, yeah, so, um, uh.", i, i + 1, 0)
                                            for i in range(10)])
        service = _service(store)
        assert service.step() == 0 and service.drafts.list() == []


@pytest.mark.slow
def test_generation_runs_at_the_lowest_priority_through_the_scheduler(tmp_path: Path, llm):
    from edge.drafts.pipeline import draft_from_segments

    from .conftest import segments

    model, info = llm
    scheduler = Scheduler()
    d = draft_from_segments(segments(FLOOD), model=model, max_new_tokens=16, scheduler=scheduler, model_info=info)
    stats = scheduler.stats().classes
    assert stats[Priority.GENERATION].granted >= 1 and stats[Priority.GENERATION].busy_s > 0
    assert all(stats[p].granted == 0 for p in Priority if p != Priority.GENERATION)
    assert d.model["tokens"] <= 16
