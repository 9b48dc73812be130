"""Streams the box is captioning: list, add, remove.

Streams added here are remembered in `<data>/streams.json` and come back when
the box restarts, until removed. Sources arrive from the network, so they pass
the site's source policy (edge.ingest.sources.admit): only what the runtime
opens, files only in the media folder, http(s) only when configured, and one
answer for every refusal so the API tells nobody what exists on the box.
Camera passwords in rtsp:// URLs are kept (the box needs them) but never shown.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, field_validator

from edge.config import StreamName
from edge.dashboard.deps import get_box, require_user
from edge.errors import ConfigError
from edge.ingest.sources import REFUSED, REFUSED_FIX, SourcePolicy, SourceRefused, admit, redact
from edge.runtime.box import Box
from edge.runtime.stream_list import StreamListError
from edge.store import DiskFullError

router = APIRouter(prefix="/api/streams", tags=["streams"], dependencies=[Depends(require_user)])


class StreamOut(BaseModel):
    name: str
    source: str
    state: str = Field(description="starting | playing | retrying | ended | failed | stopped")
    message: str
    started_at: float
    last_caption_at: float | None
    finals: int
    retries: int
    snapshot: bool = Field(False, description="a camera picture is ready at /api/streams/{name}/snapshot.jpg")


class StreamsOut(BaseModel):
    streams: list[StreamOut]


class StreamIn(BaseModel):
    name: StreamName = Field(description="1-64 letters, digits, '.', '_' or '-'", examples=["cam1"])
    source: str = Field(max_length=2048,
                        description="rtsp:// camera URL, alsa:/pulse: device, /dev/videoN, or a file in the "
                                    "box's media folder", examples=["rtsp://10.0.0.20/stream1"])

    live: bool = Field(True, description="play a file source at real-time pace, as a camera would, so its "
                                         "captions appear live (cameras and microphones are live anyway)")

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("give an rtsp:// URL, a capture device or a file in the media folder")
        return v


def public(health: object) -> dict:
    """A stream's health as shown to clients: passwords out of the source and the message."""
    data = health.to_json()  # type: ignore[attr-defined]
    data["source"] = redact(data["source"])
    data["message"] = redact(data.get("message") or "")
    return data


@router.get("", response_model=StreamsOut)
def list_streams(box: Box = Depends(get_box)) -> StreamsOut:
    pictured = _pictured(box)
    return StreamsOut(streams=[StreamOut(**public(s), snapshot=s.name in pictured) for s in box.supervisor.streams()])


def _pictured(box: Box) -> set[str]:
    """Streams with a camera picture now, so pages ask only for pictures that exist (no 404 per stream)."""
    vision = getattr(box.supervisor, "vision", None)
    board = getattr(vision, "snapshots", None)
    return set(board.streams()) if board is not None and hasattr(board, "streams") else set()


@router.post("", response_model=StreamOut, status_code=201,
             responses={409: {"description": "a stream with that name is running"},
                        422: {"description": "invalid name, or a source this box will not use"},
                        507: {"description": "the disk is full: the stream was not added"}})
def add_stream(body: StreamIn, request: Request, box: Box = Depends(get_box)) -> StreamOut:
    policy: SourcePolicy = request.app.state.source_policy
    try:
        admit(body.source, policy)
    except SourceRefused:
        raise HTTPException(422, f"{REFUSED} (fix: {REFUSED_FIX})") from None
    try:
        health = box.supervisor.add_stream(body.name, body.source, live=body.live)
    except ConfigError as exc:
        running = any(s.name == body.name for s in box.supervisor.streams())
        raise HTTPException(409 if running else 422, redact(str(exc))) from None
    except DiskFullError as exc:
        raise HTTPException(507, f"the stream was not added: {exc}") from None
    except StreamListError as exc:
        raise HTTPException(500, f"the stream was not added: {exc}") from None
    return StreamOut(**public(health))


@router.delete("/{name}", response_model=StreamOut,
               responses={404: {"description": "no such stream"},
                          507: {"description": "the disk is full: the stream was not removed"}})
def remove_stream(name: str, box: Box = Depends(get_box)) -> StreamOut:
    """Stop the stream (its captions so far are kept as a caption track and transcript)."""
    try:
        health = box.supervisor.remove_stream(name)
    except KeyError:
        raise HTTPException(404, f"no stream named {name!r}") from None
    except DiskFullError as exc:
        raise HTTPException(507, f"the stream was not removed and keeps running: {exc}") from None
    except StreamListError as exc:
        raise HTTPException(500, f"the stream was not removed and keeps running: {exc}") from None
    return StreamOut(**public(health))
