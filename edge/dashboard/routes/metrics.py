"""Box health for people (/api/status) and for load balancers (/api/health); Prometheus is prometheus.py."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from edge.dashboard.deps import get_box, require_user
from edge.dashboard.routes.streams import public
from edge.dashboard.status import box_id_of
from edge.runtime.box import Box
from edge.runtime.monitor import Monitor

router = APIRouter()


class Health(BaseModel):
    status: str
    box_id: str
    uptime_s: float


@router.get("/api/health", response_model=Health, tags=["status"])
def health(box: Box = Depends(get_box)) -> Health:
    """Liveness, without login: says the box is up and nothing about what it holds."""
    return Health(status="ok", box_id=box_id_of(box), uptime_s=round(time.time() - box.started_at, 1))


@router.get("/api/status", tags=["status"], dependencies=[Depends(require_user)])
def status(box: Box = Depends(get_box)) -> dict[str, Any]:
    """Everything the health page shows: CPU, memory, temperature, disk, models, streams.

    `cpu` is measured over the last ~2 s interval, for the machine (percent of all cores) and for the
    box's process (percent of one core, like top); `cpu_percent` is the machine figure."""
    return box_status(box)


def box_status(box: Box) -> dict[str, Any]:
    h = box.health()
    cpu = Monitor.of(box).cpu.reading()
    h["box_id"] = box_id_of(box)
    h["cpu"] = cpu.to_json()
    h["cpu_percent"] = round(cpu.machine_percent, 1)  # not box.health()'s instantaneous read, which can say 0
    h["streams"] = [public(s) for s in box.supervisor.streams()]  # camera passwords out
    return h
