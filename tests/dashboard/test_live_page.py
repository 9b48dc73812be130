"""The live page as a crew uses it on a phone: a status banner, why a stream is not playing, an audio level
meter, the camera snapshot, captions grouped by run with wall-clock times, copy and mark-as-quote.

A real box (store, bus, supervisor, GStreamer ingest) behind real uvicorn, driven by headless Chromium.
Streams here carry no speech models: the captions are stored and published the way the supervisor does,
so each test controls exactly which finals exist in which run.
"""

from __future__ import annotations

import asyncio
import re
import wave
from functools import partial
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from playwright.sync_api import expect
import pytest
from argon2 import PasswordHasher

from edge.asr.processor import LevelMeter
from edge.dashboard.app import create_app
from edge.events import SAMPLE_RATE, AudioChunk, CaptionEvent, StreamLevel
from edge.runtime.monitor import Monitor
from edge.store.records import QUOTE_MARK
from tests.dashboard.conftest import PASSWORD, build_box, start_server, stop_server
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, SCREENS, log_in

from playwright import sync_api  # noqa: E402

pytestmark = [pytest.mark.slow]
CLOCK = re.compile(r"^\d\d:\d\d:\d\d$")
DEAD_CAMERA = "rtsp://127.0.0.1:9/cam"  # nothing listens on port 9


def sine(seconds: float, amplitude: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_tone(path: Path, seconds: float, amplitude: float) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((sine(seconds, amplitude) * 32767).astype(np.int16).tobytes())
    return path


# -- the level meter ----------------------------------------------------------------------------------


def test_the_meter_reports_rms_and_peak_dbfs_at_most_five_times_a_second():
    levels: list[StreamLevel] = []
    meter = LevelMeter(levels.append)
    # 2 s of a half-scale sine in 32 ms chunks (what ingest delivers), then 1 s of digital silence.
    audio = np.concatenate([sine(2.0, 0.5), np.zeros(SAMPLE_RATE, np.float32)])
    step = 512
    for i in range(0, len(audio), step):
        meter.feed(AudioChunk("mic", i / SAMPLE_RATE, audio[i:i + step]))
    times = [lv.at for lv in levels]
    assert all(b - a >= 0.2 - 1e-6 for a, b in zip(times, times[1:]))  # <= 5 Hz of stream time
    assert 13 <= len(levels) <= 15  # 3 s of audio
    loud = [lv for lv in levels if lv.at <= 2.0]
    # A sine of amplitude 0.5 has RMS 0.5/sqrt(2): -9.03 dBFS, peak -6.02 dBFS. 440 Hz fits a 100 ms block
    # exactly (44 cycles), so only float32 rounding separates the figures from the formula (0.05 dB).
    assert all(abs(lv.rms_dbfs - -9.03) < 0.05 and abs(lv.peak_dbfs - -6.02) < 0.05 for lv in loud), loud
    assert levels[-1].rms_dbfs == StreamLevel.SILENCE_DBFS == levels[-1].peak_dbfs
    assert levels[0].bus_json()["kind"] == "level"


def test_a_running_stream_publishes_its_level_on_the_bus(tmp_path, no_models):
    box = build_box(tmp_path / "box", no_models)
    clip = write_tone(tmp_path / "tone.wav", 3.0, 0.25)

    async def first_levels() -> list[StreamLevel]:
        events = box.bus.subscribe()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0)
        box.supervisor.add_stream("tone", str(clip), remember=False)
        got, event = [], await asyncio.wait_for(first, 30)
        while len(got) < 3:
            if isinstance(event, StreamLevel):
                got.append(event)
            event = await asyncio.wait_for(anext(events), 30)
        await events.aclose()
        return got

    try:
        levels = asyncio.run(first_levels())
    finally:
        box.close()
    run = levels[0].run
    assert run is not None and all(lv.stream == "tone" and lv.run == run for lv in levels)
    # Amplitude 0.25 through 16-bit PCM and GStreamer's conversion: RMS -15.05 dBFS (0.2 dB for the resampler).
    assert all(abs(lv.rms_dbfs - -15.05) < 0.2 for lv in levels), levels


