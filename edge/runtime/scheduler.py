"""One owner of the inference cores, shared by every model on the box.

A 2-core box cannot run Whisper, OCR, a tagger and an LLM side by side without
live captions falling behind: each engine spreads its threads over every core,
so running two at once slows both and makes caption latency depend on whatever
else happens to run. Instead every model call asks the scheduler for a slot
(by default one: the whole box) and runs with the cores to itself.

Who goes next when a slot frees: the most urgent class, then the oldest ticket
in it (strict priority, FIFO within a class). A job is never interrupted in
the middle of a model call; long jobs (an LLM generating tokens) instead work
in steps and give the slot back between steps whenever someone more urgent
waits, so a caption final waits at most one step of a background job.

The box creates one `Scheduler` and hands it to every model; there is no
module-level instance, so tests and tools get their own.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import ParamSpec, TypeVar

__all__ = ["ClassStats", "Lease", "Priority", "Scheduler", "SchedulerStats"]

T = TypeVar("T")

# Caption work comes in chains (a partial, then the alignment that commits its
# words; a backlog of partials) separated by a millisecond of Python. Without
# a short hold after each release a background step slipped into every gap,
# and each link of the chain waited a whole step.
DEFAULT_LINGER_S = 0.01
P = ParamSpec("P")


class Priority(IntEnum):
    """Work classes, most urgent first (a lower value is served first)."""

    CAPTION_FINAL = 0  # finals and the alignments that commit words: what viewers read
    CAPTION_PARTIAL = 1  # hypotheses that will be replaced anyway
    VISION = 2  # keyframes, OCR: may drop frames when late
    TAGGING = 3  # post-processing of stored records: may lag
    GENERATION = 4  # drafts from an LLM: minutes of work nobody watches live


@dataclass(frozen=True, slots=True)
class ClassStats:
    """Counters for one priority class since the scheduler was made."""

    waiting: int  # tickets queued now
    running: int  # slots held now
    granted: int  # slots handed out (a long job counts once per step or resume)
    waited: int  # grants that had to queue because the cores were taken
    wait_s: float  # total time spent queued
    max_wait_s: float
    busy_s: float  # total time holding a slot (finished holds only)
    yields: int  # times a long job gave its slot to a more urgent one

    def to_json(self) -> dict:
        return {
            "waiting": self.waiting,
            "running": self.running,
            "granted": self.granted,
            "waited": self.waited,
            "wait_s": round(self.wait_s, 4),
            "max_wait_s": round(self.max_wait_s, 4),
            "busy_s": round(self.busy_s, 4),
            "yields": self.yields,
        }


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    slots: int
    classes: dict[Priority, ClassStats]

    @property
    def waiting(self) -> int:
        return sum(c.waiting for c in self.classes.values())

    def to_json(self) -> dict:
        return {"slots": self.slots, "classes": {p.name.lower(): c.to_json() for p, c in self.classes.items()}}


class _Counters:
    __slots__ = ("waiting", "running", "granted", "waited", "wait_s", "max_wait_s", "busy_s", "yields")

    def __init__(self) -> None:
        self.waiting = self.running = self.granted = self.waited = self.yields = 0
        self.wait_s = self.max_wait_s = self.busy_s = 0.0

    def snapshot(self) -> ClassStats:
        return ClassStats(self.waiting, self.running, self.granted, self.waited, self.wait_s, self.max_wait_s,
                          self.busy_s, self.yields)


class Lease:
    """A granted slot. `yield_point()` between steps lets more urgent work in."""

    def __init__(self, scheduler: Scheduler, priority: Priority, ticket: tuple[int, int]) -> None:
        self._scheduler = scheduler
        self.priority = priority
        # The job keeps its first ticket when it re-queues after yielding: it
        # stays ahead of younger jobs of its own class (FIFO holds for the job,
        # not for each step).
        self._ticket = ticket
        self._since = scheduler._clock()

    def yield_point(self) -> bool:
        """Give the slot back if more urgent work waits, and wait to get it back; True if it yielded."""
        return self._scheduler._yield(self)


class Scheduler:
    """Grants `slots` concurrent holders, most urgent class first, oldest first within a class."""

    def __init__(
        self, slots: int = 1, *, linger_s: float = DEFAULT_LINGER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """`linger_s`: after a release, other threads' less urgent work waits this long for the releaser to come back."""
        if slots < 1:
            raise ValueError(f"a scheduler needs at least one slot, got {slots}")
        if linger_s < 0:
            raise ValueError(f"linger_s cannot be negative, got {linger_s}")
        self.slots = slots
        self.linger_s = linger_s
        self._clock = clock
        self._linger: tuple[int, float, object] | None = None  # (class, until, thread token) of the last release
        self._cv = threading.Condition(threading.Lock())
        self._waiting: list[tuple[int, int]] = []  # heap of (priority, sequence)
        self._tickets = itertools.count()
        self._busy = 0
        self._counters = {p: _Counters() for p in Priority}
        # A thread that asks again while holding a slot would wait for itself
        # forever (with one slot); refuse that loudly instead.
        self._holders = threading.local()

    # -- the API models use ---------------------------------------------------------

    @contextmanager
    def slot(self, priority: Priority) -> Iterator[Lease]:
        """Block until a slot is granted to `priority`, hold it for the block, release it on any exit."""
        priority = Priority(priority)
        if getattr(self._holders, "lease", None) is not None:
            raise RuntimeError("this thread already holds a scheduler slot; nested requests would deadlock")
        ticket = (int(priority), next(self._tickets))
        lease = self._acquire(priority, ticket)
        self._holders.lease = lease
        try:
            yield lease
        finally:
            self._holders.lease = None
            self._release(lease)

    def run(self, priority: Priority, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call `fn(*args, **kwargs)` holding a slot of `priority`; returns its result."""
        with self.slot(priority):
            return fn(*args, **kwargs)

    def steps(self, priority: Priority, work: Iterable[T]) -> Iterator[T]:
        """Run an iterator of steps (e.g. one token each) under the scheduler, yielding its items.

        The slot is held only while the next item is computed, never while the
        caller handles it, so an abandoned loop holds nothing. Between steps
        more urgent work goes first; the job keeps its age within its class.
        """
        priority = Priority(priority)
        steps = iter(work)
        ticket = (int(priority), next(self._tickets))
        while True:
            if getattr(self._holders, "lease", None) is not None:
                raise RuntimeError("this thread already holds a scheduler slot; nested requests would deadlock")
            lease = self._acquire(priority, ticket)
            self._holders.lease = lease
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                self._holders.lease = None
                self._release(lease)
            yield item

    def stats(self) -> SchedulerStats:
        with self._cv:
            return SchedulerStats(self.slots, {p: c.snapshot() for p, c in self._counters.items()})

    # -- internals ------------------------------------------------------------------

    def _acquire(self, priority: Priority, ticket: tuple[int, int]) -> Lease:
        counters = self._counters[priority]
        with self._cv:
            queued_at = self._clock()
            heapq.heappush(self._waiting, ticket)
            counters.waiting += 1
            had_to_wait = False
            while True:
                if self._busy < self.slots and self._waiting[0] == ticket:
                    held_back = self._held_back(priority)
                    if held_back <= 0:
                        break
                    self._cv.wait(held_back)
                else:
                    self._cv.wait()
                had_to_wait = True
            heapq.heappop(self._waiting)
            counters.waiting -= 1
            self._busy += 1
            counters.running += 1
            counters.granted += 1
            if had_to_wait:
                waited = self._clock() - queued_at
                counters.waited += 1
                counters.wait_s += waited
                counters.max_wait_s = max(counters.max_wait_s, waited)
            if self._waiting and self._busy < self.slots:
                self._cv.notify_all()  # another slot is free: the next head may go too
            return Lease(self, priority, ticket)

    def _release(self, lease: Lease) -> None:
        counters = self._counters[lease.priority]
        with self._cv:
            now = self._clock()
            self._busy -= 1
            counters.running -= 1
            counters.busy_s += now - lease._since
            if self.linger_s > 0:
                self._linger = (int(lease.priority), now + self.linger_s, self._thread_token())
            self._cv.notify_all()

    def _thread_token(self) -> object:
        # Not threading.get_ident(): a new thread may reuse a finished one's ident.
        token = getattr(self._holders, "token", None)
        if token is None:
            token = self._holders.token = object()
        return token

    def _held_back(self, priority: Priority) -> float:
        """Seconds `priority` must still leave the cores to the thread and class that just released them."""
        if self._linger is None:
            return 0.0
        released_by, until, thread = self._linger
        if priority <= released_by or thread is self._thread_token():
            return 0.0  # the releaser's own next link (a final, then a partial) goes at once
        return until - self._clock()

    def _yield(self, lease: Lease) -> bool:
        with self._cv:
            if not self._waiting or self._waiting[0][0] >= lease.priority:
                return False
            self._counters[lease.priority].yields += 1
        self._release(lease)
        granted = self._acquire(lease.priority, lease._ticket)
        lease._since = granted._since
        return True
