"""`/metrics` for Prometheus (prometheus_client, text format 0.0.4).

Access: like every route but /api/health, it needs a login: a session, or
the bearer token `POST /api/login` returns (Prometheus: `authorization:
credentials_file`). The numbers say what the box holds and how busy it is,
which is nobody's business off the crew's LAN.

Most figures are read from the box at scrape time (a collector, nothing
kept twice). What only the live bus knows is watched by one thread per box:
each final's caption latency (the time from the end of its speech to its
leaving the box, `emitted_at - end`, on the stream's clock) into a
histogram, each stream's audio lag (the same for the newest caption,
partials included), and its real-time ratio (stream seconds of audio the
caption processor got through per wall-clock second, from its level meter).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from edge.dashboard.deps import get_box, require_user
from edge.events import CaptionEvent, StreamLevel
from edge.runtime.box import Box

log = logging.getLogger(__name__)
router = APIRouter(tags=["status"], dependencies=[Depends(require_user)])

RATIO_WINDOW_S = 10.0
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 30.0)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}, "description": "Prometheus text format 0.0.4"}})
def metrics(request: Request, box: Box = Depends(get_box)) -> Response:
    """Prometheus text exposition (scrape with a bearer token from POST /api/login)."""
    watcher = watch(box)
    watcher.ws_clients = getattr(request.app.state, "ws_clients", 0)
    return Response(generate_latest(watcher.registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def watch(box: Any) -> "BoxMetrics":
    """The box's one metrics registry and bus watcher (started on first use; several apps share it)."""
    with _LOCK:
        m = box.__dict__.get("_prometheus")
        if m is None:
            m = box.__dict__["_prometheus"] = BoxMetrics(box)
            m.start()
        return m


_LOCK = threading.Lock()


