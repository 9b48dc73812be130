"""The dashboard as a person uses it: a real box behind real uvicorn, driven by headless Chromium.

Screenshots land in tests/dashboard/_screens/ (phone 375x800 and desktop 1280x800) for a look by eye.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from edge.dashboard.app import create_app
from tests.dashboard.conftest import PASSWORD, build_box, png_bytes, start_server, stop_server

from playwright import sync_api  # noqa: E402  (make setup installs it and Debian's chromium)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Browser tests are part of the acceptance: a missing chromium must fail loudly, not skip.
pytestmark = [pytest.mark.slow]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENS = Path(__file__).parent / "_screens"
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 800}
# Words of the clip's first sentence ("The city council voted on Tuesday to approve a new budget
# for public transport."); the tiny model may miss some, not all.
FIRST_SENTENCE_WORDS = re.compile(r"city|council|voted|tuesday|budget|public|transport", re.I)


@pytest.fixture(scope="module")
def site(tmp_path_factory, speech_models) -> Iterator[SimpleNamespace]:
    box = build_box(tmp_path_factory.mktemp("browser-box"), speech_models)
    live = start_server(create_app(box, admin_password=PASSWORD))
    yield SimpleNamespace(url=live.url, box=box)
    stop_server(live)
    box.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport=PHONE)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


def log_in(page, url: str, password: str = PASSWORD) -> None:
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.fixture
def page(context, site):
    """A phone-sized page, logged in through the form; any script error or CSP violation fails the test."""
    p = context.new_page()
    errors: list[str] = []
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(site.url + "/live")
    log_in(p, site.url)
    p.wait_for_url(site.url + "/live")
    yield p
    assert errors == [], f"the browser reported errors: {errors}"


def test_a_wrong_password_shows_an_error_and_stays_on_the_login_page(context, site):
    page = context.new_page()
    page.goto(site.url + "/login")
    log_in(page, site.url, password="not the password")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Wrong username or password."
    assert page.url == site.url + "/login"
    assert context.cookies() == []


def test_logging_in_returns_to_the_page_asked_for(context, site):
    page = context.new_page()
    page.goto(site.url + "/assets?q=harbour")
    assert page.url.startswith(site.url + "/login?next=")
    log_in(page, site.url)
    page.wait_for_url(site.url + "/assets?q=harbour")
    cookie = context.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_live_captions_arrive_from_a_stream_added_on_the_streams_page(page, context, site, news_clip):
    wav, _ = news_clip
    # The live page is open first: the new stream must show up on it by itself.
    page.evaluate("""() => {
        window.partialsSeen = [];
        new MutationObserver(() => {
            for (const el of document.querySelectorAll('.partial')) {
                if (el.textContent) window.partialsSeen.push(
                    {text: el.textContent, style: getComputedStyle(el).fontStyle});
            }
        }).observe(document.getElementById('live'), {subtree: true, childList: true, characterData: true});
    }""")
    page.locator("#conn.conn-live").wait_for()

    streams = context.new_page()
    streams.goto(site.url + "/streams")
    streams.fill("input[name=name]", "news")
    media = site.box.data_dir / "media"  # file sources are accepted only from the box's media folder
    media.mkdir(exist_ok=True)
    clip = shutil.copy(wav, media / "news.wav")
    streams.fill("input[name=source]", str(clip))
    streams.click("#add-stream button[type=submit]")
    streams.locator('.stream-card[data-name="news"]').wait_for()
    streams.close()

    final = page.locator('section[data-stream="news"] .final').first
    final.wait_for(timeout=40_000)  # the clip plays at real-time pace; the first sentence takes ~6 s
    assert FIRST_SENTENCE_WORDS.search(final.inner_text()), final.inner_text()
    seen = page.evaluate("window.partialsSeen")
    assert seen, "no partial caption was shown before the final"
    assert all(p["style"] == "italic" for p in seen)  # partials look provisional; finals do not
    assert page.locator('section[data-stream="news"] .final').first.evaluate(
        "el => getComputedStyle(el).fontStyle") == "normal"

    page.locator('section[data-stream="news"] .final').nth(1).wait_for(timeout=30_000)
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "live-375x800.png"))
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENS / "live-1280x800.png"))
    # The page fits a phone: nothing wider than the screen.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_upload_a_photo_from_the_phone_then_open_it(page, site):
    page.goto(site.url + "/upload")
    page.set_input_files("#capture", files=[{"name": "scene.png", "mimeType": "image/png",
                                             "buffer": png_bytes(64, 48, (20, 120, 200))}])
    assert "scene.png" in page.inner_text("#chosen")
    page.fill("textarea[name=note]", "Fire crews at the harbour")
    page.fill("input[name=tags]", "fire, harbour")
    page.click("#upload-submit")
    link = page.locator("#upload-result a")
    link.wait_for()
    assert link.inner_text() == "scene.png"
    SCREENS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENS / "upload-375x800.png"))

    link.click()
    page.wait_for_url(re.compile(r".*/assets/[0-9a-f]{26}$"))
    assert page.inner_text("h1") == "scene.png"
    image = page.locator(".preview img")
    image.wait_for()
    page.wait_for_function("document.querySelector('.preview img').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 48]
    assert page.locator(".details").inner_text().count("Fire crews at the harbour") == 1
    assert page.locator("#tag-list .tag").all_inner_texts() == ["fire", "harbour"]

    page.fill("#tags-form input[name=tags]", "fire, harbour, mayor")
    page.click("#tags-form button[type=submit]")
    page.locator("#tag-list .tag", has_text="mayor").wait_for()
    page.screenshot(path=str(SCREENS / "asset-375x800.png"), full_page=True)

    page.goto(site.url + "/assets?q=mayor")
    assert page.locator(".asset-row").count() == 1


def test_phone_screens_of_the_other_pages(page, site):
    SCREENS.mkdir(exist_ok=True)
    for name in ("streams", "assets", "health", "sync", "drafts"):
        page.goto(f"{site.url}/{name}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        page.screenshot(path=str(SCREENS / f"{name}-375x800.png"), full_page=True)
