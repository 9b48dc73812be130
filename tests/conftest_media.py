"""Make real test media with espeak-ng, sox and gst-launch-1.0 (no fixtures checked in).

Plain helpers, not fixtures: each test module builds what it needs once per
session in a temporary directory. Clips are small (320x240, a few seconds)
so that building them takes well under a second each.
"""

from __future__ import annotations

import os
import selectors
import shlex
import shutil
import socket
import subprocess
import threading
import wave
from pathlib import Path
from types import TracebackType

# Encoders by container: what a camera or phone would typically write.
_AUDIO_ENCODERS = {
    ".mkv": "opusenc",
    ".webm": "opusenc",
    ".ogg": "opusenc ! oggmux",
    ".mp4": "avenc_aac ! aacparse",
    ".m4a": "avenc_aac ! aacparse",
}
_MUXERS = {".mkv": "matroskamux", ".webm": "webmmux", ".mp4": "mp4mux", ".m4a": "mp4mux"}


def require_tools(*names: str) -> list[str]:
    """Names of command-line tools that are missing (for pytest.skip messages)."""
    return [name for name in names if shutil.which(name) is None]


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-800:]}")


def _gst_launch(description: str) -> None:
    # gst-launch escapes each argv item, so a quoted path with spaces stays one property value.
    _run(["gst-launch-1.0", "-q", *shlex.split(description)])


def make_speech_wav(path: Path, text: str, *, rate: int = 16_000) -> Path:
    """Synthesize `text` with espeak-ng as mono 16-bit WAV at `rate`."""
    raw = path.with_suffix(".espeak.wav")
    _run(["espeak-ng", "-w", str(raw), text])
    _run(["sox", "-V1", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(path)])
    raw.unlink()
    return path


def fit_wav(src: Path, dst: Path, seconds: float) -> Path:
    """Pad with silence or cut so the WAV lasts exactly `seconds`."""
    _run(["sox", "-V1", str(src), str(dst), "pad", "0", f"{seconds:.3f}", "trim", "0", f"{seconds:.3f}"])
    return dst


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def _video_source(seconds: float, fps: int, size: tuple[int, int]) -> str:
    frames = round(seconds * fps)
    width, height = size
    return (f"videotestsrc num-buffers={frames} pattern=smpte ! video/x-raw,width={width},height={height},"
            f"framerate={fps}/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! h264parse")


def _audio_source(wav: Path) -> str:
    return f"filesrc location={shlex.quote(str(wav))} ! wavparse ! audioconvert ! audioresample"


def make_av_clip(path: Path, wav: Path, seconds: float, *, fps: int = 10,
                 size: tuple[int, int] = (320, 240)) -> Path:
    """H.264 video test pattern + the WAV's audio (fitted to `seconds`), muxed by suffix (.mkv/.mp4)."""
    fitted = fit_wav(wav, path.with_suffix(".fitted.wav"), seconds)
    suffix = path.suffix
    _gst_launch(f"{_audio_source(fitted)} ! {_AUDIO_ENCODERS[suffix]} ! mux. "
                f"{_video_source(seconds, fps, size)} ! mux. "
                f"{_MUXERS[suffix]} name=mux ! filesink location={shlex.quote(str(path))}")
    fitted.unlink()
    return path


def make_video_only(path: Path, seconds: float, *, fps: int = 10, size: tuple[int, int] = (320, 240)) -> Path:
    """H.264 test pattern without any audio track (.mkv or .mp4)."""
    mux = _MUXERS[path.suffix]
    _gst_launch(f"{_video_source(seconds, fps, size)} ! {mux} ! filesink location={shlex.quote(str(path))}")
    return path


def make_audio_only(path: Path, wav: Path) -> Path:
    """The WAV's audio alone: Opus in .ogg/.mkv, AAC in .m4a, or a plain copy for .wav."""
    if path.suffix == ".wav":
        shutil.copyfile(wav, path)
        return path
    encode = _AUDIO_ENCODERS[path.suffix]
    mux = f" ! {_MUXERS[path.suffix]}" if path.suffix in _MUXERS else ""
    _gst_launch(f"{_audio_source(wav)} ! {encode}{mux} ! filesink location={shlex.quote(str(path))}")
    return path


def truncate_copy(src: Path, dst: Path, keep_fraction: float) -> Path:
    """The first part of a file, as left by an interrupted copy or a camera losing power."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def write_garbage(path: Path, size: int = 64 * 1024) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FreezableTcpProxy:
    """A TCP relay on 127.0.0.1 that can stop relaying while keeping connections open.

    That is what a camera that hangs (or a network that black-holes packets)
    looks like to a client: no error, no end of stream, just no more data.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def close(self) -> None:
        self._closed.set()
        for sock in list(self._sockets):
            sock.close()

    def __enter__(self) -> FreezableTcpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self._closed.is_set():
                if self._frozen.is_set():
                    self._closed.wait(0.05)  # hold the data: the client sees silence, not a close
                    continue
                for key, _ in selector.select(timeout=0.05):
                    try:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)  # type: ignore[index]
                    except OSError:
                        return
