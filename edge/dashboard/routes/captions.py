"""Captions: the durable log over HTTP, and the live bus over a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Literal, cast

import json

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, WebSocket
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from edge.dashboard.deps import get_box, require_user
from edge.runtime.box import Box
from edge.events import BusEvent
from edge.ids import RUN_ID, STREAM_NAME, is_match
from edge.store import DiskFullError, StoreError
from edge.store.records import CAPTION, QUOTE_MARK, Record

router = APIRouter(tags=["captions"])


class Caption(BaseModel):
    seq: int
    run: str
    stream: str
    text: str
    start: float
    end: float
    wall_start: float
    type: Literal["final"] = "final"
    marked: bool = Field(False, description="a crew member marked it as a quote")


class CaptionsOut(BaseModel):
    run: str | None = Field(description="the run these captions belong to (one run per answer)")
    captions: list[Caption]
    next_after: int = Field(description="pass as `after` to get what came next")


@router.get("/api/captions", response_model=CaptionsOut, dependencies=[Depends(require_user)])
def list_captions(
    stream: str | None = Query(None, description="one stream (its newest run unless `run` is given)"),
    run: str | None = Query(None, description="one run of a stream; runs are never mixed in one answer"),
    after: int = Query(0, ge=0, description="only captions whose seq is greater (the last seq you have)"),
    limit: int = Query(500, ge=1, le=5000, description="the most recent this many"),
    box: Box = Depends(get_box),
) -> CaptionsOut:
    """Final captions from the store, oldest first, paged by sequence number. Partials are live-only
    (WebSocket). Without `stream` or `run`, the newest run of any stream."""
    if run is not None and not is_match(RUN_ID, run):
        raise HTTPException(422, "run must be a run id (26 lowercase hex digits)")
    if stream is not None and not is_match(STREAM_NAME, stream):
        raise HTTPException(422, "stream names use 1-64 letters, digits, '.', '_' or '-'")
    if run is None:
        runs = box.store.records.runs(stream, limit=1)
        run = runs[0].id if runs else None
    if run is None:
        return CaptionsOut(run=None, captions=[], next_after=after)
    rows = box.store.records.read(run=run, stream=stream, after=after, limit=None)[-limit:]
    marked = marked_seqs(box, run) if rows else set()
    fields = [k for k in Caption.model_fields if k not in ("type", "marked")]
    return CaptionsOut(run=run, captions=[Caption(**{k: getattr(r, k) for k in fields}, marked=r.seq in marked)
                                          for r in rows],
                       next_after=rows[-1].seq if rows else after)


def marked_seqs(box: Box, run: str) -> set[int]:
    return {int(m.data.get("caption_seq", -1)) for m in box.store.records.read(run=run, type=QUOTE_MARK, limit=None)}


class QuoteMarkOut(BaseModel):
    seq: int = Field(description="the quote mark's own record seq")
    caption_seq: int
    run: str
    stream: str
    text: str
    wall_start: float
    by: str


@router.post("/api/captions/{seq}/mark", response_model=QuoteMarkOut, dependencies=[Depends(require_user)],
             responses={404: {"description": "no caption with that seq"},
                        507: {"description": "the disk is full: the mark was not stored"}})
async def mark_quote(request: Request, seq: int = Path(ge=1, le=2**62), box: Box = Depends(get_box)) -> QuoteMarkOut:
    """Mark a final caption as a quote (stored as a `quote_mark` record with the caption's seq, for drafts).
    Marking twice returns the first mark."""
    return await run_in_threadpool(_mark, box, seq, request.state.user)


def _mark(box: Box, seq: int, user: str) -> QuoteMarkOut:
    found = box.store.records.read(after=seq - 1, type=None, limit=1)
    if not found or found[0].seq != seq or found[0].type != CAPTION:
        raise HTTPException(404, f"there is no caption number {seq} (fix: reload the page and mark a caption shown)")
    caption = found[0]
    for mark in box.store.records.read(run=caption.run, type=QUOTE_MARK, limit=None):
        if mark.data.get("caption_seq") == seq:
            return _mark_out(mark)
    data = {"caption_seq": seq, "text": caption.text, "by": user}
    # The caption's words live in data, not in the record's text, so a search finds the caption once.
    row = (QUOTE_MARK, caption.run, caption.stream, caption.start, caption.end, caption.wall_start,
           caption.wall_end, "", json.dumps(data))
    try:
        (mark,) = box.store.records.append([row])
    except DiskFullError as exc:
        raise HTTPException(507, f"the quote was not marked: {exc}") from None
    except StoreError as exc:
        raise HTTPException(500, f"the quote was not marked: {exc}") from None
    return _mark_out(mark)


def _mark_out(mark: Record) -> QuoteMarkOut:
    return QuoteMarkOut(seq=mark.seq, caption_seq=int(mark.data["caption_seq"]), run=mark.run, stream=mark.stream,
                        text=str(mark.data.get("text", "")), wall_start=mark.wall_start, by=str(mark.data.get("by", "")))


class RunOut(BaseModel):
    id: str
    stream: str
    source: str
    live: bool
    opened_at: float
    origin: float
    closed_at: float | None
    close_reason: str | None


class RunsOut(BaseModel):
    runs: list[RunOut]


@router.get("/api/runs", response_model=RunsOut, dependencies=[Depends(require_user)])
def list_runs(
    stream: str | None = Query(None, description="one stream's runs; all streams when omitted"),
    limit: int = Query(100, ge=1, le=1000, description="the newest this many"),
    box: Box = Depends(get_box),
) -> RunsOut:
    """Runs (one continuous session of a stream each), newest first."""
    if stream is not None and not is_match(STREAM_NAME, stream):
        raise HTTPException(422, "stream names use 1-64 letters, digits, '.', '_' or '-'")
    return RunsOut(runs=[RunOut(**r.to_json()) for r in box.store.records.runs(stream, limit=limit)])


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
    events = cast(AsyncGenerator[BusEvent, None], box.bus.subscribe())  # an async generator underneath
    first = asyncio.ensure_future(anext(events))
    # One loop turn starts the generator, which registers its queue: nothing published after
    # the hello can be missed by this client.
    await asyncio.sleep(0)
    try:
        await websocket.send_json({"kind": "hello", "streams": [s.to_json() for s in box.supervisor.streams()]})
        event = await first
        while True:
            if stream is None or event.stream == stream:
                await websocket.send_json(event.bus_json())
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
