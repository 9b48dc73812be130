"""The dashboard: a FastAPI app over one running Box, and a helper to serve it.

Everything the app needs hangs off `app.state` (box, auth, templates, the
count of live WebSocket clients), so several apps (tests, two boxes) can
live in one process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.box_settings import load_settings
from edge.dashboard.accounts import USERS_FILE
from edge.dashboard.auth import Auth, AuthGate, LoginLimiter, Sessions, UserStore, bootstrap_admin
from edge.dashboard.routes import settings as settings_routes
from edge.dashboard.routes import users as users_routes
from edge.dashboard.routes import assets, captions, metrics, pages, streams
from edge.dashboard.routes import prometheus, sensors
from edge.dashboard.routes import alerts as alert_routes
from edge.dashboard.routes import events_log
from edge.dashboard.routes import search as search_routes
from edge.dashboard.routes import audio as audio_routes
from edge.dashboard.routes import snapshots
from edge.dashboard.routes import drafts as draft_routes
from edge.dashboard.routes import glossary as glossary_routes
from edge.dashboard.timefmt import clock_html, span
from edge.dashboard.routes import auth as auth_routes
from edge.dashboard.limits import MAX_BODY, BodyLimit, DiskReservations
from edge.dashboard.tls import Certificate, ensure_certificate
from edge.dashboard.uploads import clean_temp
from edge.ingest.sources import SourcePolicy
from edge.runtime.box import Box
from edge.runtime.monitor import Monitor

HERE = Path(__file__).resolve().parent
UPLOAD_TMP = "uploads.tmp"  # inside the store root: same disk as the blobs
UPLOAD_ROUTE = "/api/uploads"
MEDIA_DIR = "media"  # <data>/media: where file sources may be, unless dashboard.media_dirs says otherwise
MiB = 1 << 20

# (method, path) pairs anyone may reach; everything else needs a session (see auth.AuthGate).
PUBLIC_ROUTES = frozenset({("GET", "/api/health"), ("HEAD", "/api/health"), ("GET", "/login"),
                           ("HEAD", "/login"), ("POST", "/api/login")})
PUBLIC_PREFIXES = ("/static/",)
# State-changing requests a viewer may send (every other one needs the editor role; see auth.AuthGate).
VIEWER_WRITES = frozenset({("POST", "/api/logout"), ("POST", "/api/account/password")})

# Pages load only our own scripts and styles: an injected <script> in a caption or
# file name would not run even if escaping were ever missed somewhere.
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC_ROUTES or (method in ("GET", "HEAD") and path.startswith(PUBLIC_PREFIXES))


def create_app(box: Box, *, admin_password: str | None = None, secure_cookies: bool = False) -> FastAPI:
    """The dashboard for `box`. The admin password comes from the argument, else EDGE_ADMIN_PASSWORD,
    else the users file; with none of those one is generated into <data>/initial-admin-password
    (see accounts.bootstrap_admin), and stderr says where it is."""
    settings = box.config.dashboard
    users = UserStore(box.data_dir / USERS_FILE)
    print(bootstrap_admin(users, admin_password or os.environ.get("EDGE_ADMIN_PASSWORD") or None),
          file=sys.stderr, flush=True)
    # The store's own database, so sessions outlive a restart (a stand-in box without one: in memory).
    sessions = Sessions(getattr(box.store, "db", None), ttl_s=settings.session_hours * 3600,
                        idle_s=settings.session_idle_minutes * 60)
    auth = Auth(users, sessions, LoginLimiter(), secure_cookies=secure_cookies or settings.secure_cookies,
                viewer_writes=VIEWER_WRITES)
    max_upload_body = settings.max_upload_mb * MiB + MiB  # the form around the file

    def body_limit(method: str, path: str) -> int:
        return max_upload_body if (method, path) == ("POST", UPLOAD_ROUTE) else MAX_BODY

    app = FastAPI(
        title="Edge box dashboard",
        version="1",
        summary="Live captions, streams, assets and health of one edge box.",
        # The built-in docs routes cannot be put behind the login; ours below is.
        docs_url=None, redoc_url=None, openapi_url=None,
    )
    app.state.box = box
    app.state.auth = auth
    app.state.templates = _templates()
    app.state.ws_clients = 0
    app.state.upload_tmp = box.store.root / UPLOAD_TMP
    app.state.disk_reservations = DiskReservations()
    app.state.source_policy = source_policy(box)
    clean_temp(app.state.upload_tmp)
    settings_routes.apply_settings(box, load_settings(box.data_dir), at_start=True)  # the crew's disk floor
    # Optional pages shown in the navigation only once they exist (their module adds its key, e.g. "drafts").
    app.state.features = set()
    # CPU over an interval, alerts and the event log: measured from the start, not from the first page view.
    # (Only a running Box has streams to watch; tests that merely list the routes pass a bare namespace.)
    if isinstance(box, Box):
        Monitor.of(box).start()

    # The draft editor before pages: its /drafts replaces the placeholder page there.
    app.include_router(draft_routes.router)
    app.state.features.add("drafts")
    for module in (auth_routes, streams, captions, assets, metrics, alert_routes, events_log, pages, users_routes,
                   settings_routes):
        app.include_router(module.router)
    for module in (prometheus, sensors, search_routes, snapshots, glossary_routes, audio_routes):
        app.include_router(module.router)
    prometheus.watch(box)  # caption latencies counted from the start, not from the first scrape
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    # Added innermost first: headers go on every response, including the gate's 401s and redirects,
    # and anonymous bodies never reach the (larger) logged-in caps.
    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.add_middleware(AuthGate, auth=auth, is_public=is_public)
    app.add_middleware(SecurityHeaders)
    return app


def source_policy(box: Box) -> SourcePolicy:
    """Where stream sources added from the dashboard may point (see edge.ingest.sources.admit)."""
    settings = box.config.dashboard
    media_dirs = [box.data_dir / d for d in settings.media_dirs] or [box.data_dir / MEDIA_DIR]
    return SourcePolicy(media_dirs=tuple(media_dirs), allow_http=settings.allow_http_sources)


class SecurityHeaders:
    """nosniff everywhere; no framing, a strict CSP and no referrer leaks on our pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {k.lower() for k, _ in headers}
                extra = {
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"same-origin",
                    b"content-security-policy": PAGE_CSP.encode(),
                }
                headers.extend((k, v) for k, v in extra.items() if k not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- templates ----------------------------------------------------------------


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters["filesize"] = filesize
    env.filters["clock"] = clock_html  # one time format on every page (see timefmt)
    env.filters["span"] = span  # a length of time with units
    env.filters["duration"] = duration
    env.filters["stream_time"] = lambda s: "–" if s is None else duration(s)
    return templates


def filesize(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # unreachable


def duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# -- serving ------------------------------------------------------------------


class DashboardServer(uvicorn.Server):
    """uvicorn, minus the surprise at exit.

    Plain uvicorn re-raises a caught SIGINT/SIGTERM after shutting down, which
    would blow up the caller (who still has a box to close). Here the signal
    only stops the server, the previous handlers come back, and `run` returns.
    Off the main thread no handlers are installed: stop it with `.should_exit = True`.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def certificate_lines(cert: Certificate) -> str:
    made = "made a new HTTPS certificate" if cert.made else "HTTPS certificate"
    return (f"dashboard: {made} for {', '.join(cert.names)}\n"
            f"dashboard: its SHA-256 fingerprint is {cert.fingerprint}\n"
            "dashboard: the browser warns once (the box signs its own certificate): check that the fingerprint "
            "it shows matches, then accept")


class _RedactTokens(logging.Filter):
    """Access logs print WebSocket URLs; a ?token= there is a live bearer secret."""

    _TOKEN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(self._TOKEN.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in (record.args if isinstance(record.args, tuple) else (record.args,)))
        return True


def make_server(app: FastAPI, host: str, port: int, **config: Any) -> DashboardServer:
    """uvicorn for `app`. Forwarded headers are ignored unless `proxy_headers=True` is passed (with
    `forwarded_allow_ips`): uvicorn's default believes X-Forwarded-For from 127.0.0.1, which let a
    client on the box itself (or any local relay) pick the address the login limits count."""
    config.setdefault("log_level", "info")
    config.setdefault("proxy_headers", False)
    server = DashboardServer(uvicorn.Config(app, host=host, port=port, lifespan="off", **config))
    return server


def serve(box: Box, host: str = "0.0.0.0", port: int = 8080, *, app: FastAPI | None = None,
          sock: socket.socket | None = None, tls: Literal["auto", "off"] | None = None, **config: Any) -> None:
    """Serve the dashboard until SIGINT/SIGTERM (or `should_exit`); returns normally when stopped.

    With `dashboard.tls: auto` (the default) it serves HTTPS with the box's own certificate and prints
    its SHA-256 fingerprint; `tls="off"` (or the setting) serves plain HTTP.
    The box stays open: closing it is the caller's job.
    """
    settings = box.config.dashboard
    if settings.proxy_headers:
        config.setdefault("proxy_headers", True)
        config.setdefault("forwarded_allow_ips", settings.forwarded_allow_ips)
    app = app or create_app(box)
    if (tls or settings.tls) == "auto" and "ssl_certfile" not in config:
        cert = ensure_certificate(box.data_dir)
        config.update(ssl_certfile=str(cert.cert_file), ssl_keyfile=str(cert.key_file))
        app.state.tls_fingerprint = cert.fingerprint
        print(certificate_lines(cert), file=sys.stderr, flush=True)
    server = make_server(app, host, port, **config)
    app.state.server = server  # whoever holds the app can stop it (`should_exit`), e.g. off the main thread
    # uvicorn.Config configures its loggers when the server is made; filter after that.
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())
    started = time.monotonic()
    server.run(sockets=[sock] if sock else None)
    logging.getLogger(__name__).info("dashboard stopped after %.0f s", time.monotonic() - started)
