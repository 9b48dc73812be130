"""Crew accounts: names, roles and argon2id password hashes in `<data_dir>/users.json`.

The file is rewritten atomically (temp file, fsync, rename) so a power cut
never leaves a box that nobody can log in to. It stays a file beside the
store, not a table in it, so `edge users passwd` can reset a password while
the box runs (the store admits one writing process).

Roles are ordered: a viewer reads, an editor also changes streams, uploads
and drafts, an admin also manages accounts and settings. Accounts written
before roles existed were all admins, and read as such.

The first start makes an admin password and keeps it in
`<data_dir>/initial-admin-password` (0600) until that password is changed, so
it can never be shown once and then lost.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from edge.durable import atomic_replace
from edge.errors import ConfigError, EdgeError

ADMIN = "admin"
USERS_FILE = "users.json"
INITIAL_PASSWORD_FILE = "initial-admin-password"
Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)  # in order: each may do what the ones before it may
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
USERNAME_RULE = "1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class AccountError(EdgeError):
    """A refused change to the accounts (unknown user, last admin, weak password...)."""


def allows(role: str | None, needed: Role) -> bool:
    """Whether `role` may do what `needed` may."""
    return role in ROLES and ROLES.index(cast(Role, role)) >= ROLES.index(needed)


def check_username(name: str) -> str:
    if not isinstance(name, str) or not USERNAME.fullmatch(name):
        raise AccountError(f"user name {name!r} is not usable", f"use {USERNAME_RULE}")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short (under {MIN_PASSWORD} characters)",
                           f"use at least {MIN_PASSWORD} characters; a few words are easy to type on a phone")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is over {MAX_PASSWORD} characters", "use a shorter one")
    return password


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"role {role!r} does not exist", f"use one of {', '.join(ROLES)}")
    return cast(Role, role)


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: Role
    updated_at: float  # last password change (unix time)


class UserStore:
    """`users.json`: {"version": 2, "users": {name: {"hash": argon2id, "role": ..., "updated_at": unix}}}."""

    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self.path = path
        self._hasher = hasher or PasswordHasher()
        self._lock = threading.Lock()
        # Each argon2 check takes ~64 MiB for ~0.1 s: cap how many run at once so
        # a burst of logins cannot exhaust a small box's memory.
        self._verifying = threading.BoundedSemaphore(2)
        self._decoy: str | None = None
        # Every request looks up its user's role: parse the file again only when it changed
        # (`edge users` may change it from another process while the box runs).
        self._cache: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None

    @property
    def initial_password_file(self) -> Path:
        return self.path.parent / INITIAL_PASSWORD_FILE

    @property
    def _decoy_hash(self) -> str:
        # Unknown users are checked against this so a wrong name costs as long as a wrong password.
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._decoy

    # -- reading ----------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_file()

    def usernames(self) -> list[str]:
        return sorted(self._read())

    def has(self, username: str) -> bool:
        return username in self._read()

    def role(self, username: str) -> Role | None:
        record = self._read().get(username)
        return _role_of(record) if record else None

    def accounts(self) -> list[Account]:
        return [Account(name, _role_of(r), float(r.get("updated_at") or 0)) for name, r in sorted(self._read().items())]

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
            self._update(username, lambda r: {**r, "hash": self._hasher.hash(password)})  # argon2 cost raised since
        return ok

    # -- changing -----------------------------------------------------------------

    def add(self, username: str, password: str, role: Role) -> Account:
        check_username(username)
        check_role(role)
        hashed = self._hasher.hash(check_password(password))
        with self._lock:
            users = self._read()
            if username in users:
                raise AccountError(f"user {username!r} already exists",
                                   "pick another name, or change that user's password or role")
            users[username] = {"hash": hashed, "role": role, "updated_at": round(time.time(), 3)}
            self._write(users)
        return Account(username, role, users[username]["updated_at"])

    def set_password(self, username: str, password: str, *, create_role: Role | None = None,
                     check: bool = True) -> None:
        """Set a password; `create_role` creates the user when missing. `check=False` skips the length
        rule (a password an operator set by environment variable before the rule existed)."""
        if not password:
            raise AccountError("the password is empty", "type a password")
        if check:
            check_password(password)
        hashed = self._hasher.hash(password)
        with self._lock:
            users = self._read()
            if username not in users and create_role is None:
                raise AccountError(f"no user named {username!r}", "see `edge users list`, or add the user first")
            record = users.get(username, {"role": create_role})
            users[username] = {**record, "hash": hashed, "updated_at": round(time.time(), 3)}
            self._write(users)
        if username == ADMIN:
            # The first-start password is no longer the admin's: keeping the file would only mislead.
            self.initial_password_file.unlink(missing_ok=True)

    def set_role(self, username: str, role: Role) -> None:
        check_role(role)
        with self._lock:
            users = self._read()
            if username not in users:
                raise AccountError(f"no user named {username!r}", "see the list of users")
            if role != "admin":
                self._keep_an_admin(users, username)
            users[username] = {**users[username], "role": role}
            self._write(users)

    def remove(self, username: str) -> None:
        with self._lock:
            users = self._read()
            if username not in users:
                raise AccountError(f"no user named {username!r}", "see the list of users")
            self._keep_an_admin(users, username)
            del users[username]
            self._write(users)

    @staticmethod
    def _keep_an_admin(users: dict[str, dict[str, Any]], leaving: str) -> None:
        admins = [n for n, r in users.items() if _role_of(r) == "admin"]
        if admins == [leaving]:
            raise AccountError(f"{leaving!r} is the only admin", "make another user admin first")

    def _update(self, username: str, change: Any) -> None:
        with self._lock:
            users = self._read()
            if username in users:
                users[username] = change(users[username])
                self._write(users)

    # -- the file --------------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._unreadable(exc) from None
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._cache is not None and self._cache[0] == stamp:
            return {k: dict(v) for k, v in self._cache[1].items()}
        try:
            data = json.loads(self.path.read_text())
            users = data["users"]
            if not isinstance(users, dict) or not all(isinstance(u.get("hash"), str) for u in users.values()):
                raise ValueError("bad user record")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._unreadable(exc) from None
        self._cache = (stamp, users)
        return {k: dict(v) for k, v in users.items()}

    def _unreadable(self, exc: Exception) -> ConfigError:
        return ConfigError(f"dashboard users file {self.path} is unreadable ({exc})",
                           "restore it, or delete it and restart to generate a new admin password")

    def _write(self, users: dict[str, dict[str, Any]]) -> None:
        payload = json.dumps({"version": 2, "users": users}, indent=2).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_replace(self.path, payload, mode=0o600)  # password hashes: owner only
        self._cache = None


def _role_of(record: dict[str, Any]) -> Role:
    role = record.get("role")
    return cast(Role, role) if role in ROLES else "admin"  # written before roles: the only user was the admin


def bootstrap_admin(users: UserStore, password: str | None) -> str:
    """Make sure someone can log in; returns the line to show in the terminal (never a password).

    A given password (argument or EDGE_ADMIN_PASSWORD) is authoritative: it
    replaces the stored admin hash if it differs, so an operator who lost the
    password can reset it by restarting with the variable set. Without one, a
    first start generates a password and keeps it in the initial-password
    file until it is changed; every later start says where it is, or that
    it was changed and how to reset it.
    """
    if password:
        if not (users.has(ADMIN) and users.verify(ADMIN, password)):
            users.set_password(ADMIN, password, create_role="admin", check=False)
        if users.role(ADMIN) != "admin":
            users.set_role(ADMIN, "admin")
        return "dashboard: log in as admin with the password given at start (EDGE_ADMIN_PASSWORD)"
    keep = users.initial_password_file
    if not (users.exists() and users.usernames()):
        generated = secrets.token_urlsafe(12)
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.unlink(missing_ok=True)  # a stale copy may have wider permissions
        atomic_replace(keep, (generated + "\n").encode(), mode=0o600)  # before the hash: never lost in between
        hashed = users._hasher.hash(generated)
        with users._lock:
            users._write({ADMIN: {"hash": hashed, "role": "admin", "updated_at": round(time.time(), 3)}})
    if keep.is_file():
        return (f"dashboard: log in as admin with the first-start password in {keep} "
                f"(it stays there until you change it)")
    return (f"dashboard: accounts in {users.path}; a forgotten password is reset with "
            f"`edge users passwd NAME --data {users.path.parent}`")
