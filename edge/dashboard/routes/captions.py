"""Captions: the durable log over HTTP, and the live bus over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket
from pydantic import BaseModel

from edge.dashboard.deps import get_box, require_user
from edge.runtime.box import Box
from edge.store import StoreError

router = APIRouter(tags=["captions"])


class Caption(BaseModel):
    id: str
    stream: str
    text: str
    start: float
    end: float
    type: Literal["partial", "final"]


class CaptionsOut(BaseModel):
    captions: list[Caption]


@router.get("/api/captions", response_model=CaptionsOut, dependencies=[Depends(require_user)])
def list_captions(
    stream: str | None = Query(None, description="one stream; all streams when omitted"),
    since: float | None = Query(None, description="stream seconds: only captions whose end is after this "
                                                  "(pass the last `end` you have to get what came next)"),
    limit: int = Query(500, ge=1, le=5000, description="the most recent this many"),
    box: Box = Depends(get_box),
) -> CaptionsOut:
    """Final captions from the store's log, in stream-time order. Partials are live-only (WebSocket)."""
    try:
        rows = box.store.captions.read(stream=stream, since=since, types=("final",))
    except StoreError as exc:
        raise HTTPException(422, str(exc)) from None
    return CaptionsOut(captions=[Caption(**{k: r[k] for k in Caption.model_fields}) for r in rows[-limit:]])


@router.websocket("/ws/captions")
async def live_captions(websocket: WebSocket, stream: str | None = None) -> None:
    """Pushes every bus event as JSON: {"kind": "caption", "type": "partial"|"final", ...} and
    {"kind": "stream", ...health}. The first message is {"kind": "hello", "streams": [...]}.
    `?stream=` keeps one stream's events; `?token=` authenticates scripts (browsers use the cookie).
    Anonymous connections are closed with code 4401 (by the auth gate)."""
    box: Box = websocket.app.state.box
    await websocket.accept()
    websocket.app.state.ws_clients += 1
    try:
        pump = asyncio.create_task(_pump(websocket, box, stream))
        listen = asyncio.create_task(_until_closed(websocket))
        # Whichever ends first (client gone, or a send failed) ends both.
        done, pending = await asyncio.wait({pump, listen}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            task.exception()  # a failed send just means the client left; retrieve it so it is not logged
    finally:
        websocket.app.state.ws_clients -= 1


async def _pump(websocket: WebSocket, box: Box, stream: str | None) -> None:
    events = cast(AsyncGenerator[dict[str, Any], None], box.bus.subscribe())  # an async generator underneath
    first = asyncio.ensure_future(anext(events))
    # One loop turn starts the generator, which registers its queue: nothing published after
    # the hello can be missed by this client.
    await asyncio.sleep(0)
    try:
        await websocket.send_json({"kind": "hello", "streams": [s.to_json() for s in box.supervisor.streams()]})
        event = await first
        while True:
            if stream is None or event.get("stream", event.get("name")) == stream:
                await websocket.send_json(event)
            event = await anext(events)
    finally:
        first.cancel()
        with contextlib.suppress(BaseException):
            await first  # the generator must be idle before it can be closed
        with contextlib.suppress(RuntimeError):
            await events.aclose()


async def _until_closed(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
