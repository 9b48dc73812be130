"""Sessions live in the box's SQLite store: a restart logs nobody out, the store holds only token hashes,
sessions expire (absolute and idle) and end on logout, on a password change (the user's other sessions) and
when the user is removed."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from edge.dashboard.app import create_app
from edge.dashboard.sessions import TOUCH_EVERY_S, Sessions
from edge.store.db import DB_NAME
from tests.dashboard.conftest import PASSWORD, build_box

LOGIN = {"username": "admin", "password": PASSWORD}


def _login(app, creds=LOGIN) -> str:
    response = TestClient(app).post("/api/login", json=creds)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_session_survives_a_box_restart(tmp_path, no_models):
    data = tmp_path / "box"
    box = build_box(data, no_models)
    token = _login(create_app(box, admin_password=PASSWORD))
    box.close()

    box = build_box(data, no_models)  # the same data directory, a new process's worth of objects
    try:
        again = TestClient(create_app(box, admin_password=PASSWORD))
        assert again.get("/api/streams", headers=_bearer(token)).status_code == 200
        assert again.get("/api/account", headers=_bearer(token)).json()["username"] == "admin"
    finally:
        box.close()


def test_the_store_keeps_a_hash_of_each_token_never_the_token(box, app):
    token = _login(app)
    with sqlite3.connect(box.store.root / DB_NAME) as db:
        rows = db.execute("SELECT token_hash, username FROM sessions").fetchall()
        dump = "\n".join(db.iterdump())
    assert [r[1] for r in rows] == ["admin"]
    assert token not in dump
    assert len(rows[0][0]) == 64  # a SHA-256 in hex


def test_sessions_expire_at_their_absolute_limit_even_when_used():
    now = [1000.0]
    sessions = Sessions(ttl_s=300, idle_s=200, clock=lambda: now[0])
    session = sessions.create("maria")
    for _ in range(5):  # used every 50 s: never idle for long
        now[0] += 50
        assert sessions.resolve(session.token) is not None
    now[0] = 1000 + 300
    assert sessions.resolve(session.token) is None


def test_sessions_expire_when_idle_and_use_keeps_them_alive():
    now = [1000.0]
    sessions = Sessions(ttl_s=3600, idle_s=TOUCH_EVERY_S * 3, clock=lambda: now[0])
    used, idle = sessions.create("maria"), sessions.create("maria")
    for _ in range(5):
        now[0] += TOUCH_EVERY_S * 2  # under the idle limit each time
        assert sessions.resolve(used.token) is not None
    assert sessions.resolve(idle.token) is None  # unused for 10 minutes against a 3-minute limit
    assert sessions.count("maria") == 1


def test_logout_ends_the_session_in_the_store(box, app):
    token = _login(app)
    client = TestClient(app)
    assert client.post("/api/logout", headers=_bearer(token)).status_code == 204
    assert client.get("/api/streams", headers=_bearer(token)).status_code == 401
    with sqlite3.connect(box.store.root / DB_NAME) as db:
        assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_changing_my_password_ends_my_other_sessions_and_keeps_this_one(app):
    phone, laptop = _login(app), _login(app)
    client = TestClient(app)
    response = client.post("/api/account/password", headers=_bearer(laptop),
                           json={"current": PASSWORD, "new": "a brand new password"})
    assert response.status_code == 200, response.text
    assert response.json() == {"other_sessions_ended": 1}
    assert client.get("/api/streams", headers=_bearer(phone)).status_code == 401
    assert client.get("/api/streams", headers=_bearer(laptop)).status_code == 200
    assert TestClient(app).post("/api/login", json=LOGIN).status_code == 401
    assert TestClient(app).post("/api/login", json={**LOGIN, "password": "a brand new password"}).status_code == 200


def test_a_wrong_current_password_changes_nothing(app):
    token = _login(app)
    response = TestClient(app).post("/api/account/password", headers=_bearer(token),
                                    json={"current": "not it", "new": "a brand new password"})
    assert response.status_code == 403
    assert "current password is wrong" in response.json()["detail"]
    assert TestClient(app).post("/api/login", json=LOGIN).status_code == 200


def test_removing_a_user_ends_all_their_sessions_and_closes_their_live_socket(app):
    admin = _login(app)
    client = TestClient(app)
    created = client.post("/api/users", headers=_bearer(admin),
                          json={"name": "maria", "password": "maria's password", "role": "viewer"})
    assert created.status_code == 201, created.text
    maria = _login(app, {"username": "maria", "password": "maria's password"})
    with pytest.raises(WebSocketDisconnect) as closed, \
            TestClient(app).websocket_connect(f"/ws/captions?token={maria}") as ws:
        assert ws.receive_json()["kind"] == "hello"
        assert client.delete("/api/users/maria", headers=_bearer(admin)).status_code == 204
        while True:
            ws.receive_json()
    assert closed.value.code == 4401
    assert client.get("/api/streams", headers=_bearer(maria)).status_code == 401


def test_a_session_cookie_is_httponly_and_samesite_strict(anon):
    response = anon.post("/api/login", json=LOGIN)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure (test_tls.py)
