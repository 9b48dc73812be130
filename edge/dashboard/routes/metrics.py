"""Box health for people (/api/status), for load balancers (/api/health) and for Prometheus (/metrics)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from edge.dashboard.deps import get_box, require_user
from edge.dashboard.routes.streams import public
from edge.dashboard.status import box_id_of
from edge.runtime.box import Box
from edge.runtime.monitor import Monitor

router = APIRouter()

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


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


@router.get("/metrics", response_class=PlainTextResponse, tags=["status"], dependencies=[Depends(require_user)],
            responses={200: {"content": {PROMETHEUS_TEXT: {}}, "description": "Prometheus text format 0.0.4"}})
def prometheus(request: Request, box: Box = Depends(get_box)) -> PlainTextResponse:
    """Prometheus text exposition (scrape with a bearer token)."""
    h = box_status(box)
    pending = box.store.summaries(sync="pending")
    out = _Exposition()
    out.metric("edge_up", "gauge", "1 while the box serves requests", 1)
    out.metric("edge_uptime_seconds", "gauge", "seconds since the box started", h["uptime_s"])
    out.metric("edge_assets_total", "gauge", "assets in the store", box.store.count())
    out.metric("edge_assets_pending_sync", "gauge", "assets not yet synced to the cloud", len(pending))
    out.metric("edge_unsynced_bytes", "gauge", "bytes only this box holds", h["disk"]["unsynced_bytes"])
    out.metric("edge_disk_free_bytes", "gauge", "free bytes on the store's disk", h["disk"]["free"])
    out.metric("edge_disk_total_bytes", "gauge", "size of the store's disk", h["disk"]["total"])
    out.metric("edge_disk_floor_bytes", "gauge", "free space below which retention evicts", h["disk"]["floor"])
    out.metric("edge_disk_alarm", "gauge", "1 when the disk is below its floor with nothing left to evict",
               int(h["disk"]["alarm"]))
    out.metric("edge_cpu_percent", "gauge", "machine CPU over the last ~2 s, percent of all cores",
               h["cpu_percent"])
    out.metric("edge_process_cpu_percent", "gauge", "the box process's CPU over the last ~2 s, percent of one core",
               h["cpu"]["process_percent"])
    out.metric("edge_memory_percent", "gauge", "memory in use", h["memory"]["percent"])
    if h["temperature_c"] is not None:
        out.metric("edge_temperature_celsius", "gauge", "hottest sensor", h["temperature_c"])
    out.metric("edge_ws_clients", "gauge", "live-caption WebSocket clients", request.app.state.ws_clients)
    streams = h["streams"]
    out.labelled("edge_stream_up", "gauge", "1 while the stream is playing",
                 [({"stream": s["name"]}, int(s["state"] == "playing")) for s in streams])
    out.labelled("edge_stream_finals_total", "counter", "final captions since the stream started",
                 [({"stream": s["name"]}, s["finals"]) for s in streams])
    out.labelled("edge_stream_retries_total", "counter", "reconnects of the stream's source",
                 [({"stream": s["name"]}, s["retries"]) for s in streams])
    return PlainTextResponse(out.text(), media_type=PROMETHEUS_TEXT)


class _Exposition:
    """The text format is a few lines per metric; a client library would be more code than this."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str, value: float) -> None:
        self.labelled(name, kind, help_text, [({}, value)])

    def labelled(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self._lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            self._lines.append(f"{name}{{{rendered}}} {_number(value)}" if rendered else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
