"""A real RTSP server on localhost, standing in for a network camera in tests and demos.

    with RtspTestServer(media="clip.mkv", path="/cam1") as srv:
        for event in open_media(srv.url): ...

It serves either a media file (decoded and re-encoded as H.264 + Opus, like a
camera would send) or a live test pattern. `stop()` drops every client the way
a camera losing power does, and `start()` brings it back on the same port, so
reconnect logic can be exercised end to end.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

from edge.errors import MediaError  # noqa: E402
from edge.ingest.gstreamer import ensure_gst, probe_media  # noqa: E402

__all__ = ["RtspTestServer"]

# Low-latency settings a camera would use; a 1 s GOP lets late joiners of a shared mount start quickly.
_H264 = ("x264enc tune=zerolatency speed-preset=ultrafast bitrate=600 key-int-max={gop}"
         " ! rtph264pay name=pay0 pt=96 config-interval=-1")
_OPUS = "audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! opusenc ! rtpopuspay name=pay1 pt=97"
_TEARDOWN_WAIT_S = 5.0


class RtspTestServer:
    """GstRtspServer bound to 127.0.0.1 with one mount, run by its own GLib main loop thread.

    media: a file to serve, or None for a live test pattern (moving ball + 440 Hz tone).
    loop: replay the file forever, as a live feed (a camera stand-in); otherwise
        each client gets the file once from the start and then end-of-stream.
    port: 0 picks a free port on the first start; later starts reuse it.
    """

    def __init__(
        self,
        media: str | Path | None = None,
        *,
        path: str = "/stream",
        port: int = 0,
        loop: bool = False,
        shared: bool = True,
        video: bool = True,
        audio: bool = True,
        width: int = 320,
        height: int = 240,
        fps: int = 15,
        host: str = "127.0.0.1",
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"mount path must start with '/', got {path!r}")
        self._media = Path(media).resolve() if media is not None else None
        self._path = path
        self._port = port
        self._loop_file = loop
        self._shared = shared
        self._host = host
        self._width, self._height, self._fps = width, height, fps
        self._video, self._audio = self._tracks(video, audio)
        # inter* channels are process-wide names: make them unique per server.
        tag = uuid.uuid4().hex[:12]
        self._video_channel, self._audio_channel = f"rtsp-test-video-{tag}", f"rtsp-test-audio-{tag}"
        self._running: _Running | None = None

    # ---- public

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("the server has not been started yet, so it has no port")
        return self._port

    @property
    def url(self) -> str:
        return f"rtsp://{self._host}:{self.port}{self._path}"

    @property
    def running(self) -> bool:
        return self._running is not None

    def start(self) -> RtspTestServer:
        if self._running is None:
            ensure_gst()
            self._running = _Running(self._host, self._port, self._path, self._launch(), self._shared,
                                     self._player_launch())
            self._port = self._running.port
        return self

    def stop(self) -> None:
        """Close every client connection and the port: clients see the camera go away mid-stream."""
        if self._running is not None:
            running, self._running = self._running, None
            running.shutdown()

    def __enter__(self) -> RtspTestServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- launch descriptions

    def _tracks(self, video: bool, audio: bool) -> tuple[bool, bool]:
        if self._media is None:
            return video, audio
        info = probe_media(str(self._media))
        has_video, has_audio = video and info.has_video, audio and info.has_audio
        if not (has_video or has_audio):
            raise MediaError(f"cannot serve {str(self._media)!r}: it has no audio or video to stream",
                             "pick a file with audio or video")
        return has_video, has_audio

    def _launch(self) -> str:
        gop = self._fps
        size = f"width={self._width},height={self._height},framerate={self._fps}/1"
        video_enc = f"videoconvert ! videoscale ! video/x-raw,format=I420,{size} ! " + _H264.format(gop=gop)
        if self._media is None:
            parts = [
                f"videotestsrc is-live=true pattern=ball ! video/x-raw,{size} ! {video_enc}" if self._video else "",
                f"audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! {_OPUS}" if self._audio else "",
            ]
        elif self._loop_file:
            # The looping player feeds inter* elements; the mount reads them as a never-ending live feed.
            parts = [
                f"intervideosrc channel={self._video_channel} ! videorate ! {video_enc}" if self._video else "",
                f"interaudiosrc channel={self._audio_channel} ! {_OPUS}" if self._audio else "",
            ]
        else:
            # Caps in the delayed links stop decodebin's first pad from grabbing the wrong branch.
            parts = [f"uridecodebin uri={self._media.as_uri()} name=d"]
            if self._video:
                parts.append(f"d. ! video/x-raw ! queue ! videorate ! {video_enc}")
            if self._audio:
                parts.append(f"d. ! audio/x-raw ! queue ! {_OPUS}")
        return "( " + " ".join(p for p in parts if p) + " )"

    def _player_launch(self) -> str | None:
        if self._media is None or not self._loop_file:
            return None
        parts = [f"uridecodebin uri={self._media.as_uri()} name=d"]
        if self._video:
            parts.append(f"d. ! video/x-raw ! queue ! videoconvert ! intervideosink channel={self._video_channel}")
        if self._audio:
            parts.append(f"d. ! audio/x-raw ! queue ! audioconvert ! interaudiosink channel={self._audio_channel}")
        return " ".join(parts)


class _Running:
    """One started server: its main loop thread, mount and (for looping files) player pipeline."""

    def __init__(self, host: str, port: int, path: str, launch: str, shared: bool, player: str | None) -> None:
        self._context = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._medias: set[GstRtspServer.RTSPMedia] = set()
        self._medias_lock = threading.Lock()
        self._no_medias = threading.Event()
        self._no_medias.set()

        self._server = GstRtspServer.RTSPServer.new()
        self._server.set_address(host)
        self._server.set_service(str(port))
        factory = GstRtspServer.RTSPMediaFactory.new()
        factory.set_launch(launch)
        factory.set_shared(shared)
        self._factory = factory
        self._configure_handler = factory.connect("media-configure", self._on_media_configure)
        self._server.get_mount_points().add_factory(path, factory)

        self._player = Gst.parse_launch(player) if player else None
        self._source_id = self._server.attach(self._context)
        if self._source_id == 0:
            raise MediaError(f"cannot start the RTSP test server on {host}:{port}: the port is busy",
                             "stop the other server or pick another port")
        self.port = self._server.get_bound_port()
        self._thread = threading.Thread(target=self._run_loop, name=f"rtsp-server-{self.port}", daemon=True)
        self._thread.start()
        if self._player is not None:
            self._in_loop(self._start_player)

    # ---- loop thread

    def _run_loop(self) -> None:
        self._context.push_thread_default()
        try:
            self._loop.run()
        finally:
            self._context.pop_thread_default()

    def _in_loop(self, fn: Callable[[], None], timeout: float = _TEARDOWN_WAIT_S) -> None:
        """Run fn on the server's main loop thread and wait: rtsp-server objects belong to that thread."""
        done = threading.Event()

        def call(*_args: object) -> bool:
            try:
                fn()
            finally:
                done.set()
            return GLib.SOURCE_REMOVE

        source = GLib.idle_source_new()
        source.set_callback(call)
        source.attach(self._context)
        done.wait(timeout)

    def _start_player(self) -> None:
        assert self._player is not None
        bus = self._player.get_bus()
        # Runs on the loop thread, so the watch attaches to this server's (thread-default) context.
        bus.add_signal_watch()
        self._player_eos_handler = bus.connect("message::eos", self._on_player_eos)
        self._player.set_state(Gst.State.PLAYING)

    def _on_player_eos(self, _bus: Gst.Bus, _message: Gst.Message) -> None:
        assert self._player is not None
        # Rewind to loop; the inter* sources keep their own clock, so clients see one continuous feed.
        self._player.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)

    def _on_media_configure(self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        with self._medias_lock:
            self._medias.add(media)
            self._no_medias.clear()
        media.connect("unprepared", self._on_media_unprepared)

    def _on_media_unprepared(self, media: GstRtspServer.RTSPMedia) -> None:
        with self._medias_lock:
            self._medias.discard(media)
            if not self._medias:
                self._no_medias.set()

    # ---- shutdown

    def shutdown(self) -> None:
        self._in_loop(self._close_clients)
        # Let the media pipelines reach NULL before the loop that drives them goes away.
        self._no_medias.wait(_TEARDOWN_WAIT_S)
        self._in_loop(self._detach)
        self._loop.quit()
        self._thread.join(_TEARDOWN_WAIT_S)
        # The handler closes over self: disconnect so the server, factory and this object can be freed.
        self._factory.disconnect(self._configure_handler)
        self._server = None

    def _close_clients(self) -> None:
        for client in self._server.client_filter(None):
            client.close()

    def _detach(self) -> None:
        # Destroying the listening source closes the socket, so new connections are refused.
        source = self._context.find_source_by_id(self._source_id)
        if source is not None:
            source.destroy()
        if self._player is not None:
            self._player.set_state(Gst.State.NULL)
            bus = self._player.get_bus()
            bus.disconnect(self._player_eos_handler)
            bus.remove_signal_watch()
