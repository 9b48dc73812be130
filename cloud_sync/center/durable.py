"""Replies that wait for their bytes to be on disk, with the fsyncs done off the receive loop.

fsync is the center's most expensive step (milliseconds per batch on a
real disk). Done inline it stops the loop from reading and hashing the next
chunks; here a helper thread fsyncs while the loop goes on, and a batch's
replies leave only once every file it appended to is durable. Batches are
released strictly in order, so a box sees its replies in the order it sent
its requests. The helper fsyncs duplicates of the file descriptors, so the
loop may close a partial file meanwhile.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections import deque
from collections.abc import Iterable

import zmq

from cloud_sync.center.storage import Partial

_ids = itertools.count()


class DurableReplies:
    def __init__(self, ctx: zmq.Context) -> None:
        self._endpoint = f"inproc://durable-{next(_ids)}"
        self.signal = ctx.socket(zmq.PAIR)  # the loop polls this: a batch became durable
        self.signal.bind(self._endpoint)
        self._ctx = ctx
        self._work: queue.Queue[tuple[int, list[int]] | None] = queue.Queue()
        self._pending: deque[tuple[int, list[list[bytes]]]] = deque()
        self._batch = 0
        self._durable = 0
        self.fsyncs = 0
        self._thread = threading.Thread(target=self._run, name="center-fsync", daemon=True)
        self._thread.start()

    def submit(self, dirty: Iterable[Partial], replies: list[list[bytes]]) -> None:
        """Queue `replies` until the bytes appended to `dirty` files are on disk."""
        self._batch += 1
        fds = []
        for p in dirty:
            if p.dirty:
                fds.append(os.dup(p.fd))
                p.dirty = False  # from here on the helper owns this flush
        self._pending.append((self._batch, replies))
        self._work.put((self._batch, fds))

    def ready(self) -> list[list[bytes]]:
        """Replies whose batch is durable (call when `signal` is readable)."""
        while True:
            try:
                self._durable = max(self._durable, int(self.signal.recv(zmq.NOBLOCK)))
            except zmq.Again:
                break
        out: list[list[bytes]] = []
        while self._pending and self._pending[0][0] <= self._durable:
            out.extend(self._pending.popleft()[1])
        return out

    def close(self) -> list[list[bytes]]:
        """Finish outstanding fsyncs; returns the replies they release."""
        self._work.put(None)
        self._thread.join()
        out = self.ready()
        self.signal.close(0)
        return out

    def _run(self) -> None:
        done = self._ctx.socket(zmq.PAIR)
        done.connect(self._endpoint)
        try:
            while True:
                item = self._work.get()
                if item is None:
                    return
                batch, fds = item
                # Coalesce whatever queued up meanwhile: one pass of fsyncs releases all of it.
                while True:
                    try:
                        more = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._work.put(None)
                        break
                    batch, extra = more
                    fds.extend(extra)
                for fd in fds:
                    try:
                        os.fsync(fd)
                        self.fsyncs += 1
                    finally:
                        os.close(fd)
                done.send(b"%d" % batch)
        finally:
            done.close(0)
