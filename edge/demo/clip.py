"""The bundled demo event: a synthetic news report with a test-pattern picture.

It lets the box be shown, and tested end to end, without a camera, a
microphone or a network: the speech comes from espeak-ng and the picture is
drawn frame by frame (graphics.py: three scenes, a lower third with a name and
title, a banner with the place) and fed to x264 through appsrc, so every Debian box set up by `make setup` can rebuild it in a
few seconds instead of shipping a binary blob in the repository.

The speech helpers here (`synthesize`, `speech_bounds`, `join_speech`) are
also used by the ASR benchmark corpus, so both measure timings the same way.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from edge.demo import graphics
from edge.errors import MediaError

SCRIPT_PATH = Path(__file__).with_name("script.txt")

DEMO_VOICE = "en-gb"
DEMO_SPEED = 160  # words per minute; a brisk but clear reporter
DEMO_PAUSE_S = 0.8
DEMO_LEAD_S = 1.0  # picture before the first word, like a real live hit
DEMO_TAIL_S = 1.0

VIDEO_WIDTH = 640
VIDEO_HEIGHT = 360
VIDEO_FPS = 25
KEYFRAME_INTERVAL = 2 * VIDEO_FPS  # a late joiner waits at most 2 s for a picture

TRANSCRIPT_NAME = "demo.txt"
TIMINGS_NAME = "demo.json"

_ESPEAK_TIMEOUT_S = 60
_GST_TIMEOUT_S = 120

# Debian package that carries each GStreamer element we use, so the error can
# name the exact fix instead of "element not found".
_ELEMENT_PACKAGES = {
    "filesrc": "libgstreamer1.0-0",
    "filesink": "libgstreamer1.0-0",
    "queue": "libgstreamer1.0-0",
    "wavparse": "gstreamer1.0-plugins-good",
    "matroskamux": "gstreamer1.0-plugins-good",
    "audioconvert": "gstreamer1.0-plugins-base",
    "audioresample": "gstreamer1.0-plugins-base",
    "appsrc": "gstreamer1.0-plugins-base",
    "videoconvert": "gstreamer1.0-plugins-base",
    "opusenc": "gstreamer1.0-plugins-base",
    "vorbisenc": "gstreamer1.0-plugins-base",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "h264parse": "gstreamer1.0-plugins-bad",
}


# --------------------------------------------------------------------------
# Speech synthesis helpers (shared with bench/corpus.py)
# --------------------------------------------------------------------------


def read_sentences(path: Path) -> list[str]:
    """One sentence per line; blank lines and '#' comments are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _require_tool(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise MediaError(f"{name} is not installed", f"apt-get install {package}")
    return exe


def synthesize(text: str, voice: str = DEMO_VOICE, speed: int = DEMO_SPEED) -> tuple[np.ndarray, int]:
    """Speak `text` with espeak-ng; returns (mono int16 samples, sample rate)."""
    exe = _require_tool("espeak-ng", "espeak-ng")
    # -w to a real file rather than --stdout: the streamed WAV header carries
    # no valid length, which the wave module rejects.
    fd, tmp = tempfile.mkstemp(suffix=".wav", prefix="espeak-")
    os.close(fd)
    try:
        proc = subprocess.run(
            [exe, "-v", voice, "-s", str(speed), "-w", tmp, "--", text],
            capture_output=True,
            text=True,
            timeout=_ESPEAK_TIMEOUT_S,
        )
        if proc.returncode != 0 or os.path.getsize(tmp) <= 44:
            raise MediaError(
                f"espeak-ng could not speak with voice {voice!r}: {proc.stderr.strip() or 'no audio'}",
                "apt-get install espeak-ng espeak-ng-data, and check `espeak-ng --voices=en`",
            )
        return read_wav(Path(tmp))
    finally:
        os.unlink(tmp)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Reads a 16-bit PCM WAV; multi-channel files are averaged to mono."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise MediaError(f"{path} is not 16-bit PCM", "convert it with sox -b 16")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).round().astype(np.int16)
    return data.astype(np.int16, copy=False), rate


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """Writes mono int16 atomically, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from the service user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Replaces `path` with `text` in one rename, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def speech_bounds(
    samples: np.ndarray,
    rate: int,
    *,
    frame_s: float = 0.01,
    below_peak_db: float = 50.0,
    above_floor_db: float = 15.0,
    smooth_s: float = 0.0,
    highpass_hz: float = 0.0,
) -> tuple[int, int] | None:
    """Sample range [start, end) from the first to the last frame with speech energy.

    A frame counts as speech when its RMS is above both `below_peak_db` under
    the loudest frame and `above_floor_db` over the quietest tenth of frames;
    the second test is what makes it work on real recordings with a noise
    floor, the first on synthetic speech whose silence is digital zero.
    `smooth_s` averages energy over that window so a lone click before the
    first word is not taken for speech, and `highpass_hz` ignores rumble
    (handling noise, mains hum) that can be louder than a trailing syllable.
    None when there is no speech at all.
    """
    x = np.asarray(samples, dtype=np.float64)
    if highpass_hz > 0 and len(x):
        spectrum = np.fft.rfft(x)
        spectrum[np.fft.rfftfreq(len(x), d=1.0 / rate) < highpass_hz] = 0
        x = np.fft.irfft(spectrum, len(x))
    frame = max(1, int(round(rate * frame_s)))
    n = len(x) // frame
    if n == 0:
        return None
    power = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    if smooth_s > 0:
        k = max(1, int(round(smooth_s / frame_s)))
        power = np.convolve(power, np.ones(k) / k, mode="same")
    db = 10.0 * np.log10(power + 1e-10)
    threshold = max(db.max() - below_peak_db, float(np.percentile(db, 10)) + above_floor_db, 10.0)
    active = np.flatnonzero(db > threshold)
    if active.size == 0:
        return None
    return int(active[0] * frame), int(min(len(x), (active[-1] + 1) * frame))


def join_speech(
    clips: list[np.ndarray],
    rate: int,
    pauses: list[float],
    *,
    lead_s: float,
    tail_s: float,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Trims each clip to its speech and lays them out with the given pauses.

    Returns the joined samples and each clip's (start, end) in seconds. The
    pause is measured from the end of one sentence's speech to the start of
    the next, not from the synthesizer's padded edges, so the timings are the
    ground truth a caption aligner is checked against.
    """
    if len(pauses) != max(0, len(clips) - 1):
        raise ValueError("need exactly one pause between each pair of clips")
    parts: list[np.ndarray] = [np.zeros(int(round(lead_s * rate)), dtype=np.int16)]
    spans: list[tuple[float, float]] = []
    pos = len(parts[0])
    for i, clip in enumerate(clips):
        bounds = speech_bounds(clip, rate)
        speech = clip[bounds[0] : bounds[1]] if bounds else clip[:0]
        spans.append((pos / rate, (pos + len(speech)) / rate))
        parts.append(np.asarray(speech, dtype=np.int16))
        pos += len(speech)
        gap = int(round((pauses[i] if i < len(pauses) else tail_s) * rate))
        parts.append(np.zeros(gap, dtype=np.int16))
        pos += gap
    if not clips:
        parts.append(np.zeros(int(round(tail_s * rate)), dtype=np.int16))
    return np.concatenate(parts), spans


# --------------------------------------------------------------------------
# Demo clip
# --------------------------------------------------------------------------


def _gst():
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ImportError, ValueError) as exc:
        raise MediaError(
            f"GStreamer Python bindings are not available ({exc})",
            "apt-get install gir1.2-gstreamer-1.0 and pip install PyGObject in the venv",
        ) from None
    if not Gst.is_initialized():
        Gst.init(None)
    return Gst


