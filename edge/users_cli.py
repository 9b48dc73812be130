"""`edge users`: crew accounts of the dashboard, from the box's own terminal.

Works while the box runs (accounts are a file the dashboard re-reads; a
changed password or a removed user ends their sessions in the store at
once, open live pages included) and while it is stopped.

    edge users list --data DIR
    edge users add NAME --role editor --data DIR        (password prompted, or --password-stdin)
    edge users passwd NAME --data DIR                   (prompted twice, or --password-stdin)
    edge users role NAME admin --data DIR
    edge users remove NAME --data DIR
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from edge.errors import EdgeError

Command = Callable[..., argparse.ArgumentParser]


def register(sub: argparse._SubParsersAction, command: Command) -> None:
    from edge.dashboard.accounts import ROLES

    u = command("users", _help, "Dashboard accounts: list, add, set a password, change a role, remove.")
    u_sub = u.add_subparsers(dest="users_command", metavar="ACTION")

    def action(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        a = u_sub.add_parser(name, help=help, description=help)
        a.add_argument("--data", type=Path, required=True, help="the box's data directory")
        a.set_defaults(func=func)
        return a

    action("list", _list, "List accounts, their roles and how many devices are logged in.")
    add = action("add", _add, "Add an account (the password is prompted, or read with --password-stdin).")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="viewer", help="viewer (default), editor or admin")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw = action("passwd", _passwd, "Set an account's password (e.g. a forgotten admin password); "
                                   "its sessions end everywhere.")
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    role = action("role", _role, "Change an account's role.")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    rm = action("remove", _remove, "Remove an account; its sessions end everywhere.")
    rm.add_argument("name")


def _help(args: argparse.Namespace) -> int:
    raise EdgeError("`edge users` needs an action", "use `edge users list --data DIR` (or add, passwd, role, remove)")


def _users(args: argparse.Namespace):
    from edge.dashboard.accounts import USERS_FILE, UserStore

    if not args.data.is_dir():
        raise EdgeError(f"{args.data} is not a box data directory", "pass the --data the box runs with")
    return UserStore(args.data / USERS_FILE)


class _SessionsIfAny:
    """The store's sessions table, when the box has a store: a running box shares the database (WAL)."""

    def __init__(self, data: Path) -> None:
        from edge.store.db import DB_NAME, Database
        from edge.dashboard.sessions import Sessions

        path = data / "store" / DB_NAME
        self.sessions = Sessions(Database(path)) if path.is_file() else None

    def revoke(self, name: str) -> int:
        return self.sessions.revoke_user(name) if self.sessions else 0

    def count(self, name: str) -> int:
        return self.sessions.count(name) if self.sessions else 0

    def close(self) -> None:
        if self.sessions:
            self.sessions.db.close()


def _read_password(args: argparse.Namespace, prompt: str) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise EdgeError("no password on standard input", "pipe it in: echo 'a long password' | edge users ...")
        return password
    if not sys.stdin.isatty():
        raise EdgeError("no terminal to ask for the password", "add --password-stdin and pipe the password in")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise EdgeError("the two passwords differ", "run the command again and type the same password twice")
    return first


def _list(args: argparse.Namespace) -> int:
    users = _users(args)
    sessions = _SessionsIfAny(args.data)
    try:
        accounts = users.accounts()
        if not accounts:
            print(f"no accounts yet: the dashboard makes an admin at its first start (or: edge users add NAME "
                  f"--role admin --data {args.data})")
        for a in accounts:
            n = sessions.count(a.name)
            print(f"{a.name:24} {a.role:7} logged in on {n} device{'' if n == 1 else 's'}")
    finally:
        sessions.close()
    return 0


def _add(args: argparse.Namespace) -> int:
    from edge.dashboard.accounts import check_password, check_username

    users = _users(args)
    check_username(args.name)
    if users.has(args.name):
        raise EdgeError(f"user {args.name!r} already exists", f"use `edge users passwd {args.name}` or `role`")
    password = check_password(_read_password(args, f"Password for {args.name}: "))
    users.add(args.name, password, args.role)
    print(f"added {args.name} ({args.role})")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from edge.dashboard.accounts import ADMIN, check_password

    users = _users(args)
    if not users.has(args.name) and args.name != ADMIN:
        raise EdgeError(f"no user named {args.name!r}", f"see `edge users list --data {args.data}`")
    password = check_password(_read_password(args, f"New password for {args.name}: "))
    # The admin is made if missing: this is the way back in for a box whose users file was lost.
    users.set_password(args.name, password, create_role="admin" if args.name == ADMIN else None)
    sessions = _SessionsIfAny(args.data)
    try:
        ended = sessions.revoke(args.name)
    finally:
        sessions.close()
    print(f"password of {args.name} set; {ended} session{'' if ended == 1 else 's'} ended")
    return 0


def _role(args: argparse.Namespace) -> int:
    _users(args).set_role(args.name, args.role)
    print(f"{args.name} is now {args.role}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    _users(args).remove(args.name)
    sessions = _SessionsIfAny(args.data)
    try:
        ended = sessions.revoke(args.name)
    finally:
        sessions.close()
    print(f"removed {args.name}; {ended} session{'' if ended == 1 else 's'} ended")
    return 0
