"""Crew accounts: the first-start admin password is kept until changed, `edge users` manages accounts from
the box's terminal, roles (viewer < editor < admin) are enforced on every route by the server, and the users
and my-account pages work in a real browser, hiding what a role cannot use."""

from __future__ import annotations

import io
import shutil
import stat
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from playwright import sync_api

import tests.dashboard.test_auth as route_walk
from edge.cli import main as edge_main
from edge.dashboard.accounts import INITIAL_PASSWORD_FILE
from edge.dashboard.app import VIEWER_WRITES, create_app
from tests.dashboard.conftest import PASSWORD, build_box, start_server, stop_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_ONLY = ("/api/users", "/api/settings", "/users", "/settings")


def _login(app, name: str, password: str) -> dict[str, str]:
    response = TestClient(app).post("/api/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


# -- the first-start password --------------------------------------------------------------------------------


def test_the_first_start_password_is_kept_in_a_private_file_until_it_is_changed(box, monkeypatch, capsys):
    monkeypatch.delenv("EDGE_ADMIN_PASSWORD", raising=False)
    keep = box.data_dir / INITIAL_PASSWORD_FILE
    app = create_app(box)
    first = capsys.readouterr().err
    password = keep.read_text().strip()
    assert stat.S_IMODE(keep.stat().st_mode) == 0o600
    assert str(keep) in first and password not in first  # the terminal says where, never the secret itself

    create_app(box)  # a second start (e.g. after the port was busy) says where it still is
    assert str(keep) in capsys.readouterr().err

    headers = _login(app, "admin", password)
    changed = TestClient(app).post("/api/account/password", headers=headers,
                                   json={"current": password, "new": "the crew's own password"})
    assert changed.status_code == 200, changed.text
    assert not keep.exists()  # no stale copy of a password that no longer works
    create_app(box)
    later = capsys.readouterr().err
    assert "edge users passwd" in later and str(keep) not in later


# -- edge users ----------------------------------------------------------------------------------------------


def _edge(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = edge_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_edge_users_adds_lists_changes_and_removes_accounts(box, app, monkeypatch, capsys):
    data = str(box.data_dir)
    code, out, _ = _edge(monkeypatch, capsys, "users", "add", "maria", "--role", "editor", "--password-stdin",
                         "--data", data, stdin="maria's password\n")
    assert code == 0 and "added maria (editor)" in out
    maria = _login(app, "maria", "maria's password")
    code, out, _ = _edge(monkeypatch, capsys, "users", "list", "--data", data)
    assert code == 0
    assert any(line.split()[:2] == ["maria", "editor"] and "1 device" in line for line in out.splitlines()), out

    # A forgotten password, reset on the box while the dashboard runs: that user's sessions end at once.
    code, out, _ = _edge(monkeypatch, capsys, "users", "passwd", "maria", "--password-stdin", "--data", data,
                         stdin="a new password for maria\n")
    assert code == 0 and "1 session ended" in out
    assert TestClient(app).get("/api/streams", headers=maria).status_code == 401
    maria = _login(app, "maria", "a new password for maria")

    code, _, _ = _edge(monkeypatch, capsys, "users", "role", "maria", "viewer", "--data", data)
    assert code == 0
    assert TestClient(app).get("/api/account", headers=maria).json()["role"] == "viewer"  # at once, no new login

    code, out, _ = _edge(monkeypatch, capsys, "users", "remove", "maria", "--data", data)
    assert code == 0 and "removed maria" in out
    assert TestClient(app).get("/api/streams", headers=maria).status_code == 401


def test_edge_users_refuses_bad_input_with_the_fix(box, app, monkeypatch, capsys):
    data = str(box.data_dir)
    code, _, err = _edge(monkeypatch, capsys, "users", "add", "maria", "--password-stdin", "--data", data,
                         stdin="short\n")
    assert code == 2 and "too short" in err and "fix:" in err
    code, _, err = _edge(monkeypatch, capsys, "users", "add", "../etc", "--password-stdin", "--data", data,
                         stdin="long enough password\n")
    assert code == 2 and "not usable" in err
    code, _, err = _edge(monkeypatch, capsys, "users", "remove", "admin", "--data", data)
    assert code == 2 and "only admin" in err
    code, _, err = _edge(monkeypatch, capsys, "users", "passwd", "nobody", "--password-stdin", "--data", data,
                         stdin="long enough password\n")
    assert code == 2 and "no user named 'nobody'" in err
    code, _, err = _edge(monkeypatch, capsys, "users", "passwd", "admin", "--data", data)  # no terminal to ask
    assert code == 2 and "--password-stdin" in err
    assert TestClient(app).post("/api/login", json={"username": "admin", "password": PASSWORD}).status_code == 200


# -- roles on every route -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crew(tmp_path_factory, no_models) -> Iterator[SimpleNamespace]:
    box = build_box(tmp_path_factory.mktemp("crew"), no_models)
    app = create_app(box, admin_password=PASSWORD)
    admin = _login(app, "admin", PASSWORD)
    for name, role in (("vic", "viewer"), ("eddie", "editor")):
        created = TestClient(app).post("/api/users", headers=admin,
                                       json={"name": name, "password": f"{name}'s password", "role": role})
        assert created.status_code == 201, created.text
    yield SimpleNamespace(box=box, app=app, client=TestClient(app), admin=admin,
                          viewer=_login(app, "vic", "vic's password"), editor=_login(app, "eddie", "eddie's password"))
    box.close()


WRITES = [(m, p) for k, m, p in route_walk.ROUTES if k == "http" and m not in ("GET", "HEAD")
          and (m, p) not in VIEWER_WRITES and (m, p) not in route_walk.PUBLIC]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_a_viewer_cannot_change_anything(crew, method, path):
    response = crew.client.request(method, route_walk._concrete(path), headers=crew.viewer, json={})
    assert response.status_code == 403, response.text
    assert "editor role" in response.json()["detail"]


ADMIN_ROUTES = [(m, p) for k, m, p in route_walk.ROUTES if k == "http" and p.startswith(ADMIN_ONLY)]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p in ADMIN_ROUTES])
def test_only_admins_manage_users_and_settings(crew, method, path):
    response = crew.client.request(method, route_walk._concrete(path), headers=crew.editor, json={})
    assert response.status_code == 403, response.text
    assert "admin role" in response.json()["detail"]


