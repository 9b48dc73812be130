"""Sensor readings on the dashboard: `GET /api/sensors` (series and their last values) and the /sensors page.

The page polls the API once a second (no WebSocket needed for a handful of
series); demo series are labelled as demo data.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from edge.dashboard.deps import get_box, require_user
from edge.dashboard.routes.pages import render
from edge.runtime.box import Box
from edge.store.records import ALERT

router = APIRouter(dependencies=[Depends(require_user)])
RECENT_ALERTS = 20


class Last(BaseModel):
    value: float
    ts: float = Field(description="when the device measured it (Unix time)")


class Series(BaseModel):
    device: str
    quantity: str
    unit: str = Field(description="the stored unit (readings are converted on arrival)")
    count: int = Field(description="readings stored")
    last: Last | None = Field(description="the newest reading (late arrivals do not move it)")
    demo: bool = False


class SensorAlertOut(BaseModel):
    state: str = Field(description="raised | cleared")
    text: str = Field(description="the fact as a draft may cite it")
    device: str
    ts: float
    record: int


class SensorsOut(BaseModel):
    series: list[Series]
    active: list[dict[str, Any]] = Field(description="threshold rules raised now")
    alerts: list[SensorAlertOut] = Field(description="the latest raised/cleared alerts, newest first")
    ingest: dict[str, Any] | None = Field(description="broker link and counters; null when sensor ingest is off")


def sensors_state(box: Box) -> dict[str, Any]:
    service = getattr(box, "sensors", None)
    if service is not None:
        series, active, ingest = service.ingest.summary(), service.ingest.active_alerts(), service.state()
    else:  # ingest off (or a box that never started it): what earlier sessions stored
        from edge.ingest.sensors import stored_series

        series, active, ingest = stored_series(box.store), [], None
    rows = box.store.db.read("SELECT seq, stream, wall_start, text, data FROM records WHERE type = ?"
                             " ORDER BY seq DESC LIMIT ?", (ALERT, RECENT_ALERTS))
    alerts = [{"state": json.loads(data).get("state", "raised"), "text": text, "device": device, "ts": ts,
               "record": seq} for seq, device, ts, text, data in rows]
    return {"series": series, "active": active, "alerts": alerts, "ingest": ingest}


@router.get("/api/sensors", response_model=SensorsOut, tags=["sensors"])
def api_sensors(box: Box = Depends(get_box)) -> dict[str, Any]:
    """Every sensor series (device, quantity) with its reading count and last value, and the sensor alerts."""
    return sensors_state(box)


@router.get("/sensors", include_in_schema=False)
def sensors_page(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    state = sensors_state(box)
    return render(request, "sensors.html", "sensors", series=state["series"], raised=state["active"],
                  alerts=state["alerts"], ingest=state["ingest"])
