"""Caps on what a logged-in client may make the box read or hold.

`BodyLimit` caps every request body before a route sees it: a declared
Content-Length over the cap is refused before anything is read, and a body
without one (chunked) is counted as it streams in and cut off at the cap, so
no route can be made to buffer more than that in memory. Uploads have their
own, larger cap (dashboard.max_upload_mb) and stream to disk.

`DiskReservations` is the space promised to uploads still being received:
each upload holds its share for as long as it is written, so two uploads
that each fit cannot together eat the reserve kept for captions.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edge.store import AssetStore, DiskFullError

KiB = 1 << 10
MiB = 1 << 20
MAX_BODY = 1 * MiB  # the largest JSON a route takes is a few KB (20 tags of 64 characters)


def _too_large_message(limit: int) -> str:
    size = f"{limit // MiB} MiB" if limit >= MiB else f"{limit // KiB} KiB"
    return f"request body too large: this endpoint accepts at most {size}"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes its cap; FastAPI answers it as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit))


class BodyLimit:
    """Refuse or cut off request bodies over `limit_for(method, path)` bytes with 413."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            status, detail = (413, _too_large_message(limit)) if declared.isdigit() else (400, "bad Content-Length")
            # Connection: close, or the server would have to read (and discard) the body we refused.
            await JSONResponse({"detail": detail}, status_code=status,
                               headers={"Connection": "close"})(scope, receive, send)
            return

        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # raised where no exception handler was around it
            if started:
                raise
            await JSONResponse({"detail": exc.detail}, status_code=413,
                               headers={"Connection": "close"})(scope, receive, send)


class DiskReservations:
    """Bytes promised to uploads in progress, counted against the store's free space and reserve.

    A hold counts in full until it is released even while its bytes are being
    written (and so already missing from the free space): over-cautious for
    that moment, never over-committed.
    """

    def __init__(self) -> None:
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    @contextlib.contextmanager
    def hold(self, store: AssetStore, nbytes: int) -> Iterator[None]:
        """Promise `nbytes` for the duration of the block, or DiskFullError if that would touch the reserve."""
        with self._lock:
            free = store.free_bytes()
            if free - self._held - nbytes < store.reserve_bytes:
                raise DiskFullError(
                    f"refusing an upload needing up to {nbytes} bytes: {free} bytes free, {self._held} promised "
                    f"to uploads in progress and {store.reserve_bytes} kept in reserve for captions",
                    "free space, or sync and let retention evict synced media; or retry when other uploads finish")
            self._held += nbytes
        try:
            yield
        finally:
            with self._lock:
                self._held -= nbytes