# -- the page ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory, no_models) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("live-page")
    box = build_box(root / "box", no_models)
    with pytest.MonkeyPatch.context() as mp:
        # Test-sized argon2 (see conftest.cheap_password_hashing, which is per test; this app is per module).
        mp.setattr("edge.dashboard.accounts.PasswordHasher",
                   partial(PasswordHasher, time_cost=1, memory_cost=8 * 1024, parallelism=1))
        app = create_app(box, admin_password=PASSWORD)
    Monitor.of(box).alerts.policy.stream_raise_after_s = 0  # raise at once: hysteresis is tested in test_alerts
    media = box.data_dir / "media"
    media.mkdir()
    tone = write_tone(media / "hall.wav", 120.0, 0.25)
    live = start_server(app)
    yield SimpleNamespace(url=live.url, box=box, app=app, tone=tone)
    stop_server(live)
    box.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser, site):
    """One phone, logged in once through the form (every test opens its own page in it)."""
    ctx = browser.new_context(viewport=PHONE)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    ctx.set_default_timeout(15_000)
    p = ctx.new_page()
    p.goto(site.url + "/live")
    log_in(p, site.url)
    p.wait_for_url(site.url + "/live")
    p.close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, site):
    p = context.new_page()
    errors: list[str] = []
    # Strict: not even a 404 (a stream without a picture is never asked for one).
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(site.url + "/live")
    yield p
    p.close()
    assert errors == [], f"the browser reported errors: {errors}"


