"""Alerts the box raised (stream down, disk low, sync link lost) and the status banner built from them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from edge.dashboard.deps import get_box, require_user
from edge.dashboard.status import banner
from edge.runtime.box import Box

router = APIRouter(tags=["status"], dependencies=[Depends(require_user)])


class AlertOut(BaseModel):
    key: str = Field(description="one alert per key, e.g. stream_down:cam1, disk_low, sync_lost")
    kind: str = Field(description="stream_down | disk_low | sync_lost")
    message: str
    since: float = Field(description="when the condition began (Unix time)")
    stream: str | None


class BannerPart(BaseModel):
    key: str = Field(description="box | streams | sync | disk")
    ok: bool
    text: str


class AlertsOut(BaseModel):
    ok: bool = Field(description="true when nothing needs a person")
    parts: list[BannerPart]
    alerts: list[AlertOut]


@router.get("/api/alerts", response_model=AlertsOut)
def alerts(box: Box = Depends(get_box)) -> dict[str, Any]:
    """Active alerts (evaluated on the box every ~2 s, with hysteresis) and the live page's status banner."""
    return banner(box)
