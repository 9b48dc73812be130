"""Replies that wait for their bytes to be on disk, with the fsyncs done off the receive loop.

fsync is the center's most expensive step (milliseconds per batch on a
real disk). Done inline it stops the loop from reading and hashing the next
chunks; here a helper thread fsyncs while the loop goes on, and a batch's
replies leave only once every file it appended to is durable. Batches are
released strictly in order, so a box sees its replies in the order it sent
its requests. The helper fsyncs duplicates of the file descriptors, so the
loop may close a partial file meanwhile.

A failed fsync (ENOSPC, EIO) means the bytes those ACKs name may not be on
disk: the batch's ACKs become NACKs that refuse the upload for now, and the
loop is told which partial files to reopen from what the disk holds.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import zmq

from cloud_sync.center.storage import Partial
from cloud_sync.zmq_transfer import ACK, NACK

log = logging.getLogger("cloud_sync.center")

_ids = itertools.count()


class DurableReplies:
    def __init__(self, ctx: zmq.Context) -> None:
        self._endpoint = f"inproc://durable-{next(_ids)}"
        self.signal = ctx.socket(zmq.PAIR)  # the loop polls this: a batch became durable
        self.signal.setsockopt(zmq.LINGER, 0)
        self.signal.bind(self._endpoint)
        self._ctx = ctx
        self._work: queue.Queue[tuple[int, list[tuple[int, Path]]] | None] = queue.Queue()
        self._pending: deque[tuple[int, list[list[bytes]], list[Path]]] = deque()
        self._batch = 0
        self._durable = 0
        self._failed: dict[int, str] = {}  # batch -> why its fsync failed (written by the helper, read by the loop)
        self._failed_lock = threading.Lock()
        self.fsyncs = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="center-fsync", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, dirty: Iterable[Partial], replies: list[list[bytes]]) -> None:
        """Queue `replies` until the bytes appended to `dirty` files are on disk."""
        self._batch += 1
        fds = []
        for p in dirty:
            if p.dirty:
                fds.append((os.dup(p.fd), p.path))
                p.dirty = False  # from here on the helper owns this flush
        self._pending.append((self._batch, replies, [path for _, path in fds]))
        self._work.put((self._batch, fds))

    def ready(self) -> tuple[list[list[bytes]], list[Path]]:
        """Replies whose batch is done (call when `signal` is readable), and partial files whose fsync failed."""
        while True:
            try:
                self._durable = max(self._durable, int(self.signal.recv(zmq.NOBLOCK)))
            except zmq.Again:
                break
        out: list[list[bytes]] = []
        failed_paths: list[Path] = []
        while self._pending and self._pending[0][0] <= self._durable:
            batch, replies, paths = self._pending.popleft()
            with self._failed_lock:
                why = self._failed.pop(batch, None)
            if why is None:
                out.extend(replies)
                continue
            failed_paths.extend(paths)
            reason = f"the center could not store these bytes ({why}): try again later".encode()
            for r in replies:
                # [identity, ACK, aid, tag, offset] -> a NACK that makes the box give up this asset for now
                out.append([r[0], NACK, r[2], r[3], b"-1", reason] if len(r) == 5 and r[1] == ACK else r)
        return out, failed_paths

    def close(self, timeout: float | None = None) -> None:
        """Stop the helper (waiting at most `timeout` for fsyncs under way) and close the signal socket."""
        self._work.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the fsync helper did not finish within %s s; its replies are dropped", timeout)
        self.signal.close(0)

    def close_pending(self) -> tuple[list[list[bytes]], list[Path]]:
        """Finish outstanding fsyncs; returns the replies they release (the socket stays open for close())."""
        self._work.put(None)
        self._thread.join(10)
        return self.ready()

    def _run(self) -> None:
        done = self._ctx.socket(zmq.PAIR)
        done.setsockopt(zmq.LINGER, 0)
        done.connect(self._endpoint)
        try:
            while True:
                item = self._work.get()
                if item is None:
                    return
                first, fds = item
                batch = first
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
                why = None
                for fd, path in fds:
                    try:
                        os.fsync(fd)
                        self.fsyncs += 1
                    except OSError as e:
                        why = os.strerror(e.errno) if e.errno else str(e)
                        log.error("fsync of %s failed: %s", path, e)
                    finally:
                        os.close(fd)
                if why is not None:
                    with self._failed_lock:
                        for b in range(first, batch + 1):
                            self._failed[b] = why
                done.send(b"%d" % batch)
        except BaseException as e:  # noqa: BLE001 - the loop sees `alive` go false and stops the center
            self.error = e
            log.exception("the fsync helper failed")
        finally:
            done.close(0)
