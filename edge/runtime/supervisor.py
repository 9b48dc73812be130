"""Streams' lifecycle in a running box: add, remove, watch health.

Each stream runs in its own thread; finals go to the store (durable) and every
event goes to the live bus. When a stream ends or is removed, its captions are
kept as a WebVTT caption track and a plain transcript asset.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge.asr.captions import join_text, to_webvtt
from edge.asr.models import SpeechModels
from edge.config import STREAM_NAME
from edge.durable import atomic_replace
from edge.errors import ConfigError, EdgeError
from edge.events import CaptionEvent, SourceStatus
from edge.ingest.gstreamer import RetryPolicy
from edge.runtime.bus import EventBus
from edge.runtime.streams import caption_media
from edge.store import AssetStore, DiskFullError

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

    def to_json(self) -> dict:
        return asdict(self)


class _Stream:
    def __init__(self, name: str, source: str, remember: bool = True) -> None:
        self.health = StreamHealth(name, source)
        self.remember = remember  # re-added after a restart (false for the demo camera)
        self.stop = threading.Event()
        self.finals: list[CaptionEvent] = []
        self.thread: threading.Thread | None = None


class Supervisor:
    def __init__(
        self,
        models: SpeechModels,
        store: AssetStore,
        bus: EventBus,
        *,
        retry: RetryPolicy | None = None,
        state_file: Path | None = None,
    ) -> None:
        self._models = models
        # Streams the crew added at run time, re-added after a restart.
        self._state_file = state_file
        self._store = store
        self._bus = bus
        self._retry = retry or RetryPolicy()
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()

    def add_stream(self, name: str, source: str, *, remember: bool = True) -> StreamHealth:
        if not STREAM_NAME.match(name):
            raise ConfigError(f"stream name '{name}' is not allowed", "use 1-64 letters, digits, '.', '_' or '-'")
        if not source.strip():
            raise ConfigError(f"stream '{name}' has no source", "give a file path, rtsp:// URL or capture device")
        with self._lock:
            running = self._streams.get(name)
            if running and running.thread and running.thread.is_alive():
                raise ConfigError(f"stream '{name}' is already running", "remove it first or pick another name")
            stream = _Stream(name, source, remember)
            self._streams[name] = stream
        stream.thread = threading.Thread(target=self._run, args=(stream,), name=f"stream-{name}", daemon=True)
        stream.thread.start()
        self._save_state()
        self._publish_health(stream)
        return stream.health

    def remove_stream(self, name: str, timeout: float = 10.0, *, forget: bool = True) -> StreamHealth:
        with self._lock:
            stream = self._streams.pop(name, None)
        if stream is None:
            raise KeyError(name)
        if forget:
            self._save_state()
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

    def stop_all(self) -> None:
        """Shut down: stop every stream but remember them for the next start."""
        for health in self.streams():
            try:
                self.remove_stream(health.name, forget=False)
            except KeyError:
                pass

    def saved_streams(self) -> dict[str, str]:
        if self._state_file is None or not self._state_file.is_file():
            return {}
        try:
            data = json.loads(self._state_file.read_text())
            return {str(k): str(v) for k, v in data.get("streams", {}).items()}
        except (ValueError, AttributeError):
            log.warning("ignoring damaged stream list %s", self._state_file)
            return {}

    def _save_state(self) -> None:
        if self._state_file is None:
            return
        with self._lock:
            streams = {name: s.health.source for name, s in self._streams.items() if s.remember}
            atomic_replace(self._state_file, json.dumps({"streams": streams}, indent=1).encode())

    # -- one stream's thread ---------------------------------------------------------

    def _run(self, stream: _Stream) -> None:
        health = stream.health

        def on_status(status: SourceStatus) -> None:
            health.state = status.state if status.state != "connecting" else "starting"
            health.message = status.message
            if status.state == "retrying":
                health.retries += 1
            self._publish_health(stream)

        try:
            for ev in caption_media(self._models, health.source, stream=health.name, live=True,
                                    retry=self._retry, on_status=on_status, stop=stream.stop):
                if ev.type == "final":
                    self._store_final(stream, ev)
                    stream.finals.append(ev)
                    health.finals += 1
                    health.last_caption_at = time.time()
                self._bus.publish({"kind": "caption", **ev.to_json()})
            if not stream.stop.is_set():
                health.state = "ended"
        except EdgeError as exc:
            health.state, health.message = "failed", str(exc)
        except Exception as exc:  # a bug in one stream must not take the box down
            log.exception("stream %s crashed", health.name)
            health.state, health.message = "failed", f"internal error: {exc!r}"
        finally:
            self._save_tracks(stream)
            self._publish_health(stream)

    def _store_final(self, stream: _Stream, ev: CaptionEvent) -> None:
        """Durable before anyone is told; a full disk stops storing, not captioning."""
        try:
            self._store.captions.append([ev])
            if stream.health.message.startswith("disk full"):
                stream.health.message = ""
        except DiskFullError as exc:
            if not stream.health.message.startswith("disk full"):
                stream.health.message = f"disk full, captions shown live but not stored: {exc}"
                log.error("stream %s: %s", stream.health.name, stream.health.message)
                self._publish_health(stream)

    def _save_tracks(self, stream: _Stream) -> None:
        if not stream.finals:
            return
        first, last = stream.finals[0], stream.finals[-1]
        common = dict(stream=stream.health.name, start=first.start, end=last.end,
                      provenance=self._provenance(), tags=["captions"])
        text = ""
        for ev in stream.finals:
            text = join_text(text, ev.text)
        try:
            self._store.add_bytes(to_webvtt(stream.finals).encode(), kind="caption_track",
                                  name=f"{stream.health.name}-captions.vtt", mime="text/vtt", **common)
            self._store.add_bytes((text + "\n").encode(), kind="transcript",
                                  name=f"{stream.health.name}-transcript.txt", mime="text/plain", **common)
        except EdgeError as exc:  # e.g. disk full: the finals are still in the caption log
            log.error("could not save caption track for %s: %s", stream.health.name, exc)

    def _provenance(self) -> dict:
        profile = self._models.profile
        return {"model": profile.asr.engine.model, "backend": profile.asr.engine.backend,
                "compute_type": profile.asr.engine.compute_type, "vad": profile.vad.model, "profile": profile.name}

    def _publish_health(self, stream: _Stream) -> None:
        self._bus.publish({"kind": "stream", "stream": stream.health.name, **stream.health.to_json()})