def _require_elements(Gst, names: list[str]) -> None:
    for name in names:
        if Gst.ElementFactory.find(name) is None:
            pkg = _ELEMENT_PACKAGES.get(name, "gstreamer1.0-plugins-good")
            raise MediaError(f"GStreamer element {name!r} is missing", f"apt-get install {pkg}")


def _audio_encoder(Gst) -> str:
    # Opus is what the live path uses; Vorbis is a fallback for odd builds.
    for enc in ("opusenc", "vorbisenc"):
        if Gst.ElementFactory.find(enc) is not None:
            return enc
    raise MediaError(
        "no GStreamer audio encoder (opusenc or vorbisenc) is available",
        "apt-get install gstreamer1.0-plugins-base",
    )


def _is_fresh(out_path: Path) -> bool:
    sidecars = [out_path.parent / TRANSCRIPT_NAME, out_path.parent / TIMINGS_NAME]
    if not out_path.exists() or not all(p.exists() for p in sidecars):
        return False
    try:  # a clip from before the on-screen graphics (or an older layout) is rebuilt
        if json.loads(sidecars[1].read_text(encoding="utf-8")).get("graphics") != graphics.VERSION:
            return False
    except (OSError, ValueError):
        return False
    return out_path.stat().st_mtime > SCRIPT_PATH.stat().st_mtime


