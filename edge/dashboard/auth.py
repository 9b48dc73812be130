"""Who may use the dashboard: users file, sessions, login rate limits, and the gate.

Passwords are stored as argon2id hashes in `<data_dir>/users.json`, rewritten
atomically (temp file, fsync, rename) so a power cut never leaves a box that
nobody can log in to. Sessions live in memory only: a restart logs everyone
out, which is acceptable on a box and avoids keeping bearer secrets on disk.

The gate (`AuthGate`) is ASGI middleware and deny-by-default: a route is
public only if the app says so, so a route added later cannot be left open
by forgetting a dependency. It runs before any request body is read, which
keeps anonymous clients from making the box parse uploads.

CSRF: the session cookie is `SameSite=Strict`, so browsers never attach it to
requests started by another site; on top of that, cookie-authenticated
state-changing requests and WebSocket handshakes must come from our own
Origin when the browser sends one. Bearer tokens are not sent automatically
by browsers and need no such check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from edge.durable import atomic_replace
from edge.errors import ConfigError

COOKIE = "edge_session"
ADMIN = "admin"
SESSION_TTL_S = 12 * 3600  # one shift; after that the crew logs in again
WS_UNAUTHORIZED = 4401  # "401" in the application range of WebSocket close codes
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Anyone may POST to a public route (the login): cap what we are willing to read from strangers.
MAX_PUBLIC_BODY = 16 * 1024

Via = Literal["cookie", "bearer", "query"]


# -- users ------------------------------------------------------------------


class UserStore:
    """`users.json`: {"version": 1, "users": {name: {"hash": argon2id, "updated_at": unix}}}."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self._hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        # Each argon2 check takes ~64 MiB for ~0.1 s: cap how many run at once so
        # a burst of logins cannot exhaust a small box's memory.
        self._verifying = threading.BoundedSemaphore(2)
        self._decoy: str | None = None

    @property
    def _decoy_hash(self) -> str:
        # Unknown users are checked against this so a wrong name costs as long as a wrong password.
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._decoy

    def exists(self) -> bool:
        return self.path.is_file()

    def usernames(self) -> list[str]:
        return sorted(self._read())

    def has(self, username: str) -> bool:
        return username in self._read()

    def set_password(self, username: str, password: str) -> None:
        if not password:
            raise ValueError("empty password")
        hashed = self._hasher.hash(password)
        with self._lock:
            users = self._read()
            users[username] = {"hash": hashed, "updated_at": round(time.time(), 3)}
            self._write(users)

    def verify(self, username: str, password: str) -> bool:
        record = self._read().get(username)
        stored = record["hash"] if record else self._decoy_hash
        with self._verifying:
            try:
                ok = self._hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        if not record:
            return False
        if ok and self._hasher.check_needs_rehash(stored):
            self.set_password(username, password)  # argon2 parameters were raised since
        return ok

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            users = data["users"]
            if not isinstance(users, dict) or not all(isinstance(u.get("hash"), str) for u in users.values()):
                raise ValueError("bad user record")
            return users
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"dashboard users file {self.path} is unreadable ({exc})",
                "restore it, or delete it and restart to generate a new admin password",
            ) from None

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        payload = json.dumps({"version": 1, "users": users}, indent=2).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_replace(self.path, payload, mode=0o600)  # password hashes: owner only

def bootstrap_admin(users: UserStore, password: str | None) -> str | None:
    """Make sure someone can log in. Returns a password we generated (to be shown once), else None.

    A given password (argument or EDGE_ADMIN_PASSWORD) is authoritative: it
    replaces the stored admin hash if it differs, so an operator who lost the
    password can reset it by restarting with the variable set.
    """
    if password:
        if not (users.has(ADMIN) and users.verify(ADMIN, password)):
            users.set_password(ADMIN, password)
        return None
    if users.exists() and users.usernames():
        return None
    generated = secrets.token_urlsafe(12)
    users.set_password(ADMIN, generated)
    print(f"dashboard admin password (shown once): {generated}", file=sys.stderr, flush=True)
    return generated


# -- sessions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the signed value the client holds (cookie or bearer)
    username: str
    expires_at: float