def wait_for(predicate, timeout: float = 30.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail("condition not met in time")


def finals(box, run, texts: list[str], start: float = 0.0) -> list[CaptionEvent]:
    """Store finals in `run` the way the supervisor does, and return them as it publishes them."""
    events = [CaptionEvent("final", run.stream, t, start + 2 * i, start + 2 * i + 1.5, start + 2 * i + 2)
              for i, t in enumerate(texts)]
    records = box.store.records.append_captions(run, events)
    return [CaptionEvent("final", e.stream, e.text, e.start, e.end, e.emitted_at, r.run, r.seq, r.wall_start)
            for e, r in zip(events, records)]


def test_a_playing_stream_shows_its_level_runs_and_timestamped_captions_to_copy_or_mark(page, site):
    box = site.box
    box.supervisor.add_stream("hall", str(site.tone), live=True)
    wait_for(lambda: box.supervisor.streams() and box.supervisor.streams()[0].run)
    current = box.store.records.run(box.supervisor.streams()[0].run)
    finals(box, current, ["First words.", "Second words."])
    page.reload()

    card = page.locator('section[data-stream="hall"]')
    card.locator(".final").nth(1).wait_for()
    assert card.locator(".final .text").all_inner_texts() == ["First words.", "Second words."]
    assert all(CLOCK.match(t) for t in card.locator(".final .ts").all_inner_texts())
    head = card.locator(".run-head")
    # Locator assertions poll without eval, which the dashboard's CSP forbids (a string predicate that is not
    # true at once is re-evaluated with eval: seen on CI when the meter was slower than the first check).
    expect(head).to_have_text(re.compile(r"^Run started"))
    assert re.fullmatch(r"Run started \d\d:\d\d:\d\d", head.inner_text())
    assert card.locator(".reason").is_hidden()  # playing: nothing to explain

    # The microphone is heard before any word: the meter moves and says how loud.
    expect(card.locator(".level-text")).to_have_text(re.compile(r"-?\d+ dB"))
    assert card.locator(".level-bar").evaluate("el => parseFloat(el.style.width)") > 50  # -15 dBFS on a -60..0 scale
    # No camera on an audio file: the snapshot stays hidden.
    assert card.locator(".snapshot").is_hidden()

    # The stream restarts (a new run): its captions go under their own header, in order, times from 0 again.
    restarted = box.store.records.open_run("hall", "media/hall.wav", live=True)
    for ev in finals(box, restarted, ["After the restart.", "Still in order."]):
        box.bus.publish(ev)
    card.locator(".run").nth(1).locator(".final").nth(1).wait_for()
    runs = card.locator(".run")
    assert runs.count() == 2
    assert runs.nth(0).locator(".final .text").all_inner_texts() == ["First words.", "Second words."]
    assert runs.nth(1).locator(".final .text").all_inner_texts() == ["After the restart.", "Still in order."]
    assert runs.nth(1).locator(".run-head").inner_text().startswith("Run started")

    # Tap a caption: copy it, then mark it as a quote (stored for drafts, with the caption's seq).
    quote = runs.nth(1).locator(".final").first
    quote.click()
    card.locator(".caption-actions .copy").click()
    card.locator(".caption-actions .action-note", has_text="Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "After the restart."
    card.locator(".caption-actions .mark").click()
    card.locator(".final.quote").wait_for()
    (mark,) = box.store.records.read(type=QUOTE_MARK, limit=None)
    assert mark.data["caption_seq"] == int(quote.get_attribute("data-seq")) and mark.data["by"] == "admin"
    assert mark.data["text"] == "After the restart." and mark.run == restarted.id

    # A final that is only the punctuation after the last word joins it: "pounds, shared", never "pounds , shared".
    for ev in finals(box, restarted, ["It cost 18 million pounds", ", shared with the agency."], start=20.0):
        box.bus.publish(ev)
    runs.nth(1).locator(".final").nth(3).wait_for()
    assert "18 million pounds, shared" in " ".join(runs.nth(1).inner_text().split())
    box.store.records.close_run(restarted.id, "test")

    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "live-page-375x800.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box.supervisor.remove_stream("hall")


def test_a_stream_that_cannot_connect_says_why_on_the_page_and_in_the_banner(page, site):
    box = site.box
    box.supervisor.add_stream("door", DEAD_CAMERA, remember=False)
    try:
        reason = page.locator('section[data-stream="door"] .reason')
        reason.wait_for(state="visible")
        assert re.match(r"(Reconnecting|Failed): \S", reason.inner_text()), reason.inner_text()
        # The banner is refreshed every few seconds from the alerts the box evaluates every ~2 s.
        page.locator("#status-banner.banner-bad .bad-part", has_text="door").wait_for(timeout=20_000)
        assert "door" in page.locator("#status-banner .banner-alerts").inner_text()
        assert page.locator("#status-banner").is_visible()
        page.screenshot(path=str(SCREENS / "live-down-375x800.png"))
    finally:
        box.supervisor.remove_stream("door")


def test_the_camera_snapshot_appears_when_the_stream_has_a_picture(page, site):
    from edge.vision.snapshots import SnapshotBoard

    box = site.box
    box.supervisor.add_stream("stage", str(site.tone), live=True, remember=False)
    board = SnapshotBoard()
    frame = np.zeros((90, 160, 3), np.uint8)
    frame[:, :80] = (200, 40, 40)
    board.put("stage", frame, pts=1.0)
    vision, box.supervisor.vision = box.supervisor.vision, SimpleNamespace(snapshots=board)
    try:
        page.reload()
        shot = page.locator('section[data-stream="stage"] .snapshot')
        shot.wait_for(state="visible")
        page.wait_for_function("document.querySelector('section[data-stream=stage] .snapshot').complete")
        assert shot.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [160, 90]
    finally:
        box.supervisor.vision = vision
        box.supervisor.remove_stream("stage")


def test_drafts_join_the_navigation_only_once_they_exist(page, site):
    """The drafts module sets the flag when it is installed; without it the page is not offered."""
    features = site.app.state.features
    had_drafts = "drafts" in features
    features.discard("drafts")
    try:
        page.reload()
        assert page.locator("nav a", has_text="Drafts").count() == 0
        features.add("drafts")
        page.reload()
        assert page.locator("nav a", has_text="Drafts").count() == 1
    finally:
        (features.add if had_drafts else features.discard)("drafts")


def test_an_invalid_stream_name_shows_the_rule_in_the_form(page, site):
    page.goto(site.url + "/streams")
    page.fill("input[name=name]", "cam 1!")
    page.fill("input[name=source]", DEAD_CAMERA)
    page.click("#add-stream button[type=submit]")
    error = page.locator("#stream-error")
    error.wait_for(state="visible")
    assert "1 to 64 letters" in error.inner_text() and "no spaces" in error.inner_text()
    message = page.eval_on_selector("input[name=name]", "el => el.validationMessage")
    assert "1 to 64 letters" in message and "Please match" not in message
    assert box_has_no_stream(site, "cam 1!")
    page.screenshot(path=str(SCREENS / "streams-rule-375x800.png"))


def box_has_no_stream(site, name: str) -> bool:
    return all(h.name != name for h in site.box.supervisor.streams())


def test_the_events_page_reads_on_a_phone(page, site):
    page.goto(site.url + "/events")
    assert page.locator("h1").inner_text() == "Event log"
    assert page.locator(".event").count() >= 1  # the streams the tests above started and removed
    assert all(CLOCK.match(t) for t in page.locator(".event-when time").all_inner_texts())
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(SCREENS / "events-375x800.png"), full_page=True)


def test_marking_a_quote_through_the_api(client, box):
    run = box.store.records.open_run("cam1", "rtsp://cam/1", live=True)
    (caption,) = finals(box, run, ["We will rebuild the bridge."])
    first = client.post(f"/api/captions/{caption.seq}/mark")
    assert first.status_code == 200
    assert first.json()["caption_seq"] == caption.seq and first.json()["text"] == "We will rebuild the bridge."
    # Marking twice keeps one mark; the caption list says it is marked.
    assert client.post(f"/api/captions/{caption.seq}/mark").json()["seq"] == first.json()["seq"]
    assert len(box.store.records.read(type=QUOTE_MARK, limit=None)) == 1
    assert client.get("/api/captions", params={"stream": "cam1"}).json()["captions"][0]["marked"] is True
    # The mark keeps the words out of the record's text, so a search finds the caption once.
    assert [r.seq for r in box.store.records.search("bridge")] == [caption.seq]

    missing = client.post(f"/api/captions/{caption.seq + 100}/mark")
    assert missing.status_code == 404 and "no caption number" in missing.json()["detail"]
    assert client.post(f"/api/captions/{first.json()['seq']}/mark").status_code == 404  # a mark is not a caption
    assert client.post("/api/captions/abc/mark").status_code == 422