def _mux(Gst, encoder: str, wav: Path, out_tmp: Path, duration_s: float,
         scenes: list[graphics.Scene] | None = None) -> None:
    """Speech from `wav` and a picture rendered frame by frame (scenes with on-screen text) into Matroska."""
    audio_caps = "audio/x-raw,rate=48000 ! " if encoder == "opusenc" else ""
    n_frames = int(math.ceil(duration_s * VIDEO_FPS))
    desc = (
        f"filesrc name=src ! wavparse ! audioconvert ! audioresample ! {audio_caps}"
        f"{encoder} ! queue ! mux. "
        "appsrc name=video format=time block=true max-bytes=4000000 "
        f"caps=video/x-raw,format=RGB,width={VIDEO_WIDTH},height={VIDEO_HEIGHT},framerate={VIDEO_FPS}/1 ! "
        "videoconvert ! video/x-raw,format=I420 ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={KEYFRAME_INTERVAL} bitrate=800 ! "
        "h264parse ! queue ! mux. "
        "matroskamux name=mux ! filesink name=sink"
    )
    pipeline = Gst.parse_launch(desc)
    # Locations are set as properties, not in the launch string, so paths
    # with spaces or quotes need no escaping.
    pipeline.get_by_name("src").set_property("location", str(wav))
    pipeline.get_by_name("sink").set_property("location", str(out_tmp))
    appsrc = pipeline.get_by_name("video")
    painter = graphics.Painter(VIDEO_WIDTH, VIDEO_HEIGHT, scenes if scenes is not None else [])
    bus = pipeline.get_bus()
    try:
        pipeline.set_state(Gst.State.PLAYING)
        frame_ns = Gst.SECOND // VIDEO_FPS
        for i in range(n_frames):
            buf = Gst.Buffer.new_wrapped(painter.frame(i / VIDEO_FPS).tobytes())
            buf.pts, buf.duration = i * frame_ns, frame_ns
            if appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                break  # the pipeline failed; its error is on the bus
        appsrc.emit("end-of-stream")
        msg = bus.timed_pop_filtered(
            _GST_TIMEOUT_S * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
        )
        if msg is None:
            raise MediaError(
                f"building the demo clip took longer than {_GST_TIMEOUT_S} s",
                "check the box is not overloaded, then retry",
            )
        if msg.type == Gst.MessageType.ERROR:
            err, _debug = msg.parse_error()
            raise MediaError(
                f"GStreamer failed while building the demo clip: {err.message}",
                "run `gst-inspect-1.0 x264enc matroskamux` to check the plugins; "
                "reinstall gstreamer1.0-plugins-good/-bad/-ugly",
            )
    finally:
        pipeline.set_state(Gst.State.NULL)


def build_demo_clip(out_path: Path) -> Path:
    """Builds the demo event (H.264 + Opus in Matroska) at `out_path`.

    Reuses the file when it is newer than script.txt. Beside it writes
    demo.txt (the reference transcript, one sentence a line) and demo.json
    (duration and per-sentence speech timings in stream seconds).
    """
    out_path = Path(out_path)
    if _is_fresh(out_path):
        return out_path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Checked before synthesis so a missing plugin fails fast, with its package.
    Gst = _gst()
    encoder = _audio_encoder(Gst)
    _require_elements(
        Gst,
        ["filesrc", "wavparse", "audioconvert", "audioresample", "appsrc", "videoconvert",
         "x264enc", "h264parse", "matroskamux", "queue", "filesink"],
    )

    sentences = read_sentences(SCRIPT_PATH)
    if not sentences:
        raise MediaError(f"the demo script {SCRIPT_PATH} has no sentences", "restore it with git checkout")
    clips, rates = zip(*(synthesize(s, DEMO_VOICE, DEMO_SPEED) for s in sentences))
    rate = rates[0]
    audio, spans = join_speech(
        list(clips), rate, [DEMO_PAUSE_S] * (len(clips) - 1), lead_s=DEMO_LEAD_S, tail_s=DEMO_TAIL_S
    )
    duration = len(audio) / rate

    workdir = Path(tempfile.mkdtemp(dir=out_path.parent, prefix=".demo-build-"))
    try:
        wav = workdir / "speech.wav"
        write_wav(wav, audio, rate)
        mkv_tmp = workdir / "demo_event.mkv"
        scenes = graphics.demo_scenes(duration)
        _mux(Gst, encoder, wav, mkv_tmp, duration, scenes)
        # Sidecars go first: the clip's presence is what marks the build done.
        write_text_atomic(out_path.parent / TRANSCRIPT_NAME, "\n".join(sentences) + "\n")
        timings = {
            "clip": out_path.name,
            "duration": round(duration, 3),
            "voice": DEMO_VOICE,
            "speed": DEMO_SPEED,
            "segments": [[round(a, 3), round(b, 3), s] for (a, b), s in zip(spans, sentences)],
            "graphics": graphics.VERSION,
            # What a viewer can read on screen, and when: the ground truth for OCR.
            "on_screen": graphics.on_screen(scenes, duration),
        }
        write_text_atomic(out_path.parent / TIMINGS_NAME, json.dumps(timings, indent=1) + "\n")
        os.replace(mkv_tmp, out_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out_path


def demo_clip_path(data_dir: Path) -> Path:
    """`data_dir/demo/demo_event.mkv`, built first if it is missing or stale."""
    return build_demo_clip(Path(data_dir) / "demo" / "demo_event.mkv")


def demo_segments(clip: Path) -> list[tuple[float, float, str]]:
    """The (start, end, text) speech timings written beside a built demo clip."""
    data = json.loads((Path(clip).parent / TIMINGS_NAME).read_text(encoding="utf-8"))
    return [(float(a), float(b), str(t)) for a, b, t in data["segments"]]
