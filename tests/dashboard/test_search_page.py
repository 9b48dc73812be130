"""The dashboard's search: the same search as `edge search`, a results page a phone can use, links to the moment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from edge.dashboard.app import create_app
from edge.store.records import CAPTION
from edge.tagging.postprocess import TaggingPostProcessor
from tests.dashboard.conftest import PASSWORD, build_box, start_server, stop_server
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, log_in

from playwright import sync_api  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory, no_models, embedder) -> Iterator[SimpleNamespace]:
    box = build_box(tmp_path_factory.mktemp("search-box"), no_models)
    box.embedder = embedder
    run = box.store.records.open_run("cam1", "rtsp://127.0.0.1/demo", live=True, origin=time.time() - 30)
    box.store.records.append([
        (CAPTION, run.id, "cam1", 2.0, 5.0, run.wall(2.0), run.wall(5.0), "The flood wall on the east bank held.", "{}"),
        (CAPTION, run.id, "cam1", 6.0, 9.0, run.wall(6.0), run.wall(9.0), "Forty homes were evacuated overnight.", "{}"),
    ])
    box.store.records.close_run(run.id, "ended")
    TaggingPostProcessor(box.store, embedder, clock=lambda: time.time() + 3600).step()
    live = start_server(create_app(box, admin_password=PASSWORD))
    yield SimpleNamespace(url=live.url, box=box, run=run)
    stop_server(live)
    box.close()


def test_api_search_returns_where_to_jump_and_refuses_an_empty_query(site):
    import httpx

    with httpx.Client(base_url=site.url) as http:
        token = http.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        body = http.get("/api/search", params={"q": "people left their homes"}, headers=auth).json()
        assert body["semantic"] is True
        top = body["results"][0]
        assert "evacuated" in top["text"] and top["run"] == site.run.id and top["start"] == 6.0
        empty = http.get("/api/search", params={"q": "  "}, headers=auth)
        assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    with httpx.Client(base_url=site.url) as anonymous:  # no login cookie
        assert anonymous.get("/api/search", params={"q": "flood"}).status_code == 401


def test_the_search_page_on_a_phone_lists_results_with_their_moment(site):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=PHONE).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site.url + "/search")
        log_in(page, site.url)
        page.wait_for_url("**/search*")
        page.fill("input[name=q]", "flood wall")
        page.click("form.search button[type=submit]")
        first = page.locator("li.result").first
        first.wait_for()
        assert "flood wall" in first.inner_text()
        link = first.locator("a").first.get_attribute("href")
        assert f"run={site.run.id}" in link and "at=2.0" in link
        page.fill("input[name=q]", "zzzqqq")
        page.click("form.search button[type=submit]")
        page.wait_for_selector("text=No results")
        browser.close()
        assert errors == []
