"""Turn any media source into a stream of typed events with GStreamer.

`open_media` accepts a file, a file/RTSP/HTTP URI or a local capture device
and yields `AudioChunk` (16 kHz mono float32), `VideoFrame` (RGB) and
`SourceStatus` events. Each call owns one pipeline and one worker thread, so
many sources can run side by side and one failing never touches the others.

Design notes (measured on the target machines):
- Branches are linked in `pad-added` as the source reveals its streams: a
  fixed audio+video pipeline hangs on a file that lacks one of them.
- `videorate` sits before `videoconvert ! videoscale` so frames we are going
  to drop are never converted (about 4x cheaper).
- Appsinks run with sync=False: files decode as fast as the consumer reads
  (the bounded queue gives back-pressure); real-time pacing is the caller's job.
- Audio time is counted in samples, not taken from buffer timestamps: ASR
  needs a gap-free timeline even when a camera's PTS jump.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal

import gi
import numpy as np

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstPbutils", "1.0")
from gi.repository import GLib, Gst, GstApp, GstPbutils  # noqa: E402

from edge.errors import MediaError, SourceUnavailable  # noqa: E402
from edge.events import SAMPLE_RATE, AudioChunk, SourceStatus, VideoFrame  # noqa: E402
from edge.ingest.reach import diagnose  # noqa: E402
from edge.ingest.sources import classify  # noqa: E402

__all__ = ["MediaInfo", "RetryPolicy", "ensure_gst", "open_media", "probe_media"]

MediaItem = AudioChunk | VideoFrame | SourceStatus

_INIT_LOCK = threading.Lock()


# Enough to absorb a burst of decoded buffers; small enough that a slow
# consumer throttles file decoding instead of buffering a whole file in RAM.
_QUEUE_SIZE = 32
_POLL_NS = 100 * 1_000_000  # bus poll period: bounds how long stop/timeouts take to notice
_PUT_POLL_S = 0.1
# decodebin sometimes swallows a demuxer's error (it filters errors from elements it is still
# adding, and a fast-failing demuxer can post before it stops filtering): the pipeline then just
# sits there. A local file shows its streams within milliseconds, so a few seconds without any
# is a reliable sign that the file is unreadable.
_FILE_STREAMS_TIMEOUT_S = 3.0


def ensure_gst() -> None:
    """Initialise GStreamer once per process; safe to call from any thread."""
    with _INIT_LOCK:
        if not Gst.is_initialized():
            Gst.init(None)


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Reconnect schedule for live sources (RTSP cameras, capture devices).

    `max_attempts` counts consecutive reconnects without data in between
    (None = forever); a connection that delivered data resets the count, so a
    camera that drops once a day is never given up on.

    `connect_timeout` is the first-connect deadline: a source that has never
    played is given up on once this many seconds have passed since it was
    opened (None = keep trying, as a box does for cameras that boot after it).
    A wrong port or path then fails with its reason instead of "retrying"
    forever, while a camera still booting gets that long to appear.
    """

    max_attempts: int | None = None
    initial_delay: float = 0.5
    max_delay: float = 10.0
    factor: float = 2.0
    connect_timeout: float | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect number `attempt` (1-based)."""
        return min(self.max_delay, self.initial_delay * self.factor ** max(0, attempt - 1))

    def allows(self, attempt: int) -> bool:
        return self.max_attempts is None or attempt <= self.max_attempts


@dataclass(frozen=True, slots=True)
class MediaInfo:
    has_audio: bool
    has_video: bool
    duration: float | None  # seconds; None for live or unknown-length sources


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class _Source:
    """A validated source: either a URI for uridecodebin or a capture element."""

    label: str  # what the user passed, credentials removed, for messages
    uri: str | None = None
    element: str | None = None  # alsasrc / pulsesrc / v4l2src
    device: str | None = None
    live: bool = False

    @property
    def is_file(self) -> bool:
        return self.uri is not None and self.uri.startswith("file:")


def _open_error(label: str, problem: str, fix: str, cls: type[MediaError] = MediaError) -> MediaError:
    return cls(f"cannot open {label!r}: {problem}", fix)


def _resolve_source(uri_or_path: str) -> _Source:
    """Validate what the user passed before any pipeline exists (cheap, clear errors).

    Which strings name which kind of source is decided once, in sources.classify.
    """
    spec = classify(uri_or_path)  # SourceRefused (a MediaError) for anything ingest cannot open
    label = spec.label
    if spec.type == "alsa":
        return _Source(label, element="alsasrc", device=spec.device, live=True)
    if spec.type == "pulse":
        return _Source(label, element="pulsesrc", device=spec.device, live=True)
    if spec.type == "v4l2":
        if not os.path.exists(spec.text):
            raise _open_error(label, "no such capture device", "plug in the camera or check `ls /dev/video*`",
                              SourceUnavailable)
        return _Source(label, element="v4l2src", device=spec.device, live=True)
    if spec.type == "file":
        assert spec.path is not None
        return _file_source(spec.path, label)
    return _Source(label, uri=spec.text, live=spec.live)


def _file_source(path: Path, label: str) -> _Source:
    fix_copy = "check the path, and that the recording was copied completely"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise _open_error(label, "file not found", fix_copy) from None
    except OSError as exc:
        raise _open_error(label, exc.strerror or "cannot access file", "check the path and its permissions") from None
    if path.is_dir():
        raise _open_error(label, "is a directory, not a media file", "pass the path of a recording inside it")
    if st.st_size == 0:
        raise _open_error(label, "file is empty (0 bytes)",
                          "check the recording; the camera or the copy stopped before writing any data")
    if not os.access(path, os.R_OK):
        raise _open_error(label, "permission denied", "make the file readable by this user")
    return _Source(label, uri=path.resolve().as_uri())


# --------------------------------------------------------------------------- error mapping


@dataclass(frozen=True, slots=True)
class _Failure:
    error: MediaError
    retryable: bool  # a live source may come back; a bad file or missing codec will not


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _classify_error(err: GLib.Error, source: _Source, had_data: bool, debug: str | None = None) -> _Failure:
    """Map a GStreamer error to a message a crew member can act on."""
    label = source.label
    reason = _one_line(err.message or "unknown error")

    def is_(domain: Callable[[], int], *codes: object) -> bool:
        return any(err.matches(domain(), code) for code in codes)

    server_answered = is_(Gst.resource_error_quark, Gst.ResourceError.NOT_AUTHORIZED, Gst.ResourceError.NOT_FOUND)
    if not source.is_file and source.uri is not None and not had_data and not server_answered:
        # GStreamer words an unknown host, a refused port and a missing server the same way
        # (souphttpsrc even as a stream error that reads like a damaged file): ask the network.
        unreachable = diagnose(source.uri)
        if unreachable is not None:
            problem, fix = unreachable
            return _Failure(SourceUnavailable(f"cannot open {label!r}: {problem}", fix), source.live)

    if is_(Gst.core_error_quark, Gst.CoreError.MISSING_PLUGIN) or is_(Gst.stream_error_quark,
                                                                       Gst.StreamError.CODEC_NOT_FOUND):
        return _Failure(_open_error(label, f"unsupported codec or format ({reason})",
                                    "install gstreamer1.0-libav and gstreamer1.0-plugins-bad/-ugly, "
                                    "or convert the file to H.264/AAC mp4"), False)
    if is_(Gst.stream_error_quark, Gst.StreamError.TYPE_NOT_FOUND):
        return _Failure(_open_error(label, "not a recognised audio/video file",
                                    "check the file is a recording and not damaged; re-copy it from the card"), False)
    if is_(Gst.stream_error_quark, Gst.StreamError.DEMUX, Gst.StreamError.DECODE, Gst.StreamError.FORMAT,
           Gst.StreamError.WRONG_TYPE, Gst.StreamError.FAILED):
        where = "stopped part-way: " if had_data else ""
        return _Failure(_open_error(label, f"{where}file is corrupt or truncated ({reason})",
                                    "re-copy the recording from the card; an interrupted copy leaves it unreadable"),
                        source.live)
    if not source.is_file and source.uri is not None:
        return _network_failure(label, reason, had_data, source.live, is_)
    if source.element is not None:
        # The debug string reads "file.c(790): func (): /GstPipeline:x/GstAlsaSrc:y: <what happened>".
        detail = _one_line(debug or "")
        detail = detail.rsplit(": /", 1)[-1].split(": ", 1)[-1] if ": /" in detail else detail
        if "No such file or directory" in detail or "No such device" in detail:
            return _Failure(SourceUnavailable(f"cannot open {label!r}: no such capture device ({detail})",
                                              "list the devices with `arecord -l` (audio) or `ls /dev/video*`, "
                                              "and plug in or name the right one"), True)
        return _Failure(SourceUnavailable(f"cannot open {label!r}: capture device failed ({reason})",
                                          "check the device is connected and not used by another program"), True)
    return _Failure(_open_error(label, f"read error ({reason})", "check the file and the disk it is on"), False)


def _network_failure(label: str, reason: str, had_data: bool, live: bool,
                     is_: Callable[..., bool]) -> _Failure:
    """Server-side problems: only live sources are retried, but all say what to check."""
    if is_(Gst.resource_error_quark, Gst.ResourceError.NOT_AUTHORIZED):
        return _Failure(SourceUnavailable(f"cannot open {label!r}: access denied ({reason})",
                                          "check the user name and password in the URL"), False)
    if is_(Gst.resource_error_quark, Gst.ResourceError.NOT_FOUND):
        # A camera that is still booting answers 404 for a while, so live sources keep trying.
        return _Failure(SourceUnavailable(f"cannot open {label!r}: stream not found on the server ({reason})",
                                          "check the path in the URL against the camera's or server's settings"),
                        live)
    what = f"lost connection ({reason})" if had_data else f"cannot connect ({reason})"
    return _Failure(SourceUnavailable(f"source {label!r}: {what}",
                                      "check the camera/server is powered, its address and port, and the network"),
                    live)


# --------------------------------------------------------------------------- timeline


class _Timeline:
    """One monotonic stream clock for a source, across reconnects.

    Audio time is the running sample count (gap-free, what ASR needs). Video
    time is the buffer PTS: as-is for files (so it matches file positions),
    rebased to the first buffer of each connection for live sources (whose PTS
    are pipeline running times). After a reconnect the clock resumes at the
    last emitted time plus the wall-clock outage, so time never goes back and
    the outage stays visible.
    """

    def __init__(self, rebase_pts: bool) -> None:
        self._lock = threading.Lock()
        self._rebase = rebase_pts
        self._base = 0.0
        self._origin_ns: int | None = None if rebase_pts else 0
        self._samples = 0
        self._last = 0.0
        self._last_wall: float | None = None
        self._resume_pending = False

    def new_connection(self) -> None:
        with self._lock:
            self._samples = 0
            self._origin_ns = None if self._rebase else 0
            self._resume_pending = self._last_wall is not None

    def audio_start(self, n_samples: int, pts_ns: int) -> float:
        with self._lock:
            self._first_buffer(pts_ns)
            start = self._base + self._samples / SAMPLE_RATE
            self._samples += n_samples
            self._emitted(start + n_samples / SAMPLE_RATE)
            return start

    def video_pts(self, pts_ns: int) -> float:
        with self._lock:
            self._first_buffer(pts_ns)
            if pts_ns == Gst.CLOCK_TIME_NONE or self._origin_ns is None:
                t = self._last
            else:
                # Frames reordered before this connection's first buffer must not land before its start.
                t = max(self._base, self._base + (pts_ns - self._origin_ns) / Gst.SECOND)
            self._emitted(t)
            return t

    def _first_buffer(self, pts_ns: int) -> None:
        if self._resume_pending:
            assert self._last_wall is not None
            self._base = self._last + (time.monotonic() - self._last_wall)
            self._resume_pending = False
        if self._origin_ns is None and pts_ns != Gst.CLOCK_TIME_NONE:
            self._origin_ns = pts_ns

    def _emitted(self, t: float) -> None:
        self._last = max(self._last, t)
        self._last_wall = time.monotonic()


# --------------------------------------------------------------------------- one connection


@dataclass(frozen=True, slots=True)
class _Options:
    stream: str
    audio: bool
    video_fps: Fraction | None
    video_size: tuple[int, int] | None
    startup_timeout: float
    stall_timeout: float


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: Literal["eos", "failed", "stopped"]
    played: bool  # whether any media arrived during this connection
    failure: _Failure | None = None


_NO_MORE_PADS = "edge-no-more-pads"
# GstAutoplugSelectResult is not in any typelib; these are its values from gstautoplugselect.h.
_AUTOPLUG_TRY = 0
_AUTOPLUG_EXPOSE = 1


class _Connection:
    """One pipeline run: build, play until EOS/error/stop, tear down.

    Media is delivered from GStreamer's streaming threads straight into the
    session's queue; everything else (errors, EOS, timeouts) is decided in the
    worker thread that polls the bus, so state handling is single-threaded.
    """

    def __init__(self, source: _Source, opts: _Options, timeline: _Timeline,
                 deliver: Callable[[MediaItem], bool], stop: threading.Event, attempt: int) -> None:
        self._source = source
        self._opts = opts
        self._timeline = timeline
        self._deliver = deliver
        self._stop = stop
        self._attempt = attempt
        self._lock = threading.Lock()
        self._audio_linked = False
        self._video_linked = False
        self._unknown_caps: list[str] = []
        self._pads_seen = False
        self._arrived = False  # media reached an appsink (maybe still waiting to be queued)
        self._waiting_on_consumer = 0
        self._announce_lock = threading.Lock()
        self._played = False  # set once "playing" is announced, i.e. media arrived
        self._last_data = time.monotonic()
        self._handlers: list[tuple[Gst.Element, int]] = []
        self._pipeline = Gst.Pipeline.new(f"ingest-{opts.stream}")

    # ---- lifecycle

    def run(self) -> _Outcome:
        try:
            self._build()
            # A FAILURE return carries no reason; the ERROR message on the bus does, so the poll reports it.
            self._pipeline.set_state(Gst.State.PLAYING)
            return self._poll_bus()
        finally:
            self._teardown()

    def _teardown(self) -> None:
        self._pipeline.set_state(Gst.State.NULL)
        # Handlers close over self; disconnecting breaks the Python<->GObject cycle so both are freed.
        for element, handler_id in self._handlers:
            element.disconnect(handler_id)
        self._handlers.clear()

    def _connect(self, element: Gst.Element, signal: str, callback: Callable[..., object]) -> None:
        self._handlers.append((element, element.connect(signal, callback)))

    # ---- building

    def _build(self) -> None:
        source = self._source
        if source.uri is not None:
            demux = _make("uridecodebin")
            demux.set_property("uri", source.uri)
            self._connect(demux, "source-setup", self._on_source_setup)
            self._pipeline.add(demux)
        else:
            demux = self._build_device()
        self._connect(demux, "pad-added", self._on_pad_added)
        self._connect(demux, "no-more-pads", self._on_no_more_pads)
        self._connect(demux, "unknown-type", self._on_unknown_type)
        self._connect(demux, "autoplug-select", self._on_autoplug_select)

    def _build_device(self) -> Gst.Element:
        assert self._source.element is not None
        package = {"alsasrc": "gstreamer1.0-alsa", "pulsesrc": "gstreamer1.0-pulseaudio",
                   "v4l2src": "gstreamer1.0-plugins-good"}[self._source.element]
        src = Gst.ElementFactory.make(self._source.element, None)
        if src is None:
            raise _open_error(self._source.label, f"GStreamer element '{self._source.element}' is not installed",
                              f"apt-get install {package}")
        if self._source.device:
            src.set_property("device", self._source.device)
        decode = _make("decodebin")
        self._pipeline.add(src)
        self._pipeline.add(decode)
        src.link(decode)
        return decode

    def _on_source_setup(self, _bin: Gst.Element, src: Gst.Element) -> None:
        factory = src.get_factory()
        if factory is not None and factory.get_name() == "rtspsrc":
            # TCP interleaving survives NAT and lossy Wi-Fi, and a dropped camera shows up
            # as a closed socket at once instead of after a UDP silence timeout.
            Gst.util_set_object_arg(src, "protocols", "tcp")
            src.set_property("latency", 200)
            src.set_property("tcp-timeout", int(self._opts.startup_timeout * 1_000_000))

    def _on_autoplug_select(self, _bin: Gst.Element, _pad: Gst.Pad, _caps: Gst.Caps,
                            factory: Gst.ElementFactory) -> int:
        # Decoding a camera's H.264 only to throw it away costs a good part of a core on
        # this box: expose unwanted streams still encoded, and pad-added sends them to a discarding sink.
        klass = factory.get_metadata("klass") or ""
        if "Decoder" in klass:
            if "Video" in klass and self._opts.video_fps is None:
                return _AUTOPLUG_EXPOSE
            if "Audio" in klass and not self._opts.audio:
                return _AUTOPLUG_EXPOSE
        return _AUTOPLUG_TRY

    def _on_pad_added(self, _demux: Gst.Element, pad: Gst.Pad) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_name() if caps is not None and caps.get_size() else ""
        with self._lock:
            self._pads_seen = True
            if self._stop.is_set():
                return
            if kind.startswith("audio/") and self._opts.audio and not self._audio_linked:
                chain, self._audio_linked = self._audio_branch(), True
            elif kind.startswith("video/") and self._opts.video_fps is not None and not self._video_linked:
                chain, self._video_linked = self._video_branch(), True
            else:
                chain = [_discard_sink()]  # unwanted streams must still be consumed or they stall the demuxer
        self._attach(pad, chain)

    def _attach(self, pad: Gst.Pad, chain: list[Gst.Element]) -> None:
        for element in chain:
            self._pipeline.add(element)
        for upstream, downstream in itertools.pairwise(chain):
            if not upstream.link(downstream):
                raise RuntimeError(f"cannot link {upstream.get_name()} to {downstream.get_name()}")
        for element in reversed(chain):
            element.sync_state_with_parent()
        result = pad.link(chain[0].get_static_pad("sink"))
        if result != Gst.PadLinkReturn.OK:
            raise RuntimeError(f"cannot link decoder pad: {result.value_nick}")

    def _audio_branch(self) -> list[Gst.Element]:
        sink = _appsink(f"audio/x-raw,format=F32LE,rate={SAMPLE_RATE},channels=1,layout=interleaved")
        self._connect(sink, "new-sample", self._on_audio_sample)
        return [_make("audioconvert"), _make("audioresample"), sink]

    def _video_branch(self) -> list[Gst.Element]:
        fps = self._opts.video_fps
        assert fps is not None
        rate = _make("capsfilter")
        rate.set_property("caps", Gst.Caps.from_string(f"video/x-raw,framerate={fps.numerator}/{fps.denominator}"))
        caps = "video/x-raw,format=RGB"
        if self._opts.video_size is not None:
            width, height = self._opts.video_size
            # Square pixels make videoscale letterbox instead of stretching: OCR prefers undistorted text.
            caps += f",width={width},height={height},pixel-aspect-ratio=1/1"
        sink = _appsink(caps)
        self._connect(sink, "new-sample", self._on_video_sample)
        return [_make("videorate"), rate, _make("videoconvert"), _make("videoscale"), sink]

    # ---- streaming-thread callbacks

    def _on_no_more_pads(self, demux: Gst.Element) -> None:
        # Decided in the bus thread, which owns all outcome decisions.
        structure = Gst.Structure.new_empty(_NO_MORE_PADS)
        self._pipeline.post_message(Gst.Message.new_application(demux, structure))

    def _on_unknown_type(self, _demux: Gst.Element, _pad: Gst.Pad, caps: Gst.Caps) -> None:
        with self._lock:
            self._unknown_caps.append(caps.to_string())

    def _on_audio_sample(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        buffer, _caps = _pull(sink)
        if buffer is None:
            return Gst.FlowReturn.FLUSHING
        samples = np.frombuffer(bytearray(buffer.extract_dup(0, buffer.get_size())), dtype=np.float32)
        start = self._timeline.audio_start(len(samples), buffer.pts)
        return self._push(AudioChunk(self._opts.stream, start, samples))

    def _on_video_sample(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        buffer, caps = _pull(sink)
        if buffer is None or caps is None:
            return Gst.FlowReturn.FLUSHING
        structure = caps.get_structure(0)
        width = structure.get_value("width")
        height = structure.get_value("height")
        data = bytearray(buffer.extract_dup(0, buffer.get_size()))
        # Rows may be padded to 4 bytes: derive the stride instead of assuming width*3.
        stride = len(data) // height
        rgb = np.frombuffer(data, dtype=np.uint8).reshape(height, stride)[:, : width * 3].reshape(height, width, 3)
        pts = self._timeline.video_pts(buffer.pts)
        return self._push(VideoFrame(self._opts.stream, pts, width, height, rgb))

    def _push(self, item: MediaItem) -> Gst.FlowReturn:
        with self._lock:
            self._arrived = True
            self._waiting_on_consumer += 1  # time blocked on a slow consumer is not a stalled source
        try:
            delivered = self._announce_playing() and self._deliver(item)
        finally:
            with self._lock:
                self._waiting_on_consumer -= 1
                self._last_data = time.monotonic()
        return Gst.FlowReturn.OK if delivered else Gst.FlowReturn.FLUSHING

    def _announce_playing(self) -> bool:
        # Audio and video arrive on different threads; the lock makes "playing" precede both.
        with self._announce_lock:
            if not self._played:
                if not self._deliver(SourceStatus(self._opts.stream, "playing", self._source.label, self._attempt)):
                    return False
                self._played = True
        return True

    # ---- bus: the only place outcomes are decided

    def _poll_bus(self) -> _Outcome:
        bus = self._pipeline.get_bus()
        started = time.monotonic()
        wanted = Gst.MessageType.ERROR | Gst.MessageType.EOS | Gst.MessageType.APPLICATION
        while not self._stop.is_set():
            message = bus.timed_pop_filtered(_POLL_NS, wanted)
            if message is None:
                failure = self._check_timeouts(started)
                if failure is not None:
                    return _Outcome("failed", self._played, failure)
                continue
            outcome = self._handle(message)
            if outcome is not None:
                return outcome
        return _Outcome("stopped", self._played)

    def _handle(self, message: Gst.Message) -> _Outcome | None:
        if message.type == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            return _Outcome("failed", self._played, _classify_error(err, self._source, self._played, debug))
        if message.type == Gst.MessageType.EOS:
            missing = self._missing_tracks()
            if missing is not None:
                return _Outcome("failed", self._played, missing)
            return _Outcome("eos", self._played)
        structure = message.get_structure()
        if structure is not None and structure.get_name() == _NO_MORE_PADS:
            missing = self._missing_tracks()
            if missing is not None:
                return _Outcome("failed", self._played, missing)
        return None

    def _missing_tracks(self) -> _Failure | None:
        """Fail only when nothing we asked for exists: a video-only file is fine if video was requested."""
        with self._lock:
            if self._audio_linked or self._video_linked:
                return None
            unknown = list(self._unknown_caps)
        opts = self._opts
        wanted = " or ".join(k for k, on in (("audio", opts.audio), ("video", opts.video_fps is not None)) if on)
        if unknown:
            codecs = ", ".join(sorted({c.split(",")[0] for c in unknown}))
            problem, fix = (f"no decoder for its {wanted} ({codecs})",
                            "install gstreamer1.0-libav and gstreamer1.0-plugins-bad/-ugly")
        elif opts.audio and opts.video_fps is None:
            problem = "no audio track"
            fix = "use a source with sound (check the camera's audio is enabled), or request video frames (video_fps)"
        elif opts.audio:
            problem, fix = "no audio or video track", "check the file is an audio/video recording"
        else:
            problem, fix = "no video track", "choose a recording with video, or request audio only"
        return _Failure(_open_error(self._source.label, problem, fix), False)

    def _check_timeouts(self, started: float) -> _Failure | None:
        now = time.monotonic()
        with self._lock:
            arrived, pads_seen = self._arrived, self._pads_seen
            last_data = now if self._waiting_on_consumer else self._last_data
        label = self._source.label
        file_deadline = min(self._opts.startup_timeout, _FILE_STREAMS_TIMEOUT_S)
        if self._source.is_file and not pads_seen and now - started > file_deadline:
            return _Failure(_open_error(label, "no audio or video stream could be read: file is corrupt or truncated",
                                        "re-copy the recording from the card; an interrupted copy leaves it "
                                        "unreadable"), False)
        if not arrived and now - started > self._opts.startup_timeout:
            cls = SourceUnavailable if self._source.live else MediaError
            return _Failure(cls(f"cannot open {label!r}: no media within {self._opts.startup_timeout:g} s",
                                "check the source is running and sending audio/video"), self._source.live)
        if self._source.live and arrived and now - last_data > self._opts.stall_timeout:
            return _Failure(SourceUnavailable(f"source {label!r}: no media for {self._opts.stall_timeout:g} s",
                                              "check the camera/device and the network"), True)
        return None


def _make(factory: str) -> Gst.Element:
    element = Gst.ElementFactory.make(factory, None)
    if element is None:
        raise MediaError(f"GStreamer element '{factory}' is not installed",
                         "run `make apt` to install the GStreamer plugins")
    return element


def _appsink(caps: str) -> Gst.Element:
    sink = _make("appsink")
    sink.set_property("caps", Gst.Caps.from_string(caps))
    sink.set_property("emit-signals", True)
    sink.set_property("sync", False)
    sink.set_property("max-buffers", 4)
    return sink


def _discard_sink() -> Gst.Element:
    sink = _make("fakesink")
    sink.set_property("sync", False)
    sink.set_property("async", False)
    return sink


def _pull(sink: GstApp.AppSink) -> tuple[Gst.Buffer | None, Gst.Caps | None]:
    sample = sink.emit("pull-sample")
    if sample is None:
        return None, None
    return sample.get_buffer(), sample.get_caps()


# --------------------------------------------------------------------------- session (retries)


_END = object()


class _Session:
    """Runs connections for one source in a worker thread, retrying live sources."""

    def __init__(self, source: _Source, opts: _Options, retry: RetryPolicy | None) -> None:
        self._source = source
        self._opts = opts
        self._retry = retry if source.live else None  # files are never retried: EOS is the end
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_SIZE)
        self._stop = threading.Event()
        self._timeline = _Timeline(rebase_pts=source.live)
        self._thread = threading.Thread(target=self._run, name=f"ingest-{opts.stream}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def get(self) -> object:
        return self._queue.get()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _put(self, item: object) -> bool:
        """Block while the consumer is behind, but give up promptly once closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _status(self, state: Literal["connecting", "retrying", "ended", "failed"], message: str,
                attempt: int) -> bool:
        return self._put(SourceStatus(self._opts.stream, state, message, attempt))

    def _run(self) -> None:
        attempt = 0
        ever_played = False
        opened = time.monotonic()
        try:
            while True:
                if not self._status("connecting", self._source.label, attempt):
                    return
                self._timeline.new_connection()
                connection = _Connection(self._source, self._connection_options(ever_played, opened),
                                         self._timeline, self._put, self._stop, attempt)
                outcome = connection.run()
                ever_played = ever_played or outcome.played
                if outcome.kind == "stopped":
                    return
                error = self._give_up_or_retry(outcome)
                if error is None:
                    self._status("ended", self._source.label, attempt)
                    return
                attempt = 1 if outcome.played else attempt + 1
                self._check_budget(attempt, error, ever_played, opened)
                # Say which case it is: a source that played and dropped, or one that never connected yet.
                what = "dropped, reconnecting" if ever_played else "not connected yet"
                if not self._status("retrying", f"{what}: {error}", attempt):
                    return
                assert self._retry is not None
                if self._stop.wait(self._retry.delay(attempt)):
                    return
        except MediaError as exc:
            self._status("failed", str(exc), attempt)
            self._put(exc)
        except BaseException as exc:  # a bug: hand it to the consumer with its traceback
            self._put(exc)
        finally:
            self._put(_END)

    def _connection_options(self, ever_played: bool, opened: float) -> _Options:
        """Before a first connection, one attempt may not outlast the first-connect deadline."""
        deadline = self._retry.connect_timeout if self._retry is not None else None
        if ever_played or deadline is None:
            return self._opts
        left = max(1.0, deadline - (time.monotonic() - opened))
        return replace(self._opts, startup_timeout=min(self._opts.startup_timeout, left))

    def _give_up_or_retry(self, outcome: _Outcome) -> MediaError | None:
        """None when the source ended normally; the error when it should be retried; else raise it."""
        if outcome.kind == "eos":
            if self._retry is None:
                return None
            return SourceUnavailable(f"source {self._source.label!r} ended", "check the camera or server")
        assert outcome.failure is not None
        if self._retry is None or not outcome.failure.retryable:
            raise outcome.failure.error
        return outcome.failure.error

    def _check_budget(self, attempt: int, error: MediaError, ever_played: bool, opened: float) -> None:
        assert self._retry is not None
        label = self._source.label
        problem = error.problem.removeprefix(f"cannot open {label!r}: ").removeprefix(f"source {label!r}: ")
        deadline = self._retry.connect_timeout
        if not ever_played and deadline is not None and time.monotonic() - opened >= deadline:
            raise SourceUnavailable(f"{label!r} never connected (tried for {deadline:g} s): {problem}", error.fix)
        if not self._retry.allows(attempt):
            tries = attempt - 1
            case = "" if ever_played else " (it never connected)"
            raise SourceUnavailable(f"gave up on {label!r} after {tries} reconnect attempt{'' if tries == 1 else 's'}"
                                    f"{case}: {problem}", error.fix)


