"""Server-rendered pages: each one opens for a logged-in user, says what is true, and escapes what it shows."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import PASSWORD, png_bytes, start_server, stop_server

PAGES = ["/live", "/streams", "/assets", "/upload", "/drafts", "/sync", "/events", "/health"]
# Drafts joins the navigation only once drafts exist (app.state.features; see test_live_page.py).
NAV_PAGES = [p for p in PAGES if p != "/drafts"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_shared_nav(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'name="viewport"' in response.text  # phones get the mobile layout
    for href in NAV_PAGES:
        assert f'href="{href}"' in response.text
    if path in NAV_PAGES:
        assert "aria-current=\"page\"" in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_root_goes_to_live(client):
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/live"


def test_sync_page_shows_what_is_waiting_and_that_the_box_is_not_paired(client, box):
    box.store.add_bytes(b"x" * 1500, kind="upload", name="a.png", mime="image/png")
    box.store.add_bytes(b"y" * 500, kind="note", name="b.txt", mime="text/plain")
    text = client.get("/sync").text
    assert "not paired with a newsroom center" in text
    assert '<dd id="pending-count">2</dd>' in text
    assert '<dd id="pending-bytes">2.0 KB</dd>' in text


def test_health_page_shows_models_profile_and_temperature_or_na(client, box):
    text = client.get("/health").text
    health = box.health()
    assert health["models"]["asr"] in text and f'<dd id="profile">{health["profile"]}</dd>' in text
    expected = "n/a" if health["temperature_c"] is None else f'{health["temperature_c"]} °C'
    assert f'<p class="metric" id="temperature">{expected}</p>' in text


def test_names_and_captions_are_escaped(client, box):
    evil = '<img src=x onerror=alert(1)>.png'
    asset = box.store.add_bytes(png_bytes(), kind="upload", name=evil, mime="image/png", tags=["<b>tag</b>"])
    for page in ("/assets", f"/assets/{asset.id}", "/sync"):
        text = client.get(page).text
        assert evil not in text and "<b>tag</b>" not in text
        assert "&lt;img src=x onerror=alert(1)&gt;.png" in text


def test_asset_page_previews_text_and_images(client, box):
    vtt = box.store.add_bytes(b"WEBVTT\n\n00:00.000 --> 00:02.000\nThe bridge stays closed.\n", kind="caption_track",
                              name="cam1.vtt", mime="text/vtt")
    assert "The bridge stays closed." in client.get(f"/assets/{vtt.id}").text
    photo = box.store.add_bytes(png_bytes(), kind="upload", name="p.png", mime="image/png")
    assert f'<img src="/api/assets/{photo.id}/content"' in client.get(f"/assets/{photo.id}").text


def test_login_page_logged_in_goes_straight_on(client):
    response = client.get("/login?next=/sync", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/sync"


def test_static_files_are_public(anon):
    assert anon.get("/static/app.css").status_code == 200
    assert anon.get("/static/live.js").headers["x-content-type-options"] == "nosniff"


def test_a_real_server_serves_and_stops(app):
    """The same app under real uvicorn: login, a bearer call, and a WebSocket over TCP."""
    live = start_server(app)
    try:
        with httpx.Client(base_url=live.url) as http:
            token = http.post("/api/login", json={"username": "admin", "password": PASSWORD}).json()["token"]
            assert http.get("/api/streams", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            # An upload refused mid-body still gets its answer to the client.
            too_big = http.post("/api/uploads", headers={"Authorization": f"Bearer {token}"},
                                files={"file": ("x.exe", b"MZ" + b"\0" * 200_000)})
            assert too_big.status_code == 415
    finally:
        stop_server(live)


SERVE_SCRIPT = """
import os, signal, sys, threading, time, urllib.request
from pathlib import Path
from types import SimpleNamespace
from edge.config import BoxConfig
from edge.dashboard.app import serve

data = Path(sys.argv[1])
box = SimpleNamespace(data_dir=data, config=BoxConfig(dashboard={"tls": "off"}), store=SimpleNamespace(root=data / "store"),
                      started_at=time.time())

def interrupt_when_up():
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/api/health", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C on `edge run` does

threading.Thread(target=interrupt_when_up, daemon=True).start()
os.environ["EDGE_ADMIN_PASSWORD"] = "x"
serve(box, "127.0.0.1", int(sys.argv[2]), log_level="warning")
print("serve returned; the caller can close its box now", flush=True)
"""


def test_serve_returns_normally_on_ctrl_c(tmp_path):
    """`edge run` calls serve() in its main thread and must get control back to close the box."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, str(tmp_path), str(port)],
                            capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert "serve returned" in result.stdout


def test_access_logs_never_show_a_websocket_token():
    import logging

    from edge.dashboard.app import _RedactTokens

    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5000", "/ws/captions?stream=cam1&token=abc.def"), None)
    _RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/captions?stream=cam1&token=[redacted]" [accepted]'
