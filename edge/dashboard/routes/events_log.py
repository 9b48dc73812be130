"""The event log over HTTP: streams up and down, uploads, syncs and alerts, newest first."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from edge.dashboard.deps import get_box, require_user
from edge.runtime.box import Box
from edge.runtime.event_log import EventLog

router = APIRouter(tags=["status"], dependencies=[Depends(require_user)])


class EventOut(BaseModel):
    id: int
    at: float = Field(description="Unix time")
    kind: str = Field(description="stream | upload | sync | alert | box")
    level: str = Field(description="info | warning | alert")
    stream: str | None
    message: str
    data: dict


class EventsOut(BaseModel):
    events: list[EventOut]
    next_before: int | None = Field(description="pass as `before` for older events; null at the oldest")


@router.get("/api/events", response_model=EventsOut)
def list_events(
    kind: Literal["stream", "upload", "sync", "alert", "box"] | None = Query(None, description="one kind only"),
    before: int | None = Query(None, ge=1, description="only events older than this id"),
    limit: int = Query(100, ge=1, le=1000),
    box: Box = Depends(get_box),
) -> EventsOut:
    events = EventLog(box.store).recent(kind=kind, before=before, limit=limit)
    return EventsOut(events=[EventOut(**e.to_json()) for e in events],
                     next_before=events[-1].id if len(events) == limit else None)