# --------------------------------------------------------------------------- public functions


def open_media(
    uri_or_path: str,
    *,
    stream: str = "main",
    audio: bool = True,
    video_fps: float | None = None,
    video_size: tuple[int, int] | None = (640, 360),
    retry: RetryPolicy | None = None,
    startup_timeout: float = 10.0,
    stall_timeout: float = 5.0,
) -> Iterator[AudioChunk | VideoFrame | SourceStatus]:
    """Yield audio chunks, video frames and status changes from a media source.

    Sources: a file path, file:// / rtsp:// / http(s):// URI, `alsa:<device>`,
    `pulse:<device>` or `/dev/videoN`. Audio is 16 kHz mono float32 timed by
    sample count from 0; video (only when `video_fps` is set) is RGB at
    `video_size` (None keeps the source size). Live sources are reconnected per
    `retry`; files end at EOS with an "ended" status. Problems raise
    MediaError / SourceUnavailable with a one-line message and a fix, after a
    "failed" status. Closing the generator stops and frees the pipeline.
    """
    if not audio and video_fps is None:
        raise ValueError("request audio, video frames (video_fps), or both")
    if video_fps is not None and video_fps <= 0:
        raise ValueError(f"video_fps must be positive, got {video_fps}")
    if video_size is not None and (video_size[0] <= 0 or video_size[1] <= 0):
        raise ValueError(f"video_size must be positive, got {video_size}")
    try:
        source = _resolve_source(uri_or_path)
    except MediaError as exc:
        yield SourceStatus(stream, "failed", str(exc))  # status watchers see every failure, not just the consumer
        raise
    ensure_gst()
    fps = Fraction(video_fps).limit_denominator(1001) if video_fps is not None else None
    opts = _Options(stream, audio, fps, video_size, startup_timeout, stall_timeout)
    session = _Session(source, opts, retry)
    session.start()
    try:
        while True:
            item = session.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        session.close()


def probe_media(path: str, *, timeout: float = 10.0) -> MediaInfo:
    """Report which tracks a file (or URI) has and how long it is, without decoding it all."""
    source = _resolve_source(path)
    if source.uri is None:
        raise MediaError(f"cannot probe {source.label!r}: capture devices have no fixed tracks",
                         "probe files or URLs only")
    ensure_gst()
    discoverer = GstPbutils.Discoverer.new(int(timeout * Gst.SECOND))
    try:
        info = discoverer.discover_uri(source.uri)
    except GLib.Error as err:
        raise _classify_error(err, source, had_data=False).error from None
    duration_ns = info.get_duration()
    live = info.get_live() or duration_ns in (0, Gst.CLOCK_TIME_NONE)
    return MediaInfo(
        has_audio=bool(info.get_audio_streams()),
        has_video=bool(info.get_video_streams()),
        duration=None if live else duration_ns / Gst.SECOND,
    )
