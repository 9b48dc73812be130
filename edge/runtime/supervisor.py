"""Streams' lifecycle in a running box: add, remove, watch health.

Each stream runs its pipeline (pipeline.py) in its own thread, inside a run
(a row in the store, opened when the source starts and closed when it ends
or is stopped). Finals are stored as records of the run before anyone is
told; every event goes to the live bus. When a run closes, its caption track
and transcript are built from the stored records (tracks.py), not from RAM,
so a run a crash left open gets them at the next start-up too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edge.asr.captions import PunctuationJoin
from edge.asr.models import SpeechModels
from edge.asr.options import CaptionOptions
from edge.asr.processor import CaptionProcessor
from edge.runtime.audio_record import AudioRecorder
from edge.asr.streaming import StreamClock
from edge.config import STREAM_NAME
from edge.errors import ConfigError, EdgeError
from edge.events import CaptionEvent, KeyframeEvent, OcrTextEvent, SourceStatus, StreamLevel, StreamState
from edge.ingest.gstreamer import RetryPolicy
from edge.runtime import stream_list
from edge.runtime.bus import EventBus
from edge.ingest.sources import redact
from edge.runtime.pipeline import Pipeline, StreamSpec
from edge.runtime.tracks import TrackBuilder
from edge.store import AssetStore, DiskFullError, Run
from edge.vision.recorder import VisionRecorder
from edge.vision.service import Vision

log = logging.getLogger(__name__)


@dataclass
class StreamHealth:
    name: str
    source: str
    state: str = "starting"  # starting | playing | retrying | ended | failed | stopped
    message: str = ""
    started_at: float = field(default_factory=time.time)
    last_caption_at: float | None = None
    finals: int = 0
    retries: int = 0
    run: str | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "source": redact(self.source)}


class _Stream:
    def __init__(self, name: str, source: str, remember: bool = True, live: bool = False,
                 blur_faces: bool | None = None) -> None:
        self.health = StreamHealth(name, source)
        self.blur_faces = blur_faces  # None: the profile's vision.blur_faces
        self.remember = remember  # re-added after a restart (false for the demo camera)
        self.live = live  # a file played at real-time pace, as a camera would
        self.stop = threading.Event()
        self.run: Run | None = None
        self.thread: threading.Thread | None = None
        self.pipeline: Pipeline | None = None  # its fan-out's counters feed /metrics


class Supervisor:
    def __init__(
        self,
        models: SpeechModels,
        store: AssetStore,
        bus: EventBus,
        *,
        retry: RetryPolicy | None = None,
        state_file: Path | None = None,
        tracks: TrackBuilder | None = None,
        vision: Vision | None = None,
        caption_options: Callable[[str, Run], CaptionOptions] | None = None,
        record_audio: bool = False,
    ) -> None:
        self._models = models
        self._record_audio = record_audio  # each run's audio kept as media (edge/runtime/audio_record.py)
        # Each run's language, glossary and polishing hand-off (edge/asr/options.py BoxCaptions).
        self._caption_options = caption_options
        self.vision = vision  # keyframes, on-screen text and snapshots; None: captions only
        self._tracks = tracks or TrackBuilder(store, provenance=caption_provenance(models))
        # Streams the crew added at run time, re-added after a restart.
        self._state_file = state_file
        self._store = store
        self._bus = bus
        self._retry = retry or RetryPolicy()
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()

    def add_stream(self, name: str, source: str, *, remember: bool = True, live: bool = False,
                   blur_faces: bool | None = None) -> StreamHealth:
        """Start a stream; a remembered one is saved to the stream list first, so a failed save
        (DiskFullError on a full disk) leaves nothing running and the list as it was."""
        if not STREAM_NAME.match(name):
            raise ConfigError(f"stream name '{name}' is not allowed", "use 1-64 letters, digits, '.', '_' or '-'")
        if not source.strip():
            raise ConfigError(f"stream '{name}' has no source", "give a file path, rtsp:// URL or capture device")
        with self._lock:
            running = self._streams.get(name)
            if running and running.thread and running.thread.is_alive():
                raise ConfigError(f"stream '{name}' is already running", "remove it first or pick another name")
            if remember or (running is not None and running.remember):
                wanted = self._remembered(without=name)
                if remember:
                    wanted[name] = source
                self._save_state(wanted)
            stream = _Stream(name, source, remember, live, blur_faces)
            stream.thread = threading.Thread(target=self._run, args=(stream,), name=f"stream-{name}", daemon=True)
            self._streams[name] = stream
        stream.thread.start()
        self._publish_health(stream)
        return stream.health

    def remove_stream(self, name: str, timeout: float = 10.0, *, forget: bool = True) -> StreamHealth:
        """Stop a stream; with `forget`, it is dropped from the stream list first, so a failed save
        (DiskFullError) leaves it running, listed and remembered."""
        with self._lock:
            stream = self._streams.get(name)
            if stream is None:
                raise KeyError(name)
            if forget and stream.remember:
                self._save_state(self._remembered(without=name))
            del self._streams[name]
        stream.stop.set()
        if stream.thread:
            stream.thread.join(timeout)
        if stream.health.state not in {"ended", "failed"}:
            stream.health.state = "stopped"
        self._publish_health(stream)
        return stream.health

    def streams(self) -> list[StreamHealth]:
        with self._lock:
            return [s.health for s in self._streams.values()]

    def media_stats(self) -> dict[str, list]:
        """Per running stream, its fan-out consumers' counters (video frames dropped, audio back-pressure)."""
        with self._lock:
            streams = list(self._streams.values())
        return {s.health.name: s.pipeline.fanout.stats() for s in streams
                if s.pipeline is not None and s.pipeline.fanout is not None}

    def stop_all(self) -> None:
        """Shut down: stop every stream but remember them for the next start."""
        for health in self.streams():
            try:
                self.remove_stream(health.name, forget=False)
            except KeyError:
                pass

    def saved_streams(self) -> dict[str, str]:
        return stream_list.load(self._state_file)

    def _remembered(self, without: str) -> dict[str, str]:
        """The list on disk plus what runs now: restoring the list one stream at a time (or adding the
        demo beside it) must never cut it short. Called with the lock held."""
        wanted = stream_list.load(self._state_file)
        wanted.update({n: s.health.source for n, s in self._streams.items() if s.remember})
        wanted.pop(without, None)
        return wanted

    def _save_state(self, streams: dict[str, str] | None = None) -> None:
        if streams is None:
            with self._lock:
                streams = {n: s.health.source for n, s in self._streams.items() if s.remember}
        if self._state_file is not None and self._state_file.is_file() and streams == stream_list.load(self._state_file):
            return  # unchanged (a restored stream): the file is not rewritten
        stream_list.save(self._state_file, streams)

    # -- one stream's thread ---------------------------------------------------------

    def _run(self, stream: _Stream) -> None:
        health = stream.health

        def on_status(status: SourceStatus) -> None:
            if status.state == "ended":
                return  # the processors may still be working; "ended" is said once the run is closed
            health.state = status.state if status.state != "connecting" else "starting"
            health.message = status.message
            if status.state == "retrying":
                health.retries += 1
            self._publish_health(stream)

        punctuation = PunctuationJoin()  # a lone "," is never stored or shown on its own

        recorder: VisionRecorder | None = None

        def on_event(caption: CaptionEvent | KeyframeEvent | OcrTextEvent) -> None:
            if isinstance(caption, KeyframeEvent | OcrTextEvent):
                self._bus.publish(recorder.handle(caption) if recorder is not None else caption)
                return
            for ev in punctuation.feed(caption):
                if ev.type == "final":
                    ev = self._store_final(stream, ev)
                    health.finals += 1
                    health.last_caption_at = time.time()
                self._bus.publish(ev)

        reason, final_state = "ended", None
        try:
            vision = self.vision if self.vision is not None and self.vision.wants(health.source) else None
            spec = StreamSpec(health.name, health.source, live=stream.live,
                              video_fps=vision.settings.fps if vision else None,
                              video_size=vision.frame_size if vision else (640, 360))
            stream.run = self._store.records.open_run(health.name, redact(health.source), live=spec.timed)
            health.run = stream.run.id
            self._publish_health(stream)
            clock = StreamClock()
            extra = {"options": self._caption_options(health.name, stream.run)} if self._caption_options else {}
            captions = self._models.caption_stream(health.name, live=spec.timed,
                                                   clock=clock.now if spec.timed else None, **extra)

            def on_level(level: StreamLevel) -> None:
                self._bus.publish(replace(level, run=health.run))

            processors: list = [CaptionProcessor(captions, on_level=on_level)]
            if self._record_audio:
                processors.append(AudioRecorder(self._store, stream.run))
            if vision is not None:
                processors.append(vision.processor(health.name, blur_faces=stream.blur_faces))
                recorder = VisionRecorder(self._store, stream.run, provenance=vision.provenance())
            stream.pipeline = Pipeline(spec, processors, clock=clock, retry=self._retry, stop=stream.stop)
            stream.pipeline.run(on_event, on_status)
            if stream.stop.is_set():
                reason = "stopped"
            else:
                final_state = "ended"
        except EdgeError as exc:
            health.state, health.message = "failed", str(exc)
            reason = f"failed: {exc}"
        except Exception as exc:  # a bug in one stream must not take the box down
            log.exception("stream %s crashed", health.name)
            health.state, health.message = "failed", f"internal error: {exc!r}"
            reason = f"internal error: {exc!r}"
        finally:
            if stream.run is not None:
                try:
                    run = self._store.records.close_run(stream.run.id, reason)
                    self._tracks.build(run)
                except EdgeError as exc:  # e.g. disk full: the finals are still in the store
                    log.error("could not close run %s of %s: %s", stream.run.id, health.name, exc)
            if final_state is not None:
                health.state = final_state
            self._publish_health(stream)

    def _store_final(self, stream: _Stream, ev: CaptionEvent) -> CaptionEvent:
        """Durable before anyone is told; a full disk stops storing, not captioning."""
        assert stream.run is not None
        try:
            (record,) = self._store.records.append_captions(stream.run, [ev])
            if stream.health.message.startswith("disk full"):
                stream.health.message = ""
            return replace(ev, run=record.run, seq=record.seq, wall_start=record.wall_start)
        except DiskFullError as exc:
            if not stream.health.message.startswith("disk full"):
                stream.health.message = f"disk full, captions shown live but not stored: {exc}"
                log.error("stream %s: %s", stream.health.name, stream.health.message)
                self._publish_health(stream)
            return replace(ev, run=stream.run.id)

    def _publish_health(self, stream: _Stream) -> None:
        h = stream.health
        self._bus.publish(StreamState(h.name, redact(h.source), h.state, h.message, h.started_at,
                                      h.last_caption_at, h.finals, h.retries, h.run))


def caption_provenance(models: SpeechModels) -> dict:
    profile = models.profile
    return {"model": profile.asr.engine.model, "backend": profile.asr.engine.backend,
            "compute_type": profile.asr.engine.compute_type, "vad": profile.vad.model, "profile": profile.name}
