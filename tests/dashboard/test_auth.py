"""Who gets in: every route but a handful needs a login; logins are hashed, rate-limited, and sessions are
cookies (HttpOnly, SameSite=Strict) or bearer tokens."""

from __future__ import annotations

import json
import re
import shutil
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from edge.config import BoxConfig
from edge.dashboard.app import create_app, is_public
from edge.dashboard.auth import LoginLimiter, Sessions, safe_next
from tests.dashboard.conftest import PASSWORD, build_box

LOGIN = {"username": "admin", "password": PASSWORD}
PUBLIC = {("GET", "/api/health"), ("GET", "/login"), ("POST", "/api/login")}


def _routes() -> list[tuple[str, str, str]]:
    """(kind, method, path) for every route of a real app, built once at collection time.

    Routes are only registered here, never called, so a stand-in for the box is enough.
    """
    data = Path(tempfile.mkdtemp(prefix="dash-routes-"))
    try:
        stub = SimpleNamespace(data_dir=data, config=BoxConfig(), store=SimpleNamespace(root=data / "store"))
        app = create_app(stub, admin_password="collect")  # type: ignore[arg-type]
    finally:
        shutil.rmtree(data)
    found = []
    for path, route in _flat_routes(app):
        if isinstance(route, APIRoute):
            found += [("http", m, path) for m in sorted(route.methods - {"HEAD"})]
        elif isinstance(route, APIWebSocketRoute):
            found.append(("websocket", "GET", path))
    assert len(found) > 20, found  # the walk below must see through included routers
    return found


def _flat_routes(app) -> list[tuple[str, object]]:
    try:  # newer FastAPI includes routers lazily; app.routes then holds one entry per router
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return [(r.path, r) for r in app.routes if hasattr(r, "path")]
    return [(ctx.path, ctx.original_route) for ctx in iter_route_contexts(app.routes)]


ROUTES = _routes()


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789", path)


@pytest.fixture(scope="module")
def shared_anon(tmp_path_factory, no_models):
    """One app for the read-only checks below (a fresh app per case would hash a password each time)."""
    box = build_box(tmp_path_factory.mktemp("routes"), no_models)
    yield TestClient(create_app(box, admin_password=PASSWORD))
    box.close()


@pytest.mark.parametrize(("kind", "method", "path"), [r for r in ROUTES if (r[1], r[2]) not in PUBLIC],
                         ids=[f"{m} {p}" for k, m, p in ROUTES if (m, p) not in PUBLIC])
def test_every_private_route_refuses_anonymous_callers(shared_anon, kind, method, path):
    anon = shared_anon
    url = _concrete(path)
    if kind == "websocket":
        with pytest.raises(WebSocketDisconnect) as closed, anon.websocket_connect(url) as ws:
            ws.receive_json()
        assert closed.value.code == 4401
        return
    response = anon.request(method, url, follow_redirects=False)
    if url.startswith("/api/") or url == "/metrics":
        assert response.status_code == 401, response.text
        assert response.json() == {"detail": "login required"}
    else:  # a page: off to the login form, coming back here afterwards
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_only_health_login_and_static_files_are_public():
    public_routes = {(m, p) for _, m, p in ROUTES if is_public(m, p)}
    assert public_routes == PUBLIC
    assert is_public("GET", "/static/app.css")
    assert not is_public("POST", "/static/app.css")


def test_public_health_says_little(anon, box):
    body = anon.get("/api/health").json()
    assert body.keys() == {"status", "box_id", "uptime_s"}
    assert body["status"] == "ok" and body["box_id"] == box.config.box_id


