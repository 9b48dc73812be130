"""Dashboard sessions, kept in the box's SQLite store so a restart logs nobody out.

A token is 32 random bytes handed to the client (cookie or bearer); the store
keeps only its SHA-256, so a copy of the database (a backup, a stolen disk)
holds nothing that logs anyone in. Unguessable tokens need no slow hash: one
SHA-256 is enough and keeps every request cheap.

A session ends at whichever comes first: its absolute expiry (one shift), an
idle limit since it was last used, a logout, a password change of its user
(that user's other sessions end), or its user's removal. `last_seen` is
written at most once a minute per session: every request writing the store
would cost an fsync each.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.store.db import Database

SESSION_TTL_S = 12 * 3600  # one shift; after that the crew logs in again
SESSION_IDLE_S = 4 * 3600  # a phone left in a bag for longer logs in again
TOUCH_EVERY_S = 60.0
MAX_TOKEN_LEN = 200


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # what the client holds (cookie or bearer); never stored
    username: str
    expires_at: float  # absolute expiry (unix time)


class Sessions:
    """Create, resolve and revoke sessions. Without a database (unit tests) an in-memory one is used."""

    def __init__(self, db: Database | None = None, ttl_s: float = SESSION_TTL_S, idle_s: float = SESSION_IDLE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db if db is not None else Database(Path(":memory:"))
        self.ttl_s = ttl_s
        self.idle_s = idle_s
        self._clock = clock
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.Lock()

    def create(self, username: str) -> Session:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(token, username, now + self.ttl_s)
        with self.db.write() as db:
            db.execute("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?", (now, now - self.idle_s))
            db.execute("INSERT INTO sessions (token_hash, username, created_at, last_seen, expires_at)"
                       " VALUES (?, ?, ?, ?, ?)", (_hash(token), username, now, now, session.expires_at))
        return session

    def resolve(self, token: str | None) -> Session | None:
        """The live session for `token`, or None (unknown, revoked, expired or idle too long)."""
        if not token or len(token) > MAX_TOKEN_LEN:
            return None
        key = _hash(token)
        row = self.db.read_one("SELECT username, last_seen, expires_at FROM sessions WHERE token_hash = ?", (key,))
        if row is None:
            return None
        username, last_seen, expires_at = row
        now = self._clock()
        if expires_at <= now or last_seen + self.idle_s <= now:
            self._end([key])
            return None
        if now - last_seen >= TOUCH_EVERY_S:
            with self.db.write() as db:
                db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, key))
        return Session(token, username, expires_at)

    def alive(self, token: str) -> bool:
        """Still in the store and unexpired: a revocation by another process (`edge users`) shows here."""
        return self.resolve(token) is not None

    def revoke(self, token: str | None) -> None:
        if token and len(token) <= MAX_TOKEN_LEN:
            self._end([_hash(token)])

    def revoke_user(self, username: str, *, keep: str | None = None) -> int:
        """End every session of `username` except the one holding `keep`; returns how many ended."""
        spared = _hash(keep) if keep else ""
        keys = [r[0] for r in self.db.read("SELECT token_hash FROM sessions WHERE username = ? AND token_hash != ?",
                                           (username, spared))]
        self._end(keys)
        return len(keys)

    def count(self, username: str | None = None) -> int:
        now = self._clock()
        sql = "SELECT COUNT(*) FROM sessions WHERE expires_at > ? AND last_seen > ?"
        params: tuple = (now, now - self.idle_s)
        if username is not None:
            sql, params = sql + " AND username = ?", (*params, username)
        row = self.db.read_one(sql, params)
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        return self.count()

    def watch(self, token: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from whichever thread revokes) when this session is revoked in this process;
        returns the unwatch. Expiry and revocations by other processes are not announced: watchers poll
        `alive` and compare `expires_at` with `now()` themselves."""
        if self.resolve(token) is None:
            callback()
            return lambda: None
        key = _hash(token)
        with self._lock:
            self._watchers.setdefault(key, []).append(callback)

        def unwatch() -> None:
            with self._lock:
                callbacks = self._watchers.get(key, [])
                if callback in callbacks:
                    callbacks.remove(callback)
                if not callbacks:
                    self._watchers.pop(key, None)
        return unwatch

    def now(self) -> float:
        return self._clock()

    def _end(self, keys: list[str]) -> None:
        if not keys:
            return
        with self.db.write() as db:
            db.executemany("DELETE FROM sessions WHERE token_hash = ?", ((k,) for k in keys))
        with self._lock:
            callbacks = [c for k in keys for c in self._watchers.pop(k, [])]
        for callback in callbacks:
            callback()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
