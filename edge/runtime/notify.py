"""systemd's notify protocol, in plain socket code: READY, STATUS, WATCHDOG, STOPPING.

With `Type=notify`, systemd passes the path of a datagram socket in
NOTIFY_SOCKET ("@name" is the abstract namespace) and waits for READY=1;
with `WatchdogSec`, it passes WATCHDOG_USEC and restarts the service when no
WATCHDOG=1 arrives within it. Outside systemd there is no socket and every
call does nothing.

The box is ready once its dashboard answers `/api/health` (streams are
started before the dashboard, so that is the last step). The watchdog ping
is earned, not sent on a timer: each round fetches `/api/health` from the
dashboard's event loop and checks the box's own threads; a box whose loop
is wedged stops pinging and systemd restarts it.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable

log = logging.getLogger(__name__)

Check = Callable[[], str | None]  # returns what is wrong, or None


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET") or ""
        self.address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the watchdog is for: not us if we were started by it.
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *fields: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as exc:  # systemd gone or the socket unreadable: the box runs on regardless
            log.warning("systemd notify failed: %s", exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")


def dashboard_answers(url: str, timeout: float = 3.0) -> Check:
    """A check that the dashboard's event loop serves `/api/health` (a loopback self-signed certificate is fine)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def check() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
                return None if r.status == 200 else f"dashboard answered {r.status}"
        except OSError as exc:
            return f"dashboard does not answer: {exc}"

    return check


class Supervision:
    """Waits for the dashboard, says READY, then pings the watchdog while every check passes."""

    def __init__(self, notifier: Notifier, checks: list[Check], *, status: Callable[[], str] = lambda: "",
                 ready_timeout_s: float = 300.0) -> None:
        self.notifier = notifier
        self.checks = checks
        self._status = status
        self.ready_timeout_s = ready_timeout_s
        self.interval_s = notifier.watchdog_s / 2 if notifier.watchdog_s else 5.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_ready = threading.Event()
        self.last_problem: str | None = None

    def start(self) -> "Supervision":
        if self.notifier.enabled:
            self._thread = threading.Thread(target=self._run, name="systemd-notify", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.is_ready.is_set():
            self.notifier.stopping()

    def problem(self) -> str | None:
        for check in self.checks:
            try:
                problem = check()
            except Exception as exc:  # a broken check is a problem, not a crash
                problem = f"check failed: {exc!r}"
            if problem:
                return problem
        return None

    def _run(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while not self._stop.is_set():
            problem = self.problem()
            if problem is None:
                self.notifier.ready(self._status())
                self.is_ready.set()
                break
            if time.monotonic() > deadline:
                # systemd's TimeoutStartSec decides; we say why we are not ready.
                self.notifier.status(f"not ready: {problem}")
                deadline = time.monotonic() + self.ready_timeout_s
            self._stop.wait(0.2)
        while not self._stop.wait(self.interval_s):
            problem = self.problem()
            if problem is None:
                if self.notifier.watchdog_s:
                    self.notifier.watchdog()
                if self.last_problem is not None:
                    self.notifier.status(self._status())
            elif problem != self.last_problem:
                # No ping: if this lasts WatchdogSec, systemd restarts the box. STATUS says why.
                log.error("watchdog withheld: %s", problem)
                self.notifier.status(f"unhealthy: {problem}")
            self.last_problem = problem
