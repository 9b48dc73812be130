"""Streams the box is captioning: list, add, remove.

Streams added here run until removed or until the box restarts; the ones
that survive restarts are those in the box's configuration file.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, field_validator

from edge.config import StreamName
from edge.dashboard.deps import get_box, require_user
from edge.errors import ConfigError
from edge.runtime.box import Box
from edge.runtime.streams import is_live_source

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


class StreamsOut(BaseModel):
    streams: list[StreamOut]


class StreamIn(BaseModel):
    name: StreamName = Field(description="1-64 letters, digits, '.', '_' or '-'", examples=["cam1"])
    source: str = Field(description="a media file on the box, rtsp://… URL, alsa:/pulse: device or /dev/videoN",
                        examples=["rtsp://10.0.0.20/stream1"])

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("give a file path, rtsp:// URL or capture device")
        if len(v) > 2048 or any(ord(c) < 32 for c in v):
            raise ValueError("the source is not a usable URL or path")
        if not is_live_source(v) and "://" not in v and not os.path.isfile(v):
            raise ValueError(f"no such file on the box: {v}")
        return v


@router.get("", response_model=StreamsOut)
def list_streams(box: Box = Depends(get_box)) -> StreamsOut:
    return StreamsOut(streams=[StreamOut(**s.to_json()) for s in box.supervisor.streams()])


@router.post("", response_model=StreamOut, status_code=201,
             responses={409: {"description": "a stream with that name is running"},
                        422: {"description": "invalid name or source"}})
def add_stream(body: StreamIn, box: Box = Depends(get_box)) -> StreamOut:
    try:
        health = box.supervisor.add_stream(body.name, body.source)
    except ConfigError as exc:
        running = any(s.name == body.name for s in box.supervisor.streams())
        raise HTTPException(409 if running else 422, str(exc)) from None
    return StreamOut(**health.to_json())


@router.delete("/{name}", response_model=StreamOut, responses={404: {"description": "no such stream"}})
def remove_stream(name: str, box: Box = Depends(get_box)) -> StreamOut:
    """Stop the stream (its captions so far are kept as a caption track and transcript)."""
    try:
        health = box.supervisor.remove_stream(name)
    except KeyError:
        raise HTTPException(404, f"no stream named {name!r}") from None
    return StreamOut(**health.to_json())
