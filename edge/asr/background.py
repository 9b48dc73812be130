"""Whisper for background re-decodes, in a child process at the OS's idle priority.

The polisher and the translator (edge/asr/polish.py, translation.py) decode
whole 30 s windows: 1-3 s of uninterruptible CTranslate2 work each on two
cores. Through the box's scheduler, a live final that arrives while such a
window decodes waits for it (measured with two live streams: finals 2.0-2.9 s
median against a 1.0 s target). Here the window decodes in a process of its
own in the kernel's SCHED_IDLE class instead, so it gets only the CPU the live
streams leave, and the kernel takes a core back from it the moment a final
needs one: preemption at the scheduler tick, not at the end of a window.

It loads its own copy of the box's Whisper (same registry files, same profile
settings: the same text as the in-process engine), lazily, so a box that never
polishes never pays for the second model. A child that dies (killed, out of
memory) costs only the window it was decoding: that window keeps its live text
and the next one starts a new child, up to `max_failures` failures in a row.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from edge.errors import ModelError

log = logging.getLogger(__name__)

STOP_JOIN_S = 2.0  # how long a stopping child gets to leave by itself before it is killed


def lower_priority(pid: int = 0) -> str:
    """Put every thread of process `pid` (0: this one) in the idle class; returns the class it got.

    SCHED_IDLE runs a thread only on CPU no normal thread wants. Each thread
    has its own policy on Linux, and new threads inherit their creator's, so
    the threads that exist now are moved and those started later follow. Where
    SCHED_IDLE is refused (some containers), nice 19 is the next best.
    """
    tids = _threads(pid)
    try:
        for tid in tids:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    except (OSError, AttributeError):
        pass
    try:
        for tid in tids:
            os.setpriority(os.PRIO_PROCESS, tid, 19)  # per thread on Linux, as the scheduling class is
        return "nice 19"
    except OSError:
        return "normal"


def _threads(pid: int) -> list[int]:
    task = Path(f"/proc/{pid or 'self'}/task")
    try:
        return [int(t.name) for t in task.iterdir()]
    except OSError:
        return [pid]


class BackgroundWhisper:
    """The engine calls a polisher or translator makes, answered by a Whisper in an idle-class child process.

    Offers what they call on an engine: `decode_window` (the same WindowResult
    as `WhisperEngine.decode_window`), `detect_language`, `sot_sequence`,
    `multilingual` and `tokenizer`; the last three are pure token bookkeeping
    and come from the box's own engine, `live`, which is not otherwise used.
    """

    def __init__(self, choice: Any, live: Any, *, registry_root: Path | None = None, max_failures: int = 3) -> None:
        from edge.registry import Registry

        self._choice = choice  # edge.profiles.ModelChoice: the box's engine settings, loaded again in the child
        self._live = live
        self._root = Path(registry_root) if registry_root is not None else Registry().root
        self._max_failures = max_failures
        self.multilingual = bool(getattr(live, "multilingual", False))
        self.tokenizer = live.tokenizer
        self._call = threading.Lock()  # one request at a time on the pipe
        self._state = threading.Lock()  # guards the fields below; never held while waiting on the child
        self._proc: Any = None
        self._conn: Any = None
        self._closed = False
        self._failures = 0  # in a row; a decoded window resets it
        self._gave_up = False
        self.starts = 0  # children started (a restart after a crash counts)
        self.scheduling = ""  # the class the last child got: idle, nice 19 or normal

    @classmethod
    def for_models(cls, models: Any, **kwargs: Any) -> "BackgroundWhisper":
        """The background twin of a loaded `SpeechModels`' Whisper."""
        return cls(models.profile.asr.engine, models.whisper, **kwargs)

    # -- the engine calls ---------------------------------------------------------------------

    def sot_sequence(self, language: str | None = None, task: str = "transcribe") -> list[int]:
        return self._live.sot_sequence(language, task)

    def decode_window(self, audio: Any, settings: Any, *, previous: list[int] | None = None,
                      context: list[int] | None = None, sot_sequence: list[int] | None = None,
                      priority: Any = None) -> Any:
        """`WhisperEngine.decode_window` in the child.

        `priority` is accepted and ignored: the child takes no slot of the
        box's scheduler, because a slot held for a whole window is exactly
        what made live finals wait. The kernel's idle class orders it instead.
        """
        return self._request(("decode_window", audio, settings,
                              {"previous": previous, "context": context, "sot_sequence": sot_sequence}))

    def detect_language(self, audio: Any) -> list[tuple[str, float]]:
        return self._request(("detect_language", audio))

    def start(self) -> None:
        """Load the child now rather than at the first window (benchmarks that time the windows alone)."""
        with self._call:
            self._ensure()

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs (for tests and the health page)."""
        with self._state:
            return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def memory(self) -> dict[str, int] | None:
        """The child's resident memory now and at its peak, in bytes (None while no child runs)."""
        pid = self.pid
        if pid is None:
            return None
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        kib = {name: int(fields[key].split()[0]) for name, key in (("rss", "VmRSS"), ("peak", "VmHWM"))
               if key in fields}
        return {name: value * 1024 for name, value in kib.items()}

    # -- the child's lifetime -----------------------------------------------------------------

    def _request(self, request: tuple) -> Any:
        with self._call:
            conn = self._ensure()
            try:
                conn.send(request)
                reply = conn.recv()
            except (EOFError, OSError, ValueError):
                raise self._died() from None
            if reply[0] == "error":  # the child is fine; this request was not (its own fault, not a crash)
                raise ModelError(f"background Whisper failed on a window: {reply[1]}", "see the box's log")
            with self._state:
                self._failures = 0
            return reply[1]

    def _ensure(self) -> Any:
        with self._state:
            if self._closed:
                raise ModelError("background Whisper is stopped", "the box is shutting down")
        self._ensure_not_given_up()
        with self._state:
            if self._proc is not None and self._proc.is_alive():
                return self._conn
            lost = self._proc.exitcode if self._proc is not None else None
        self._discard()
        if lost is not None:  # it died between windows (killed, out of memory): a failure like any other
            error = self._failed(f"background Whisper's process stopped between windows (exit code {lost})",
                                 "a new process is started")
            log.warning("%s; starting a new one", error.problem)
            self._ensure_not_given_up()
        return self._start()

    def _ensure_not_given_up(self) -> None:
        with self._state:
            if self._gave_up:
                raise ModelError(f"background Whisper gave up after {self._max_failures} failures in a row",
                                 "restart the box; live captions are not affected")

    def _start(self) -> Any:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # not fork: the box's threads and GStreamer must not be copied
        conn, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self._choice, str(self._root)),
                           name="whisper-background", daemon=True)
        proc.start()
        child.close()
        # Lowered from here as well, at once: the child's imports (numpy, CTranslate2) take a second of
        # CPU before it can lower itself, and that second must not be taken from a live final either.
        lower_priority(proc.pid)
        with self._state:
            self._proc, self._conn = proc, conn
            self.starts += 1
            closed = self._closed
        if closed:  # stopped while starting: nothing waits for this child
            self._discard()
            raise ModelError("background Whisper is stopped", "the box is shutting down")
        # No time limit on loading, nor on a window: in the idle class a busy box may starve the child for
        # minutes, which is not a failure. `close` ends a wait by ending the child.
        try:
            reply = conn.recv()
        except (EOFError, OSError):
            raise self._died("while loading") from None
        if reply[0] != "ready":
            self._discard()
            raise self._failed(f"background Whisper cannot load {self._choice.model}: {reply[1]}",
                               "re-provision it: 'edge models provision'")
        self.scheduling = reply[1]
        log.info("background Whisper %s loaded in process %d (%s priority)", self._choice.model, proc.pid,
                 self.scheduling)
        return conn

    def _died(self, when: str = "while decoding") -> ModelError:
        with self._state:
            proc, closed = self._proc, self._closed
        if proc is not None:
            proc.join(STOP_JOIN_S)
        code = proc.exitcode if proc is not None else None
        self._discard()
        if closed:
            return ModelError("background Whisper is stopped", "the box is shutting down")
        return self._failed(f"background Whisper's process stopped {when} (exit code {code})",
                            "the window keeps its live text; the next one starts a new process")

    def _failed(self, problem: str, fix: str) -> ModelError:
        with self._state:
            self._failures += 1
            gave_up = self._failures >= self._max_failures and not self._gave_up
            if gave_up:
                self._gave_up = True
        if gave_up:
            log.error("background Whisper gave up after %d failures in a row (last: %s); re-decoded text is off "
                      "until the box restarts, live captions carry on", self._max_failures, problem)
        return ModelError(problem, fix)

    def _discard(self) -> None:
        """Forget the current child, killing it if it still runs."""
        with self._state:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(STOP_JOIN_S)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Stop the child without waiting for a window it is decoding (that window keeps its live text)."""
        with self._state:
            self._closed = True
            proc = self._proc
        if proc is None:
            return
        if self._call.acquire(blocking=False):  # idle: it can be asked to leave
            try:
                try:
                    self._conn.send(("stop",))
                except (OSError, ValueError, AttributeError):
                    pass
                proc.join(STOP_JOIN_S)
                self._discard()
            finally:
                self._call.release()
            return
        # A decode is in flight and holds the pipe: a stop message would interleave with its audio. The
        # child keeps nothing worth saving, so it is terminated; the waiting call sees the pipe close.
        proc.terminate()
        proc.join(STOP_JOIN_S)
        if proc.is_alive():
            proc.kill()
            proc.join(STOP_JOIN_S)


def _serve(conn: Any, choice: Any, registry_root: str) -> None:
    """The child: lower itself, load Whisper, then answer requests until told to stop."""
    scheduling = lower_priority()
    # Ctrl-C reaches the terminal's whole process group; the box decides when this child ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from edge.asr.whisper import WhisperEngine
        from edge.registry import Registry
        from edge.runtime.scheduler import Scheduler

        # A private scheduler: the only caller here is this loop, so its slot is always free.
        engine = WhisperEngine.load(choice, Registry(Path(registry_root)), Scheduler())
    except Exception as exc:  # the parent turns this into a ModelError with the fix
        text = str(exc).strip()
        try:
            conn.send(("error", text.splitlines()[0][:300] if text else type(exc).__name__))
        except OSError:
            pass
        return
    lower_priority()  # threads the model started are the creator's class already; made sure here
    conn.send(("ready", scheduling))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent has gone
        if request[0] == "stop":
            return
        try:
            if request[0] == "decode_window":
                _, audio, settings, kwargs = request
                reply = ("ok", engine.decode_window(audio, settings, **kwargs))
            elif request[0] == "detect_language":
                reply = ("ok", engine.detect_language(request[1]))
            else:
                reply = ("error", f"unknown request {request[0]!r}")
        except Exception as exc:  # one bad window must not end the child
            reply = ("error", f"{type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(reply)
        except OSError:
            return  # the parent has gone while this window decoded
