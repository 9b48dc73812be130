"""What a client can make the box hold: live sockets end with their session, bodies are capped,
uploads reserve their disk space, forwarded headers are not believed, cookies go Secure over HTTPS."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from edge.config import BoxConfig
from edge.dashboard.app import create_app, make_server
from tests.dashboard.conftest import PASSWORD, Usage, build_box, png_bytes, start_server, stop_server

LOGIN = {"username": "admin", "password": PASSWORD}
MiB = 1 << 20


def _login(base_url: str) -> str:
    with httpx.Client(base_url=base_url) as h:
        response = h.post("/api/login", json=LOGIN)
        assert response.status_code == 200, response.text
        return response.json()["token"]


# -- the live WebSocket ends with its session -------------------------------------------


@pytest.mark.timeout(30)  # before the fix the socket simply stayed open: fail, do not hang
def test_the_live_websocket_closes_at_logout(client):
    """Finding: a caption socket opened before logout kept streaming afterwards."""
    with client.websocket_connect("/ws/captions") as ws:
        assert ws.receive_json()["kind"] == "hello"
        assert client.post("/api/logout").status_code == 204
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401


@pytest.mark.timeout(30)
def test_the_live_websocket_closes_when_the_session_expires(app):
    app.state.auth.sessions.ttl_s = 1.5
    c = TestClient(app)
    assert c.post("/api/login", json=LOGIN).status_code == 200
    started = time.monotonic()
    with c.websocket_connect("/ws/captions") as ws:
        assert ws.receive_json()["kind"] == "hello"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 4401
    assert time.monotonic() - started < 10


def test_over_real_uvicorn_a_bearer_socket_closes_when_its_token_is_revoked(app):
    live = start_server(app)
    try:
        token = _login(live.url)
        other = _login(live.url)
        ws_url = "ws://" + urlsplit(live.url).netloc + "/ws/captions?token="
        with ws_connect(ws_url + token, open_timeout=10) as ws, ws_connect(ws_url + other, open_timeout=10) as keep:
            assert '"hello"' in ws.recv(timeout=10)
            assert '"hello"' in keep.recv(timeout=10)
            with httpx.Client(base_url=live.url) as h:
                assert h.post("/api/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            # Another session's socket is untouched.
            with pytest.raises(TimeoutError):
                keep.recv(timeout=0.5)
    finally:
        stop_server(live)


# -- request bodies -----------------------------------------------------------------------


def _raw_request(url: str, head: str, body: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
    """Send exactly these bytes and read the answer: a client that announces more than it sends."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    return status, reply


def test_a_huge_declared_body_is_refused_before_it_is_read(app, box):
    """Finding: a 1 GiB PATCH took the box from 337 MB to 3.4 GB of memory."""
    asset = box.store.add_bytes(b"hello\n", kind="note", name="n.txt", mime="text/plain")
    live = start_server(app)
    try:
        token = _login(live.url)
        started = time.monotonic()
        status, reply = _raw_request(live.url, (
            f"PATCH /api/assets/{asset.id} HTTP/1.1\nHost: 127.0.0.1\nAuthorization: Bearer {token}\n"
            f"Content-Type: application/json\nContent-Length: {1 << 30}\n"), body=b'{"tags": ["')
        assert status == 413
        assert b"request body too large" in reply
        assert time.monotonic() - started < 5  # answered at once, not after reading a gigabyte
    finally:
        stop_server(live)