def test_wrong_password_and_unknown_user_get_the_same_401(anon):
    wrong = anon.post("/api/login", json={"username": "admin", "password": "nope"})
    unknown = anon.post("/api/login", json={"username": "mallory", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}
    assert "set-cookie" not in wrong.headers


def test_strangers_cannot_send_big_bodies_to_the_login(anon):
    response = anon.post("/api/login", content=b'{"username": "' + b"a" * 100_000 + b'"}',
                         headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_login_sets_a_httponly_samesite_strict_cookie(anon):
    response = anon.post("/api/login", json=LOGIN)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("edge_session=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on the crew's LAN unless told otherwise
    assert anon.get("/api/status").status_code == 200


def test_secure_cookies_when_served_over_https(box):
    app = create_app(box, admin_password=PASSWORD, secure_cookies=True)
    cookie = TestClient(app).post("/api/login", json=LOGIN).headers["set-cookie"]
    assert "; Secure" in cookie


def test_bearer_token_works_for_scripts(anon, token):
    response = anon.get("/api/status", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["box_id"] == "edge-box"


@pytest.mark.parametrize("bad", ["", "nonsense", "abc.def", "{token}x", "x{token}"])
def test_forged_or_damaged_tokens_are_refused(anon, token, bad):
    response = anon.get("/api/status", headers={"Authorization": f"Bearer {bad.format(token=token)}"})
    assert response.status_code == 401


def test_logout_ends_the_session_for_cookie_and_token(client, anon, token):
    assert client.post("/api/logout").status_code == 204
    assert client.get("/api/status").status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert anon.post("/api/logout", headers=bearer).status_code == 204
    assert anon.get("/api/status", headers=bearer).status_code == 401


def test_five_failures_a_minute_then_429_with_retry_after(anon):
    for _ in range(5):
        assert anon.post("/api/login", json={"username": "admin", "password": "guess"}).status_code == 401
    locked = anon.post("/api/login", json=LOGIN)  # even the right password waits
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    # The same address cannot move on to another username either.
    assert anon.post("/api/login", json={"username": "root", "password": "x"}).status_code == 429


def test_a_strangers_failures_never_lock_the_owner_out(app):
    """Finding: 5 wrong passwords for admin from one address got the right password from another 429."""
    stranger = TestClient(app, client=("10.9.0.66", 40000))
    for _ in range(5):
        assert stranger.post("/api/login", json={"username": "admin", "password": "guess"}).status_code == 401
    assert stranger.post("/api/login", json={"username": "admin", "password": "guess"}).status_code == 429
    # ...and more strangers keep trying from other addresses while the owner logs in.
    for i in range(10):
        TestClient(app, client=(f"10.9.1.{i}", 40000)).post("/api/login", json={"username": "admin", "password": "x"})
    owner = TestClient(app, client=("10.9.0.7", 40000))
    response = owner.post("/api/login", json=LOGIN)
    assert response.status_code == 200, response.text
    assert owner.get("/api/status").status_code == 200


def test_under_attack_each_address_gets_one_guess_then_backs_off(app):
    for i in range(5):
        c = TestClient(app, client=(f"10.9.0.{i}", 40000))
        assert c.post("/api/login", json={"username": "admin", "password": "guess"}).status_code == 401
    fresh = TestClient(app, client=("10.9.0.99", 40000))
    assert fresh.post("/api/login", json={"username": "admin", "password": "guess"}).status_code == 401
    locked = fresh.post("/api/login", json={"username": "admin", "password": "guess"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 60
    # No oracle: locked out, the right password is not even checked.
    assert fresh.post("/api/login", json=LOGIN).status_code == 429
    # Other accounts from that address are unaffected.
    assert fresh.post("/api/login", json={"username": "someone", "password": "x"}).status_code == 401


def test_the_lock_lifts_after_the_window_and_backs_off_when_it_comes_back():
    now = [1000.0]
    limiter = LoginLimiter(max_failures=5, window_s=60, max_lock_s=3600, clock=lambda: now[0])

    def fail_five() -> None:
        for _ in range(5):
            wait, attempt = limiter.begin("1.2.3.4", "admin")
            assert wait is None and attempt is not None
            limiter.failed(attempt)

    fail_five()
    wait, attempt = limiter.begin("1.2.3.4", "admin")
    assert attempt is None and wait == pytest.approx(60)
    now[0] += 61
    fail_five()
    assert limiter.begin("1.2.3.4", "admin")[0] == pytest.approx(120)  # the second lockout lasts twice as long
    now[0] += 121
    assert limiter.begin("1.2.3.4", "admin")[0] is None


def test_back_off_is_capped():
    now = [0.0]
    limiter = LoginLimiter(max_failures=1, window_s=60, max_lock_s=300, clock=lambda: now[0])
    for _ in range(10):
        wait, attempt = limiter.begin("1.2.3.4", "admin")
        assert attempt is not None
        limiter.failed(attempt)
        wait, _ = limiter.begin("1.2.3.4", "admin")
        assert wait is not None and wait <= 300
        now[0] += wait + 1


def test_guesses_in_flight_count_as_failures():
    limiter = LoginLimiter(max_failures=5, window_s=60)
    attempts = [limiter.begin("1.2.3.4", "admin")[1] for _ in range(5)]
    assert all(a is not None for a in attempts)
    wait, attempt = limiter.begin("1.2.3.4", "admin")  # five password checks still running
    assert attempt is None and wait is not None and wait > 0


def test_successful_logins_do_not_count_as_failures():
    limiter = LoginLimiter(max_failures=2, window_s=60)
    for _ in range(5):
        wait, attempt = limiter.begin("1.2.3.4", "admin")
        assert wait is None and attempt is not None
        limiter.succeeded(attempt)


def test_sessions_expire():
    now = [0.0]
    sessions = Sessions(ttl_s=10, clock=lambda: now[0])
    session = sessions.create("admin")
    assert sessions.resolve(session.token) == session
    now[0] = 11
    assert sessions.resolve(session.token) is None


def test_cookie_sessions_refuse_cross_site_writes(client):
    evil = {"Origin": "http://evil.example"}
    assert client.post("/api/streams", json={"name": "x", "source": "rtsp://cam/1"}, headers=evil).status_code == 403
    assert client.get("/api/streams", headers=evil).status_code == 200  # reads are harmless
    same = {"Origin": "http://testserver"}
    assert client.post("/api/logout", headers=same).status_code == 204


def test_websocket_accepts_the_session_cookie_or_a_token(client, anon, token):
    with client.websocket_connect("/ws/captions") as ws:
        assert ws.receive_json()["kind"] == "hello"
    with anon.websocket_connect(f"/ws/captions?token={token}") as ws:
        assert ws.receive_json()["kind"] == "hello"
    with pytest.raises(WebSocketDisconnect) as closed, anon.websocket_connect("/ws/captions?token=bogus") as ws:
        ws.receive_json()
    assert closed.value.code == 4401


def test_pages_send_anonymous_visitors_to_login_and_back(anon):
    response = anon.get("/assets?q=fire", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fassets%3Fq%3Dfire"
    login_page = anon.get(response.headers["location"])
    assert login_page.status_code == 200
    assert 'data-next="/assets?q=fire"' in login_page.text


@pytest.mark.parametrize(("target", "expected"), [
    ("/assets?q=x", "/assets?q=x"), (None, "/live"), ("//evil.example/", "/live"),
    ("https://evil.example/", "/live"), ("/\\evil.example", "/live"), ("javascript:alert(1)", "/live"),
    ("/login", "/live"),
])
def test_after_login_only_local_destinations(target, expected):
    assert safe_next(target) == expected


def test_users_file_holds_argon2_hashes_only(box, app):
    path = box.data_dir / "users.json"
    data = json.loads(path.read_text())
    assert data["users"]["admin"]["hash"].startswith("$argon2id$")
    assert PASSWORD not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_environment_sets_and_resets_the_admin_password(box, monkeypatch, capsys):
    monkeypatch.setenv("EDGE_ADMIN_PASSWORD", "from-the-env")
    app = create_app(box)
    assert "shown once" not in capsys.readouterr().err
    c = TestClient(app)
    assert c.post("/api/login", json={"username": "admin", "password": "from-the-env"}).status_code == 200
    monkeypatch.setenv("EDGE_ADMIN_PASSWORD", "rotated")
    c = TestClient(create_app(box))
    assert c.post("/api/login", json={"username": "admin", "password": "from-the-env"}).status_code == 401
    assert c.post("/api/login", json={"username": "admin", "password": "rotated"}).status_code == 200
