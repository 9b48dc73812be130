"""Who may use the dashboard: login rate limits, roles and the gate.

Accounts (names, roles, argon2id hashes) are in `edge.dashboard.accounts`;
sessions, kept in the store so a restart logs nobody out, in
`edge.dashboard.sessions`.

The gate (`AuthGate`) is ASGI middleware and deny-by-default: a route is
public only if the app says so, so a route added later cannot be left open
by forgetting a dependency. It runs before any request body is read, which
keeps anonymous clients from making the box parse uploads. Roles are
deny-by-default too: a state-changing request needs the editor role unless
the app lists it as open to viewers (logout, changing one's own password);
routes that need more say so with `deps.require_role`.

CSRF: the session cookie is `SameSite=Strict`, so browsers never attach it to
requests started by another site; on top of that, cookie-authenticated
state-changing requests and WebSocket handshakes must come from our own
Origin when the browser sends one. Bearer tokens are not sent automatically
by browsers and need no such check.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.dashboard.accounts import Role, UserStore, allows, bootstrap_admin
from edge.dashboard.sessions import Session, Sessions

__all__ = ["Auth", "AuthGate", "LoginLimiter", "Session", "Sessions", "UserStore", "bootstrap_admin", "safe_next"]

COOKIE = "edge_session"
WS_UNAUTHORIZED = 4401  # "401" in the application range of WebSocket close codes
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Anyone may POST to a public route (the login): cap what we are willing to read from strangers.
MAX_PUBLIC_BODY = 16 * 1024

Via = Literal["cookie", "bearer", "query"]


# -- login rate limits --------------------------------------------------------


@dataclass
class _Failures:
    stamps: deque[float] = field(default_factory=deque)  # failures (and attempts in flight) in the window
    locked_until: float = 0.0
    strikes: int = 0  # lockouts so far: each one doubles the next
    last: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    client: str
    username: str
    stamp: float


class LoginLimiter:
    """Failed logins lock out the address that made them, never the account's owner.

    - Per address: `max_failures` in `window_s` lock that address (whatever the
      username) for `window_s`, doubling with each lockout up to `max_lock_s`.
      A locked address gets 429 without its password being checked, so guessing
      from it learns nothing.
    - Per username: past `max_failures` in the window from all addresses, the
      account is under attack, and then a single failure locks that
      address for that username, with the same back-off. A guesser spread over
      many addresses gets one try per address and back-off period.
    - A correct password from an address that is not locked itself always logs
      in: the login checks the password before the username's state, so a
      stranger's failures cannot keep the owner out.

    An attempt counts as a failure from the moment it starts and is forgiven
    only when it succeeds, so parallel guesses cannot slip past the limit
    while the (slow) password checks are running.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 60.0, max_lock_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_lock_s = max_lock_s
        self._clock = clock
        self._records: dict[tuple[str, ...], _Failures] = {}
        self._lock = threading.Lock()

    def begin(self, client: str, username: str) -> tuple[float | None, Attempt | None]:
        """(seconds this address must wait, or None; the attempt to pass to `succeeded`/`failed`)."""
        now = self._clock()
        user = _norm(username)
        with self._lock:
            if len(self._records) > 10_000:
                self._prune(now)
            address, pair = self._get(("client", client), now), self._get(("pair", client, user), now)
            wait = max(address.locked_until, pair.locked_until) - now
            if wait > 0:
                return wait, None
            if len(address.stamps) >= self.max_failures:  # that many guesses already in flight
                return address.stamps[0] + self.window_s - now, None
            if pair.stamps and len(self._get(("user", user), now).stamps) >= self.max_failures:
                # Under attack, one guess at a time per address: parallel ones would all be checked
                # before the first failure locks the address out.
                return self.window_s, None
            attempt = Attempt(client, user, now)
            for key in self._keys(attempt):
                self._get(key, now).stamps.append(now)
            return None, attempt

    def succeeded(self, attempt: Attempt) -> None:
        with self._lock:
            for key in self._keys(attempt):
                stamps = self._records.get(key, _Failures()).stamps
                if attempt.stamp in stamps:
                    stamps.remove(attempt.stamp)
            # The owner got in from here: this address's guesses at this account are forgiven.
            self._records.pop(("pair", attempt.client, attempt.username), None)

    def failed(self, attempt: Attempt) -> None:
        now = self._clock()
        with self._lock:
            address = self._get(("client", attempt.client), now)
            user = self._get(("user", attempt.username), now)
            pair = self._get(("pair", attempt.client, attempt.username), now)
            for record in (address, user, pair):
                record.last = now
            if len(address.stamps) >= self.max_failures:
                self._lock_out(address, now)
            if len(user.stamps) > self.max_failures:
                self._lock_out(pair, now)

    def _lock_out(self, record: _Failures, now: float) -> None:
        record.locked_until = now + min(self.window_s * 2 ** record.strikes, self.max_lock_s)
        record.strikes += 1
        record.stamps.clear()

    def _get(self, key: tuple[str, ...], now: float) -> _Failures:
        record = self._records.setdefault(key, _Failures(last=now))
        while record.stamps and record.stamps[0] <= now - self.window_s:
            record.stamps.popleft()
        if record.strikes and record.locked_until <= now and now - record.last > self.max_lock_s:
            record.strikes = 0  # quiet for long enough: back-off starts over
        return record

    @staticmethod
    def _keys(attempt: Attempt) -> tuple[tuple[str, ...], ...]:
        return ("client", attempt.client), ("user", attempt.username), ("pair", attempt.client, attempt.username)

    def _prune(self, now: float) -> None:
        for key in [k for k, r in self._records.items()
                    if r.locked_until <= now and now - r.last > self.max_lock_s
                    and (not r.stamps or r.stamps[-1] <= now - self.window_s)]:
            del self._records[key]


