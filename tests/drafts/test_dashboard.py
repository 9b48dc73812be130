"""The draft editor on the dashboard: the JSON API (TestClient) and the page in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from edge.dashboard.app import create_app
from edge.drafts.ninjs import validate
from edge.drafts.pipeline import draft_from_segments
from edge.drafts.postprocess import segments_for
from edge.drafts.verify import Sources, check
from edge.events import CaptionEvent
from edge.profiles import load_profile
from edge.runtime.box import _draft_service
from tests.dashboard.conftest import PASSWORD, NoSpeechModels, build_box, start_server, stop_server
from tests.dashboard.conftest import cheap_password_hashing  # noqa: F401  (autouse: test-sized argon2 cost)

from .conftest import FLOOD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INVENTED = "Forty homes in Riverside were evacuated on Monday."


def _box_with_a_draft(data_dir: Path):
    box = build_box(data_dir, NoSpeechModels(load_profile("x86-cpu")))
    box.drafts = _draft_service(box)
    run = box.store.records.open_run("cam", "rtsp://camera/stream", live=True, origin=1_700_000_000.0)
    box.store.records.append_captions(run, [CaptionEvent("final", "cam", t, i * 4.0, i * 4.0 + 4, i * 4.0 + 4.5)
                                            for i, t in enumerate(FLOOD)])
    segs, marked, last = segments_for(box.store, "cam")
    draft = draft_from_segments(segs, model=None, model_error="not loaded in this test", marked_seqs=marked)
    # A sentence the model might write: the real verifier removes it, and the editor must show why.
    draft.removed.append(check(INVENTED, Sources(segs), role="body"))
    row = box.drafts.drafts.create(draft, stream="cam", last_seq=last)
    return box, row


@pytest.fixture
def api(tmp_path: Path):
    box, row = _box_with_a_draft(tmp_path / "box")
    app = create_app(box, admin_password=PASSWORD)
    c = TestClient(app)
    assert c.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    yield SimpleNamespace(client=c, box=box, row=row, app=app)
    box.close()


def test_api_lists_shows_sources_edits_approves_and_audits(api):
    c, row = api.client, api.row
    assert "drafts" in api.app.state.features
    listed = c.get("/api/drafts").json()
    assert [d["id"] for d in listed] == [row.id] and listed[0]["state"] == "generated"
    d = c.get(f"/api/drafts/{row.id}").json()
    cited = d["body"][0]["sources"]
    assert cited and cited[0]["stream"] == "cam" and cited[0]["text"] in FLOOD
    assert cited[0]["wall_start"] >= 1_700_000_000.0
    assert d["removed"][-1]["text"] == INVENTED
    assert any("number not in the sources: Forty" == r for r in d["removed"][-1]["reasons"])
    r = c.post(f"/api/drafts/{row.id}/edit", json={"headline": "Flood wall held overnight",
                                                   "body": [s["text"] for s in d["body"]]})
    assert r.status_code == 200 and r.json()["state"] == "edited"
    r = c.post(f"/api/drafts/{row.id}/approve")
    assert r.status_code == 200 and r.json()["state"] == "approved"
    assert [a["action"] for a in r.json()["audit"]] == ["generated", "edited", "approved", "queued"]
    assert all(a["user"] in ("box", "admin") for a in r.json()["audit"])
    doc = validate(c.get(f"/api/drafts/{row.id}/ninjs").json())
    assert doc["pubstatus"] == "usable" and doc["headlines"][0]["value"] == "Flood wall held overnight"
    # Approving twice is refused with the reason; unknown drafts and streams are named.
    assert c.post(f"/api/drafts/{row.id}/approve").status_code == 409
    assert c.get("/api/drafts/nope").status_code == 404
    r = c.post("/api/drafts", json={"stream": "nobody"})
    assert r.status_code == 404 and "no captions of stream 'nobody'" in r.json()["detail"]


def test_a_viewer_reads_drafts_but_cannot_approve(api):
    c = api.client
    assert c.post("/api/users", json={"name": "vic", "password": "a long viewer password", "role": "viewer"}
                  ).status_code == 201
    v = TestClient(api.app)
    assert v.post("/api/login", json={"username": "vic", "password": "a long viewer password"}).status_code == 200
    assert v.get(f"/api/drafts/{api.row.id}").status_code == 200
    assert v.post(f"/api/drafts/{api.row.id}/approve").status_code == 403
    assert api.box.drafts.drafts.get(api.row.id).state == "generated"


@pytest.mark.slow
def test_editor_page_in_chromium(tmp_path: Path):
    from playwright import sync_api

    box, row = _box_with_a_draft(tmp_path / "box")
    live = start_server(create_app(box, admin_password=PASSWORD))
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(live.url + "/drafts")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(live.url + "/drafts")
            assert page.locator("nav a[href='/drafts']").count() == 1
            page.click(f"li.draft-item[data-id='{row.id}'] a")
            page.wait_for_selector("#editor:not([hidden])")
            # Each sentence beside its sources; a tap shows the caption with its time (no media kept here).
            assert page.locator("#ed-body textarea").count() == len(row.content["body"])
            page.locator("#ed-body .source").first.click()
            assert page.locator("#ed-source-view").is_visible()
            assert "cam" in page.inner_text("#ed-source-text")
            assert "no audio recorded" in page.inner_text("#ed-source-text")
            # What the verifier removed, and why, is on the page.
            removed = page.inner_text("#ed-removed")
            assert INVENTED in removed and "number not in the sources: Forty" in removed
            page.screenshot(path=str(tmp_path / "drafts-editor.png"), full_page=True)
            page.fill("#ed-headline", "Flood wall held overnight in Riverside")
            page.click("#ed-save")
            page.wait_for_selector("#ed-state.state-edited")
            page.click("#ed-approve")
            page.wait_for_selector("#ed-state.state-approved")
            audit = page.inner_text("#ed-audit")
            assert "admin edited" in audit and "admin approved" in audit
            page.set_viewport_size({"width": 375, "height": 800})  # a phone: nothing wider than the screen
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            browser.close()
        assert errors == [], errors
        assert box.drafts.drafts.get(row.id).headline == "Flood wall held overnight in Riverside"
        shutil.copy(tmp_path / "drafts-editor.png", "/tmp/drafts-editor.png") if Path("/tmp").is_dir() else None
    finally:
        stop_server(live)
        box.close()


def test_a_source_offers_its_audio_when_the_run_was_recorded(api):
    from edge.runtime.audio_record import AudioRecorder
    from tests.runtime.test_audio_record import tone

    run = api.box.store.records.run(api.row.content["sources"]["runs"][0])
    rec = AudioRecorder(api.box.store, run, piece_s=1.0)
    rec.feed(tone(0.0, 6.0, 440))
    rec.flush()
    src = api.client.get(f"/api/drafts/{api.row.id}").json()["body"][0]["sources"][0]
    assert src["media"]
    r = api.client.get(f"/api/runs/{src['run']}/audio", params={"start": src["start"], "end": min(src["end"], 6.0)})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"


def test_draft_now_from_the_dashboard_writes_a_draft_in_the_background(api):
    import time

    from edge.profiles import LlmChoice

    service = api.box.drafts
    service.llm = LlmChoice(model="not-provisioned")  # extractive: this test is about the request path
    service.start()
    try:
        r = api.client.post("/api/drafts", json={"stream": "cam"})  # the whole stream (its captions are old)
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 60
        while len(service.drafts.list()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        newest = service.drafts.list()[0]
        assert newest.id != api.row.id and [a["user"] for a in service.drafts.audit(newest.id)] == ["admin"]
    finally:
        service.stop()
