"""Settings for admins: one box id everywhere (the one `edge init` recorded), naming and pairing the box from
the dashboard, retention (disk floor, per-kind TTLs) and the event, validated with errors naming the field and
kept across restarts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright import sync_api

from cloud_sync.keys import create_keypair
from edge.box_settings import load_settings
from edge.cli import main as edge_main
from edge.dashboard.app import create_app
from tests.dashboard.conftest import PASSWORD, build_box, start_server, stop_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MiB = 1 << 20


def test_the_box_id_from_edge_init_is_the_one_everywhere(tmp_path, no_models, capsys):
    data = tmp_path / "box"
    assert edge_main(["init", "--data", str(data), "--box-id", "truck-7"]) == 0
    capsys.readouterr()
    box = build_box(data, no_models)  # the configuration file says nothing about the id
    try:
        client = TestClient(create_app(box, admin_password=PASSWORD))
        assert client.get("/api/health").json()["box_id"] == "truck-7"
        assert client.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
        assert client.get("/api/status").json()["box_id"] == "truck-7"
        assert '<a class="brand" href="/live">truck-7</a>' in client.get("/live").text
        assert client.get("/api/settings").json()["box_id"] == "truck-7"
    finally:
        box.close()


@pytest.fixture
def admin(app) -> TestClient:
    c = TestClient(app)
    assert c.post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    return c


def test_settings_are_validated_and_the_error_names_the_field(admin, box):
    bad_floor = admin.put("/api/settings", json={"retention": {"disk_floor_mb": 5}})
    assert bad_floor.status_code == 422
    assert "field 'retention.disk_floor_mb'" in bad_floor.json()["detail"]
    never = admin.put("/api/settings", json={"retention": {"ttl_hours": {"draft": 1}}})
    assert never.status_code == 422
    assert "field 'retention.ttl_hours'" in never.json()["detail"] and "never expires" in never.json()["detail"]
    typo = admin.put("/api/settings", json={"event": {"nmae": "Flood"}})
    assert typo.status_code == 422 and "field 'event.nmae'" in typo.json()["detail"]
    assert not (box.data_dir / "settings.json").exists()  # nothing half-saved


def test_settings_take_effect_and_survive_a_restart(tmp_path, no_models):
    data = tmp_path / "box"
    box = build_box(data, no_models)
    try:
        admin = TestClient(create_app(box, admin_password=PASSWORD))
        admin.post("/api/login", json={"username": "admin", "password": PASSWORD})
        saved = admin.put("/api/settings", json={
            "event": {"name": "River flood, day 2", "place": "East bank"},
            "retention": {"disk_floor_mb": 2048, "ttl_hours": {"keyframe": 1.5, "upload": 48}}})
        assert saved.status_code == 200, saved.text
        assert box.store.disk_floor_bytes == 2048 * MiB  # in effect now, no restart needed
    finally:
        box.close()
    assert load_settings(data).event.name == "River flood, day 2"  # what drafts read
    box = build_box(data, no_models)
    try:
        admin = TestClient(create_app(box, admin_password=PASSWORD))
        admin.post("/api/login", json={"username": "admin", "password": PASSWORD})
        assert box.store.disk_floor_bytes == 2048 * MiB
        view = admin.get("/api/settings").json()
        assert view["event"] == {"name": "River flood, day 2", "place": "East bank"}
        assert view["retention"]["ttl_hours"] == {"keyframe": 1.5, "upload": 48}
    finally:
        box.close()


def test_an_admin_names_and_pairs_the_box_from_the_dashboard(admin, box, tmp_path):
    early = admin.post("/api/settings/pairing", json={"center": "tcp://127.0.0.1:5555", "center_key": "x"})
    assert early.status_code == 409 and "box id" in early.json()["detail"]
    bad_id = admin.post("/api/settings/box-id", json={"box_id": "../truck"})
    assert bad_id.status_code == 422
    named = admin.post("/api/settings/box-id", json={"box_id": "truck-9"})
    assert named.status_code == 200, named.text
    assert admin.get("/api/health").json()["box_id"] == "truck-9"
    assert "public-key" in named.json()["box_public_key"]  # what the newsroom needs for `edge-center allow`
    assert admin.post("/api/settings/box-id", json={"box_id": "truck-10"}).status_code == 409  # keys carry the id

    garbage = admin.post("/api/settings/pairing", json={"center": "tcp://127.0.0.1:5555", "center_key": "hello"})
    assert garbage.status_code == 422 and "field 'center_key'" in garbage.json()["detail"]
    wrong = admin.post("/api/settings/pairing", json={"center": "http://center", "center_key": "x"})
    assert wrong.status_code == 422 and "field 'center'" in wrong.json()["detail"]

    admin.put("/api/settings", json={"retention": {"ttl_hours": {"keyframe": 2}}})
    public, _ = create_keypair(tmp_path / "center-keys", "center")
    paired = admin.post("/api/settings/pairing",
                        json={"center": "tcp://127.0.0.1:5555", "center_key": public.read_text()})
    assert paired.status_code == 200, paired.text
    assert paired.json()["center"] == "tcp://127.0.0.1:5555"
    assert json.loads((box.data_dir / "box.json").read_text())["center"] == "tcp://127.0.0.1:5555"
    assert box.syncer is not None and box.syncer.box_id == "truck-9"  # syncing now, under the same id
    assert box.syncer.config.ttl_s["keyframe"] == 2 * 3600  # the crew's retention reaches sync


# -- the page, in Chromium -----------------------------------------------------------------------------------


@pytest.fixture
def site(app) -> Iterator[str]:
    live = start_server(app)
    yield live.url
    stop_server(live)


@pytest.mark.slow
def test_the_settings_page_saves_and_names_what_is_wrong(site, box):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 800})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site + "/login")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(site + "/live")
        page.click("nav >> text=Settings")
        page.wait_for_url(site + "/settings")
        assert page.inner_text("#box-id") == "edge-box"
        page.fill('input[name="event.name"]', "Harbour fire")
        page.fill('input[name="retention.disk_floor_mb"]', "4")
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("#settings-error:not([hidden])")
        assert "retention.disk_floor_mb" in page.inner_text("#settings-error")
        page.fill('input[name="retention.disk_floor_mb"]', "512")
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("#settings-done:not([hidden])")
        page.reload()
        assert page.input_value('input[name="event.name"]') == "Harbour fire"
        assert page.input_value('input[name="retention.disk_floor_mb"]') == "512"
        page.fill('#box-id-form input[name="box_id"]', "truck-3")
        page.click("#box-id-form button[type=submit]")
        sync_api.expect(page.locator("#box-id")).to_have_text("truck-3")  # the page reloads with the new id
        assert page.inner_text("a.brand") == "truck-3"
        assert errors == []
        browser.close()
    assert box.store.disk_floor_bytes == 512 * MiB
