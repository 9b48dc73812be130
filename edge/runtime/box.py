"""The running box: one store, one scheduler, one set of models, one event bus, many streams.

At start-up, runs a crash left open are closed (their caption tracks are then
built from the stored records by the post-processors), and blobs a crash
orphaned are collected in the background.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from edge.asr.models import SpeechModels
from edge.asr.options import BoxCaptions
from edge.asr.translation import translator_for, with_translation
from edge.config import BoxConfig
from edge.profiles import Profile, load_profile
import logging
import threading

from edge.runtime.bus import EventBus
from edge.runtime.postprocess import PostProcessorLoop
from edge.runtime.scheduler import Scheduler
from edge.runtime.segments import CaptionSegmenter
from edge.runtime.supervisor import Supervisor, caption_provenance
from edge.runtime.tracks import TrackBuilder
from edge.tagging.postprocess import TaggingPostProcessor
from edge.evidence import require_backed
from edge.ingest.sensor_series import SensorSeriesWriter
from edge.store import AssetStore
from edge.store.migrate import import_legacy
from edge.vision.service import Vision

log = logging.getLogger(__name__)

MiB = 1 << 20


@dataclass
class Box:
    data_dir: Path
    config: BoxConfig
    profile: Profile
    store: AssetStore
    bus: EventBus
    models: SpeechModels
    supervisor: Supervisor
    scheduler: Scheduler = field(default_factory=Scheduler)
    post: PostProcessorLoop = field(default_factory=lambda: PostProcessorLoop([]))
    started_at: float = field(default_factory=time.time)
    syncer: Any = None  # cloud_sync.Syncer once the box is paired with a center
    embedder: Any = None  # edge.tagging.embeddings.Embedder: tags and semantic search (None: full-text only)
    captions: Any = None  # edge.asr.options.BoxCaptions: languages, glossaries, the polisher
    translator: Any = None  # edge.asr.translation.Translator when a stream asks for an English track
    sensors: Any = None  # edge.ingest.mqtt_service.SensorService once start_sensors() ran
    drafts: Any = None  # edge.drafts.postprocess.DraftService: first drafts, by itself and on request

    def __post_init__(self) -> None:
        # One box id everywhere: the one `edge init` recorded (sync and its keys use it) wins over the
        # configuration file's, so the dashboard, /api/status and /api/health say what the center sees.
        recorded = recorded_box_id(self.data_dir)
        if recorded and recorded != self.config.box_id:
            if "box_id" in self.config.model_fields_set:
                log.warning("the configuration says box_id %r, but %s was initialised as %r: using %r",
                            self.config.box_id, self.data_dir, recorded, recorded)
            self.config = self.config.model_copy(update={"box_id": recorded})

    @property
    def box_id(self) -> str:
        return self.config.box_id

    @classmethod
    def open(cls, data_dir: Path, config: BoxConfig, profile_name: str | None = None) -> "Box":
        profile = load_profile(profile_name or config.profile)
        require_backed(profile)  # every model setting it runs was measured and passed (models/*.evidence.json)
        data_dir.mkdir(parents=True, exist_ok=True)
        store = AssetStore(
            data_dir / "store",
            disk_floor_bytes=config.store.disk_floor_mb * MiB,
            reserve_bytes=config.store.reserve_mb * MiB,
        )
        try:
            report = import_legacy(data_dir, store)
            if report is not None:
                log.warning("imported the older store of this data directory: %s", report.to_json())
            scheduler = Scheduler()
            models = SpeechModels.load(profile, scheduler=scheduler)
            for run in store.records.close_open_runs("the box stopped without closing it (crash or power cut)"):
                log.warning("closed run %s of stream %s left open by a crash; its caption track is rebuilt",
                            run.id, run.stream)
        except BaseException:
            store.close()
            raise
        bus = EventBus()
        tracks = TrackBuilder(store, provenance=caption_provenance(models))
        vision = Vision(profile.vision, scheduler=scheduler, profile=profile.name)
        captions = BoxCaptions(config, data_dir, models, store)
        try:
            translator, translated = translator_for(config, models, store)  # refused here when impossible
        except BaseException:
            store.close()
            raise
        background = [p for p in (captions.polisher, translator) if p is not None]
        tracks.pending = lambda run_id: any(p.pending(run_id) for p in background)  # tracks wait for re-decodes
        supervisor = Supervisor(models, store, bus, state_file=data_dir / "streams.json", tracks=tracks,
                                vision=vision,
                                caption_options=with_translation(captions.options_for, translator, translated),
                                record_audio=config.store.record_audio)
        post = PostProcessorLoop([tracks, CaptionSegmenter(store), SensorSeriesWriter(store)],
                                 interval_s=config.sync.caption_segment_s)
        embedder = _load_embedder(profile)
        if embedder is not None:
            post.processors.append(TaggingPostProcessor(store, embedder, scheduler))
        psutil.cpu_percent(interval=None)  # primes the counter: the first reading is always 0
        box = cls(data_dir, config, profile, store, bus, models, supervisor, scheduler=scheduler, post=post,
                  embedder=embedder, captions=captions, translator=translator)
        box.drafts = _draft_service(box)
        return box

    def start(self) -> None:
        """Start what runs in the background: post-processors and the blob collector."""
        self.post.start()
        if self.drafts is not None:
            self.drafts.start()  # its own thread: a draft takes tens of seconds, caption segments must not wait
        if self.captions is not None:
            self.captions.start()  # the polished transcript, re-decoded in the background class
        if self.translator is not None:
            self.translator.start()  # the English track of the streams that ask, also in the background class
        threading.Thread(target=self._collect_garbage, name="blob-gc", daemon=True).start()

    def _collect_garbage(self) -> None:
        try:
            removed = self.store.collect_garbage()
        except Exception:  # housekeeping; the box runs without it
            log.exception("collecting orphaned blobs failed")
            return
        if removed:
            log.info("removed %d blobs a crash left without an asset", removed)

    def start_configured_streams(self) -> None:
        """Streams from the config file, then those the crew added from the dashboard last time."""
        wanted = {s.name: (s.source, s.live) for s in self.config.streams if s.enabled}
        for name, source in self.supervisor.saved_streams().items():
            wanted.setdefault(name, (source, True))  # the dashboard plays files at camera pace
        running = {h.name for h in self.supervisor.streams()}
        blur = {s.name: s.blur_faces for s in self.config.streams}
        for name, (source, live) in wanted.items():
            if name not in running:
                self.supervisor.add_stream(name, source, live=live, blur_faces=blur.get(name))

    def start_sync(self, mqtt_url: str | None = None) -> str:
        """Sync continuously when paired; returns a line saying what happens."""
        from cloud_sync import Syncer
        from cloud_sync.config import SyncConfig

        from edge.box_settings import load_settings
        from edge.kinds import default_ttls

        from edge.errors import EdgeError

        try:
            ttl_s = load_settings(self.data_dir).ttl_s(default_ttls())  # the crew's retention settings
            self.syncer = Syncer(self.store, self.data_dir,
                                 SyncConfig(bandwidth_kbps=self.config.sync.bandwidth_kbps, ttl_s=ttl_s),
                                 mqtt_url=mqtt_url or self.config.sync.mqtt)
        except EdgeError as exc:  # not initialised or not paired: the box still captions and stores
            return f"sync: off ({exc})"
        self.syncer.start()
        return f"sync: to {self.syncer.endpoint} as box {self.syncer.box_id}"

    def sync_state(self) -> dict | None:
        return self.syncer.link_state() if self.syncer is not None else None

    def health(self) -> dict:
        disk = self.store.disk_status()
        mem = psutil.virtual_memory()
        return {
            "box_id": self.config.box_id,
            "uptime_s": round(time.time() - self.started_at, 1),
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count(),
            "memory": {"total": mem.total, "available": mem.available, "percent": mem.percent},
            "temperature_c": _temperature(),
            "disk": {"total": disk.total, "free": disk.free, "floor": disk.floor, "alarm": disk.alarm,
                     "unsynced_bytes": disk.unsynced_bytes},
            "profile": self.profile.name,
            "models": {"asr": self.profile.asr.engine.model, "asr_backend": self.profile.asr.engine.backend,
                       "compute_type": self.profile.asr.engine.compute_type, "vad": self.profile.vad.model,
                       "vad_backend": self.profile.vad.backend},
            "streams": [s.to_json() for s in self.supervisor.streams()],
            "sync": self.sync_state(),
        }

    def start_sensors(self, mqtt_url: str | None = None, *, demo: bool = False) -> list[str]:
        """Sensor readings over MQTT (the box's own broker unless `mqtt_url`); returns lines saying what runs."""
        from edge.ingest.mqtt_service import SensorService

        if not self.config.sensors.enabled:
            return ["sensors: off (sensors.enabled: false)"]
        service = SensorService(self.data_dir, self.store, self.bus, self.config.sensors, mqtt_url=mqtt_url,
                                demo=demo, box_id=self.config.box_id)
        lines = service.start()
        self.sensors = service
        return lines

    def close(self) -> None:
        self.supervisor.stop_all()
        if self.captions is not None:
            self.captions.stop()
        if self.translator is not None:
            self.translator.stop()
        if self.sensors is not None:
            self.sensors.stop()  # every accepted reading stored before the post-processors' last step
        if self.drafts is not None:
            self.drafts.stop()
        self.post.stop()
        self.post.run_once()  # the last finals leave as a segment, closed runs get their tracks
        for p in self.post.processors:
            if isinstance(p, SensorSeriesWriter):
                try:
                    p.flush()  # the hour in progress leaves too
                except Exception:  # e.g. disk full: the records stay, the next start writes them
                    log.exception("writing the last sensor series failed")
        if self.syncer is not None:
            self.syncer.close()
        self.store.close()


def _temperature() -> float | None:
    # Not every box exposes sensors (VMs do not); the dashboard shows "n/a" then.
    try:
        sensors = psutil.sensors_temperatures()
    except (AttributeError, OSError):
        return None
    readings = [t.current for entries in sensors.values() for t in entries if t.current]
    return round(max(readings), 1) if readings else None


def recorded_box_id(data_dir: Path) -> str | None:
    """The id `edge init` wrote to `<data>/box.json`, if any (unreadable counts as none: sync says why)."""
    import json

    try:
        value = json.loads((data_dir / "box.json").read_text()).get("box_id")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def _load_embedder(profile):
    """The profile's sentence embedder, or None (tagging off, or its model not provisioned: said in the log)."""
    if not profile.tagging.enabled:
        return None
    from edge.errors import EdgeError
    from edge.tagging.embeddings import Embedder

    try:
        return Embedder.from_profile(profile)
    except EdgeError as exc:
        log.warning("tags and semantic search are off: %s", exc)
        return None


def _draft_service(box: "Box") -> Any:
    """First drafts: the model loads lazily on the first draft, so a box without it still starts at once."""
    from edge.drafts.postprocess import DraftService
    from edge.drafts.store import DraftStore

    drafts = DraftStore(box.store, box_id=box.box_id, sync=box.config.drafts.sync)
    return DraftService(box.store, drafts, box.config.drafts, box.profile.llm, scheduler=box.scheduler)