def _norm(username: str) -> str:
    return username.strip().casefold()


# -- the gate -----------------------------------------------------------------


@dataclass
class Auth:
    users: UserStore
    sessions: Sessions
    limiter: LoginLimiter
    secure_cookies: bool = False
    # (method, path) a viewer may send although it changes something: only their own session and password.
    viewer_writes: frozenset[tuple[str, str]] = frozenset()

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

    def cookie_header(self, session: Session, scheme: str = "http") -> str:
        """`scheme` is the request's: a cookie set over HTTPS is Secure even without `secure_cookies`,
        so a box behind TLS never lets the browser send it over plain HTTP."""
        parts = [f"{COOKIE}={session.token}", "Path=/", f"Max-Age={int(self.ttl_s)}", "HttpOnly", "SameSite=Strict"]
        if self.secure_cookies or scheme in ("https", "wss"):
            parts.append("Secure")
        return "; ".join(parts)

    def clear_cookie_header(self, scheme: str = "http") -> str:
        parts = [f"{COOKIE}=", "Path=/", "Max-Age=0", "HttpOnly", "SameSite=Strict"]
        if self.secure_cookies or scheme in ("https", "wss"):
            parts.append("Secure")
        return "; ".join(parts)

    @property
    def ttl_s(self) -> float:
        return self.sessions.ttl_s


IsPublic = Callable[[str, str], bool]  # (method, path) -> no login needed
WRITE_ROLE: Role = "editor"  # what a state-changing request needs unless listed in Auth.viewer_writes


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
        role = self.auth.users.role(session.username) if session else None
        if session is not None and role is None:
            # The account went away (removed from another process): its sessions go with it.
            self.auth.sessions.revoke_user(session.username)
            session = None
        state = scope.setdefault("state", {})
        state["session"] = session
        state["user"] = session.username if session else None
        state["role"] = role
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
        if (scope["type"] == "http" and method not in SAFE_METHODS and (method, path) not in self.auth.viewer_writes
                and not allows(role, WRITE_ROLE)):
            await JSONResponse({"detail": f"this needs the {WRITE_ROLE} role; you are {_a(role)}: ask an admin"},
                               status_code=403)(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await SessionBoundWebSocket(self.auth.sessions, session)(self.app, scope, receive, send)
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


class SessionBoundWebSocket:
    """Runs a WebSocket app for as long as the session that opened it lives.

    When the session is revoked (logout) or expires, the client gets close
    code 4401 ("log in again") and the app sees a disconnect; anything it
    still sends is refused as if the client had gone. Without this a socket
    opened before a logout would keep streaming captions for ever.
    """

    def __init__(self, sessions: Sessions, session: Session) -> None:
        self.sessions = sessions
        self.session = session

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        unwatch = self.sessions.watch(self.session.token, lambda: loop.call_soon_threadsafe(ended.set))
        sending = asyncio.Lock()
        state = {"accepted": False, "closed": False}

        async def guarded_send(message: Message) -> None:
            async with sending:
                if state["closed"]:
                    raise _SessionEnded("the WebSocket was closed: the session ended")
                if message["type"] == "websocket.accept":
                    state["accepted"] = True
                elif message["type"] == "websocket.close":
                    state["closed"] = True
                await send(message)

        async def guarded_receive() -> Message:
            if ended.is_set():
                return {"type": "websocket.disconnect", "code": WS_UNAUTHORIZED}
            incoming = asyncio.ensure_future(receive())
            stop = asyncio.ensure_future(ended.wait())
            done, _ = await asyncio.wait({incoming, stop}, return_when=asyncio.FIRST_COMPLETED)
            if incoming in done:
                stop.cancel()
                return incoming.result()
            incoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await incoming
            return {"type": "websocket.disconnect", "code": WS_UNAUTHORIZED}

        async def close_when_session_ends() -> None:
            while not ended.is_set():
                left = self.session.expires_at - self.sessions.now()
                if left <= 0 or not await asyncio.to_thread(self._alive):
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    # Wake up now and then: the session clock may not be the loop's (tests move it).
                    await asyncio.wait_for(ended.wait(), timeout=min(left, 5.0))
            ended.set()
            async with sending:
                if state["accepted"] and not state["closed"]:
                    state["closed"] = True
                    with contextlib.suppress(Exception):
                        await send({"type": "websocket.close", "code": WS_UNAUTHORIZED, "reason": "session ended"})

        watcher = asyncio.ensure_future(close_when_session_ends())
        try:
            await app(scope, guarded_receive, guarded_send)
        except _SessionEnded:
            pass
        finally:
            unwatch()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


    def _alive(self) -> bool:
        # Revoked by another process (`edge users passwd`) shows only in the store; a store that cannot
        # answer (the box is closing) ends the socket too: the client reconnects and logs in if it must.
        try:
            return self.sessions.alive(self.session.token)
        except Exception:
            return False


class _SessionEnded(OSError):
    """Raised into an app that sends after its session's socket was closed (like a vanished client)."""


def safe_next(target: str | None, default: str = "/live") -> str:
    """A post-login destination that stays on this site (no //evil.example, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("/login"):
        return default
    return target


def _a(role: str | None) -> str:
    return f"an {role}" if role and role[0] in "aeiou" else f"a {role}"


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