class Sessions:
    """Random tokens kept server-side, handed out with an HMAC so forged values are refused cheaply."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._key = secrets.token_bytes(32)  # per process: a restart invalidates every token anyway
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, username: str) -> Session:
        ident = secrets.token_urlsafe(32)
        session = Session(f"{ident}.{self._sign(ident)}", username, self._clock() + self.ttl_s)
        with self._lock:
            self._prune()
            self._by_id[ident] = session
        return session

    def resolve(self, value: str | None) -> Session | None:
        ident = self._verified_id(value)
        if ident is None:
            return None
        with self._lock:
            session = self._by_id.get(ident)
            if session is not None and session.expires_at <= self._clock():
                del self._by_id[ident]
                return None
            return session

    def revoke(self, value: str | None) -> None:
        ident = self._verified_id(value)
        if ident is not None:
            with self._lock:
                self._by_id.pop(ident, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_id)

    def _verified_id(self, value: str | None) -> str | None:
        if not value or value.count(".") != 1 or len(value) > 200:
            return None
        ident, sig = value.split(".")
        return ident if hmac.compare_digest(sig, self._sign(ident)) else None

    def _sign(self, ident: str) -> str:
        return hmac.new(self._key, ident.encode(), hashlib.sha256).hexdigest()[:32]

    def _prune(self) -> None:
        now = self._clock()
        for ident in [i for i, s in self._by_id.items() if s.expires_at <= now]:
            del self._by_id[ident]


# -- login rate limits --------------------------------------------------------


class LoginLimiter:
    """At most `max_failures` failed logins per `window_s`, per client address and per username.

    An attempt counts as a failure from the moment it starts and is forgiven
    only when it succeeds, so parallel guesses cannot slip past the limit
    while the (slow) password checks are running.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def begin(self, client: str, username: str) -> tuple[float | None, float]:
        """(seconds to wait, None when allowed; the attempt's stamp to pass to `succeeded`)."""
        now = self._clock()
        keys = self._keys(client, username)
        with self._lock:
            if len(self._failures) > 10_000:
                self._prune(now)
            waits = []
            for key in keys:
                stamps = self._failures.get(key)
                if stamps is None:
                    continue
                while stamps and stamps[0] <= now - self.window_s:
                    stamps.popleft()
                if len(stamps) >= self.max_failures:
                    waits.append(stamps[0] + self.window_s - now)
            if waits:
                return max(waits), now
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
            return None, now

    def succeeded(self, client: str, username: str, stamp: float) -> None:
        with self._lock:
            for key in self._keys(client, username):
                stamps = self._failures.get(key)
                if stamps and stamp in stamps:
                    stamps.remove(stamp)

    @staticmethod
    def _keys(client: str, username: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("client", client), ("user", username.strip().casefold())

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._failures.items() if not s or s[-1] <= now - self.window_s]:
            del self._failures[key]


# -- the gate -----------------------------------------------------------------


@dataclass
class Auth:
    users: UserStore
    sessions: Sessions
    limiter: LoginLimiter
    secure_cookies: bool = False

    def identify(self, scope: Scope) -> tuple[Session | None, Via | None]:
        """The session a request carries: bearer header, then cookie, then (WebSockets only) ?token=."""
        headers = Headers(scope=scope)
        authz = headers.get("authorization", "")
        if authz[:7].lower() == "bearer ":
            return self.sessions.resolve(authz[7:].strip()), "bearer"
        cookie = _cookie(headers.get("cookie", ""), COOKIE)
        if cookie:
            session = self.sessions.resolve(cookie)
            if session is not None:
                return session, "cookie"
        if scope["type"] == "websocket":
            # Browsers cannot set headers on a WebSocket; scripts may pass the token in the URL.
            token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
            if token:
                return self.sessions.resolve(token), "query"
        return None, None

    def cookie_header(self, session: Session) -> str:
        parts = [f"{COOKIE}={session.token}", "Path=/", f"Max-Age={int(self.ttl_s)}", "HttpOnly", "SameSite=Strict"]
        if self.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts)

    def clear_cookie_header(self) -> str:
        parts = [f"{COOKIE}=", "Path=/", "Max-Age=0", "HttpOnly", "SameSite=Strict"]
        if self.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts)

    @property
    def ttl_s(self) -> float:
        return self.sessions.ttl_s


IsPublic = Callable[[str, str], bool]  # (method, path) -> no login needed


class AuthGate:
    """Deny-by-default: every request except the public ones must carry a live session.

    Sets `request.state.user` (username or None) and `request.state.session`.
    Anonymous API and metrics calls get 401 JSON, pages a 303 to /login, and
    WebSockets are accepted then closed with 4401 so browser code can tell
    "log in again" apart from a network drop.
    """

    def __init__(self, app: ASGIApp, auth: Auth, is_public: IsPublic) -> None:
        self.app = app
        self.auth = auth
        self.is_public = is_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session, via = self.auth.identify(scope)
        state = scope.setdefault("state", {})
        state["session"] = session
        state["user"] = session.username if session else None
        method = scope.get("method", "GET")
        path = scope["path"]
        if self.is_public(method, path):
            if scope["type"] == "http" and method not in SAFE_METHODS and not _small_body(Headers(scope=scope)):
                await JSONResponse({"detail": f"request body over {MAX_PUBLIC_BODY} bytes or of unknown length"},
                                   status_code=413)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if session is None:
            await self._deny(scope, receive, send)
            return
        unsafe = scope["type"] == "websocket" or method not in SAFE_METHODS
        if via == "cookie" and unsafe and not _same_origin(Headers(scope=scope)):
            await self._forbid_cross_site(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _deny(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await _close_websocket(receive, send, WS_UNAUTHORIZED, "login required")
            return
        path = scope["path"]
        response: Response
        if _is_page(path):
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        else:
            response = JSONResponse({"detail": "login required"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="edge-box"'})
        await response(scope, receive, send)

    async def _forbid_cross_site(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await _close_websocket(receive, send, 1008, "cross-site request refused")
            return
        await JSONResponse({"detail": "cross-site request refused"}, status_code=403)(scope, receive, send)


def safe_next(target: str | None, default: str = "/live") -> str:
    """A post-login destination that stays on this site (no //evil.example, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("/login"):
        return default
    return target


def retry_after_header(wait_s: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait_s)))}


def _is_page(path: str) -> bool:
    return not (path.startswith("/api/") or path.startswith("/ws/") or path == "/metrics")


def _small_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= MAX_PUBLIC_BODY


def _same_origin(headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET-like navigation: nothing to compare
    host = headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


async def _close_websocket(receive: Receive, send: Send, code: int, reason: str) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # Accept first: a refused handshake reaches browser code as a bare 1006, without our code.
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})