def test_json_bodies_over_the_cap_are_413(client, box):
    asset = box.store.add_bytes(b"hello\n", kind="note", name="n.txt", mime="text/plain")
    body = b'{"tags": ["' + b"a" * (2 * MiB) + b'"]}'
    response = client.patch(f"/api/assets/{asset.id}", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "request body too large: this endpoint accepts at most 1 MiB"
    assert box.store.get(asset.id).tags == []


def test_a_body_without_a_length_is_cut_off_at_the_cap(app, box):
    """Chunked, with no Content-Length to refuse up front: counted as it arrives and answered at the cap,
    while the client is still sending (it never sends the last chunk)."""
    asset = box.store.add_bytes(b"hello\n", kind="note", name="n.txt", mime="text/plain")
    live = start_server(app)
    try:
        token = _login(live.url)
        parts = urlsplit(live.url)
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall((f"PATCH /api/assets/{asset.id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"a" * (64 * 1024)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(48):  # 3 MiB, no terminating chunk: an endless body as far as the box knows
                    sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            reply = sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert box.store.get(asset.id).tags == []
    finally:
        stop_server(live)


def test_uploads_keep_their_own_larger_cap(client, box):
    big = png_bytes() + b"\0" * (3 * MiB)  # over the JSON cap, under dashboard.max_upload_mb
    response = client.post("/api/uploads", files={"file": ("big.png", big, "image/png")})
    assert response.status_code == 201, response.text
    assert box.store.get(response.json()["id"]).size == len(big)


# -- disk space reserved per upload ---------------------------------------------------------


def _multipart(content: bytes, boundary: str = "edgeboundary") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()


def test_concurrent_uploads_cannot_share_the_reserve(tmp_path, no_models):
    """Finding: each upload checked the free space on its own, so uploads in parallel ate into the reserve."""
    config = BoxConfig(store={"reserve_mb": 1, "disk_floor_mb": 16})
    # 1 MiB reserve + room for one upload (its temp copy and its blob), not for two.
    box = build_box(tmp_path, no_models, config, disk_usage=lambda _: Usage(10**10, 10**10, 4 * MiB))
    live = start_server(create_app(box, admin_password=PASSWORD))
    try:
        token = _login(live.url)
        body = _multipart(png_bytes() + b"\0" * (MiB + MiB // 4))
        parts = urlsplit(live.url)
        first = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        first.putrequest("POST", "/api/uploads")
        first.putheader("Authorization", f"Bearer {token}")
        first.putheader("Content-Type", "multipart/form-data; boundary=edgeboundary")
        first.putheader("Content-Length", str(len(body)))
        first.endheaders()
        first.send(body[: len(body) // 2])  # still arriving
        time.sleep(0.5)

        with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=20) as h:
            files = {"file": ("q.png", png_bytes() + b"\0" * (MiB + MiB // 4), "image/png")}
            second = h.post("/api/uploads", files=files)
            assert second.status_code == 507, second.text
            assert "in progress" in second.json()["detail"] and "fix:" in second.json()["detail"]

            first.send(body[len(body) // 2:])
            done = first.getresponse()
            assert done.status == 201, done.read()
            # Its hold ends with it: the next upload has room again.
            assert h.post("/api/uploads", files=files).status_code == 201
        assert box.store.count() == 2
    finally:
        stop_server(live)
        box.close()


# -- forwarded headers and cookies -----------------------------------------------------------


def _spray(base_url: str, n: int) -> list[int]:
    """Wrong passwords for n different accounts, each claiming another X-Forwarded-For address."""
    with httpx.Client(base_url=base_url) as h:
        return [h.post("/api/login", json={"username": f"user{i}", "password": "guess"},
                       headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(n)]


def test_x_forwarded_for_does_not_reset_the_per_address_limit(app):
    """Finding: uvicorn believed X-Forwarded-For from 127.0.0.1, so each guess came from a 'new' address."""
    live = start_server(app)
    try:
        assert _spray(live.url, 6) == [401] * 5 + [429]
    finally:
        stop_server(live)


def test_forwarded_headers_are_believed_only_when_configured(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = make_server(app, "127.0.0.1", port, log_level="warning", proxy_headers=True,
                         forwarded_allow_ips=["127.0.0.1"])
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        # Behind a configured proxy each forwarded address is its own client.
        assert _spray(f"http://127.0.0.1:{port}", 6) == [401] * 6
    finally:
        server.should_exit = True
        thread.join(10)


def test_proxy_headers_are_off_by_default_in_the_config():
    assert BoxConfig().dashboard.proxy_headers is False


def test_the_cookie_is_secure_when_the_request_came_over_https(app):
    cookie = TestClient(app, base_url="https://testserver").post("/api/login", json=LOGIN).headers["set-cookie"]
    assert "; Secure" in cookie


def test_the_cookie_is_secure_when_configured(tmp_path, no_models):
    box = build_box(tmp_path, no_models, BoxConfig(dashboard={"secure_cookies": True}))
    try:
        cookie = TestClient(create_app(box, admin_password=PASSWORD)).post("/api/login", json=LOGIN)
        assert "; Secure" in cookie.headers["set-cookie"]
    finally:
        box.close()