def test_each_role_may_do_its_own_part(crew):
    c = crew.client
    assert c.get("/api/streams", headers=crew.viewer).status_code == 200  # viewers read
    me = c.get("/api/account", headers=crew.viewer).json()
    assert (me["username"], me["role"]) == ("vic", "viewer")
    # An editor gets past the role check to the stream rules themselves (this source is refused by policy).
    added = c.post("/api/streams", headers=crew.editor, json={"name": "cam9", "source": "/etc/passwd"})
    assert added.status_code == 422
    assert c.get("/api/users", headers=crew.admin).status_code == 200
    assert c.get("/settings", headers=crew.admin).status_code == 200


def test_the_last_admin_cannot_be_removed_or_demoted(crew):
    c = crew.client
    demote = c.put("/api/users/admin/role", headers=crew.admin, json={"role": "editor"})
    assert demote.status_code == 422 and "only admin" in demote.json()["detail"]
    assert c.delete("/api/users/admin", headers=crew.admin).status_code == 422
    taken = c.post("/api/users", headers=crew.admin, json={"name": "vic", "password": "whatever123", "role": "admin"})
    assert taken.status_code == 409
    bad = c.post("/api/users", headers=crew.admin, json={"name": "a b", "password": "whatever123"})
    assert bad.status_code == 422 and "letters, digits" in bad.json()["detail"]


def test_an_admin_resets_a_forgotten_password_and_changes_a_role(crew):
    c = crew.client
    assert c.post("/api/users", headers=crew.admin, json={"name": "rita", "password": "rita's password"}
                  ).status_code == 201
    rita = _login(crew.app, "rita", "rita's password")
    reset = c.post("/api/users/rita/password", headers=crew.admin, json={"password": "rita's new password"})
    assert reset.status_code == 200, reset.text
    assert c.get("/api/streams", headers=rita).status_code == 401  # the lost phone is logged out
    rita = _login(crew.app, "rita", "rita's new password")
    assert c.post("/api/streams", headers=rita, json={"name": "x", "source": "rtsp://cam/1"}).status_code == 403
    assert c.put("/api/users/rita/role", headers=crew.admin, json={"role": "editor"}).json()["role"] == "editor"
    assert c.post("/api/streams", headers=rita, json={"name": "x", "source": "/etc/passwd"}).status_code == 422
    missing = c.post("/api/users/nobody/password", headers=crew.admin, json={"password": "whatever123"})
    assert missing.status_code == 404


# -- the pages, in Chromium ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(crew) -> Iterator[str]:
    live = start_server(crew.app)
    yield live.url
    stop_server(live)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser, url: str, name: str, password: str):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/live")
    return page


@pytest.mark.slow
def test_an_admin_adds_a_crew_member_on_the_users_page(browser, site, crew):
    page = _page(browser, site, "admin", PASSWORD)
    page.click("nav >> text=Users")
    page.wait_for_url(site + "/users")
    page.errors.clear()  # other pages' resources are their tests' business; from here on, this page's
    page.fill("#add-user input[name=name]", "short")
    page.fill("#add-user input[name=password]", "abc")
    page.click("#add-user button[type=submit]")
    assert "at least 8 characters" in page.inner_text("#add-error")
    page.fill("#add-user input[name=name]", "nina")
    page.fill("#add-user input[name=password]", "nina's password")
    page.select_option("#add-user select[name=role]", "editor")
    page.click("#add-user button[type=submit]")
    page.wait_for_selector('.user-card[data-name="nina"]')
    assert page.inner_text('.user-card[data-name="nina"] [data-field="role"]') == "editor"
    page.once("dialog", lambda d: d.accept())
    page.click('.user-card[data-name="nina"] button.remove')
    page.wait_for_selector('.user-card[data-name="nina"]', state="detached")
    assert page.errors == []
    page.context.close()


@pytest.mark.slow
def test_a_viewer_sees_no_buttons_they_cannot_use_and_changes_their_password(browser, site, crew):
    crew.client.post("/api/users", headers=crew.admin, json={"name": "val", "password": "val's password"})
    page = _page(browser, site, "val", "val's password")
    nav = page.inner_text("nav")
    assert "Users" not in nav and "Settings" not in nav and "My account" in nav
    page.goto(site + "/streams")
    assert page.locator("#add-stream").is_hidden()
    assert page.locator("button.remove").count() == 0
    page.goto(site + "/users")
    assert "admin role" in page.inner_text("body")  # refused by the server, in words

    page.goto(site + "/account")
    page.errors.clear()  # the refused /users above is logged by the browser as a failed load, rightly
    assert page.inner_text("#account-role") == "viewer"
    page.fill("input[name=current]", "val's password")
    page.fill("input[name=new]", "val's new password")
    page.fill("input[name=again]", "val's other password")
    page.click("#password-form button[type=submit]")
    assert "differ" in page.inner_text("#password-error")
    page.fill("input[name=again]", "val's new password")
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#password-done:not([hidden])")
    assert "Password changed" in page.inner_text("#password-done")
    assert page.errors == []
    page.context.close()
    assert TestClient(crew.app).post("/api/login", json={"username": "val", "password": "val's new password"}
                                     ).status_code == 200