class BoxMetrics:
    def __init__(self, box: Any) -> None:
        self.box = box
        self.ws_clients = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram("edge_caption_latency_seconds", "end of speech to the final caption leaving the box "
                                 "(stream clock)", ["stream"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.audio_lag: dict[str, float] = {}
        self.realtime_ratio: dict[str, float] = {}
        self._levels: dict[str, deque] = {}
        self.registry.register(_BoxCollector(self))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        bus = getattr(self.box, "bus", None)
        if bus is None:
            return
        self._thread = threading.Thread(target=self._watch, args=(bus,), name="metrics-bus", daemon=True)
        self._thread.start()

    def observe(self, ev: Any, now: float | None = None) -> None:
        if isinstance(ev, StreamLevel):
            # Audio the caption processor got through per wall-clock second, over about the last 10 s.
            now = time.monotonic() if now is None else now
            window = self._levels.setdefault(ev.stream, deque())
            window.append((now, ev.at))
            while len(window) > 2 and now - window[0][0] > RATIO_WINDOW_S:
                window.popleft()
            (t0, a0), (t1, a1) = window[0], window[-1]
            if t1 - t0 >= 1.0:
                self.realtime_ratio[ev.stream] = max(0.0, (a1 - a0) / (t1 - t0))
        elif isinstance(ev, CaptionEvent):
            lag = max(0.0, ev.emitted_at - ev.end)
            self.audio_lag[ev.stream] = lag
            if ev.type == "final":
                self.latency.labels(ev.stream).observe(lag)

    def _watch(self, bus: Any) -> None:
        async def follow() -> None:
            async for ev in bus.subscribe():
                try:
                    self.observe(ev)
                except Exception:  # a metric must never cost the box anything
                    log.exception("metrics: could not observe %r", ev)

        try:
            asyncio.run(follow())
        except Exception:
            log.exception("metrics: the bus watcher stopped")


def _gauge(name: str, doc: str, value: float | None = None, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value, labels=labels)


class _BoxCollector:
    """Reads the box at scrape time."""

    def __init__(self, metrics: BoxMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        box = self.m.box
        try:
            yield from self._health(box)
            yield from self._streams(box)
            yield from self._scheduler(box)
            yield from self._store(box)
            yield from self._sensors(box)
        except Exception:  # a half-closed box: the scrape says what it could
            log.exception("metrics: collecting failed")

    def _health(self, box: Any) -> Iterator[Metric]:
        from edge.dashboard.routes.metrics import box_status  # CPU over the monitor's interval, as /api/status

        h = box_status(box)
        yield _gauge("edge_up", "1 while the box serves requests", 1)
        yield _gauge("edge_uptime_seconds", "seconds since the box started", h["uptime_s"])
        yield _gauge("edge_cpu_percent", "machine CPU over the last ~2 s, percent of all cores", h["cpu_percent"])
        yield _gauge("edge_process_cpu_percent", "the box process's CPU over the last ~2 s, percent of one core",
                     h["cpu"]["process_percent"])
        yield _gauge("edge_memory_percent", "memory in use", h["memory"]["percent"])
        if h.get("temperature_c") is not None:
            yield _gauge("edge_temperature_celsius", "hottest sensor", h["temperature_c"])
        disk = h["disk"]
        yield _gauge("edge_disk_free_bytes", "free bytes on the store's disk", disk["free"])
        yield _gauge("edge_disk_total_bytes", "size of the store's disk", disk["total"])
        yield _gauge("edge_disk_floor_bytes", "free space below which retention evicts", disk["floor"])
        yield _gauge("edge_disk_alarm", "1 when the disk is below its floor with nothing left to evict",
                     int(disk["alarm"]))
        yield _gauge("edge_unsynced_bytes", "bytes only this box holds", disk["unsynced_bytes"])
        yield _gauge("edge_ws_clients", "live-caption WebSocket clients", self.m.ws_clients)

    def _streams(self, box: Any) -> Iterator[Metric]:
        streams = [s.to_json() for s in box.supervisor.streams()]
        up = _gauge("edge_stream_up", "1 while the stream is playing", labels=["stream"])
        finals = CounterMetricFamily("edge_stream_finals", "final captions since the stream started", labels=["stream"])
        retries = CounterMetricFamily("edge_stream_retries", "reconnects of the stream's source", labels=["stream"])
        for s in streams:
            up.add_metric([s["name"]], int(s["state"] == "playing"))
            finals.add_metric([s["name"]], s["finals"])
            retries.add_metric([s["name"]], s["retries"])
        lag = _gauge("edge_stream_audio_lag_seconds", "end of speech to its newest caption (partial or final)",
                     labels=["stream"])
        for stream, seconds in sorted(self.m.audio_lag.items()):
            lag.add_metric([stream], seconds)
        ratio = _gauge("edge_stream_realtime_ratio", "stream seconds of audio processed per wall-clock second over "
                       "the last 10 s (1 keeps up with a live source; below 1 falls behind)", labels=["stream"])
        for stream, value in sorted(self.m.realtime_ratio.items()):
            ratio.add_metric([stream], value)
        yield from (up, finals, retries, lag, ratio)
        media = getattr(box.supervisor, "media_stats", None)
        if media is None:
            return
        dropped = CounterMetricFamily("edge_stream_frames_dropped", "video frames a slow consumer never saw",
                                      labels=["stream", "consumer"])
        blocked = CounterMetricFamily("edge_stream_audio_blocked_seconds", "time the source waited for a slow audio "
                                      "consumer (audio is never dropped)", labels=["stream", "consumer"])
        for stream, consumers in sorted(media().items()):
            for c in consumers:
                if c.kind == "video":
                    dropped.add_metric([stream, c.name], c.dropped)
                elif c.kind == "audio":
                    blocked.add_metric([stream, c.name], c.blocked_s)
        yield from (dropped, blocked)

    def _scheduler(self, box: Any) -> Iterator[Metric]:
        scheduler = getattr(box, "scheduler", None)
        if scheduler is None:
            return
        stats = scheduler.stats()
        models = _models_by_class(box)
        depth = _gauge("edge_scheduler_queue_depth", "inference jobs waiting for a core, by priority class",
                       labels=["class"])
        busy = CounterMetricFamily("edge_inference_seconds", "time holding an inference core, by class and model",
                                   labels=["class", "model"])
        grants = CounterMetricFamily("edge_inference_steps", "inference steps granted a core, by class and model",
                                     labels=["class", "model"])
        wait = CounterMetricFamily("edge_scheduler_wait_seconds", "time spent queued for a core", labels=["class"])
        for priority, c in stats.classes.items():
            name = priority.name.lower()
            depth.add_metric([name], c.waiting)
            busy.add_metric([name, models.get(name, "")], c.busy_s)
            grants.add_metric([name, models.get(name, "")], c.granted)
            wait.add_metric([name], c.wait_s)
        yield _gauge("edge_scheduler_slots", "inference cores the scheduler hands out", stats.slots)
        yield from (depth, busy, grants, wait)

    def _store(self, box: Any) -> Iterator[Metric]:
        yield _gauge("edge_assets_total", "assets in the store", box.store.count())
        depth = _gauge("edge_outbox_assets", "assets waiting to sync, by kind", labels=["kind"])
        size = _gauge("edge_outbox_bytes", "bytes waiting to sync, by kind", labels=["kind"])
        pending = 0
        for kind, per_state in sorted(box.store.totals().items()):
            count, nbytes = per_state.get("pending", (0, 0))
            pending += count
            depth.add_metric([kind], count)
            size.add_metric([kind], nbytes)
        yield _gauge("edge_assets_pending_sync", "assets not yet synced to the newsroom", pending)
        yield from (depth, size)

    def _sensors(self, box: Any) -> Iterator[Metric]:
        service = getattr(box, "sensors", None)
        if service is None:
            return
        s = service.ingest.stats()
        msgs = CounterMetricFamily("edge_sensor_messages", "sensor messages, by result (accepted or why refused)",
                                   labels=["result"])
        msgs.add_metric(["accepted"], s["accepted"])
        for reason, n in sorted(s["rejected"].items()):
            msgs.add_metric([reason], n)
        dropped = CounterMetricFamily("edge_sensor_rate_limited", "readings dropped by the per-device rate limit",
                                      labels=["device"])
        for device, n in sorted(s["dropped_by_device"].items()):
            dropped.add_metric([device], n)
        yield msgs
        yield dropped
        yield CounterMetricFamily("edge_sensor_readings_stored", "sensor readings stored", value=s["stored"])
        yield _gauge("edge_sensor_queue_depth", "readings accepted, not yet stored", s["queued"])
        yield _gauge("edge_sensor_broker_connected", "1 while the sensor subscriber is connected",
                     int(service.subscriber.connected))


def _models_by_class(box: Any) -> dict[str, str]:
    """Which model a priority class runs (captions run the profile's Whisper)."""
    profile = getattr(box, "profile", None)

    def model(*path: str) -> str:
        value: Any = profile
        for name in path:
            value = getattr(value, name, None)
        return value if isinstance(value, str) else ""

    asr = model("asr", "engine", "model")
    ocr = model("vision", "ocr", "engine")
    return {"caption_final": asr, "caption_partial": asr, "vision": f"ocr-{ocr}" if ocr else "",
            "tagging": model("tagging", "embeddings", "model"), "generation": model("llm", "model")}
