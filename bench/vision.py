"""Vision benchmark: OCR accuracy and speed per engine, face-blur recall, CPU per camera, caption latency.

    python -m bench.vision            # tables (about 5 minutes on the 2-core box)
    python -m bench.vision --json     # the same figures as one JSON object

- OCR: 24 frames rendered with four fonts, three sizes and four backgrounds
  (two lines each: names, places, numbers), encoded to H.264 at 800 kbit/s
  and decoded again through the box's own GStreamer ingest, then read by each
  engine (ONNX Runtime, OpenVINO pinned to f32). Character accuracy is
  1 - CER over each frame's lines in reading order; ms per frame is the
  median wall time of `OcrEngine.read` (640x360, detector at 640 px).
- Faces: OpenCV's bundled cascades on scikit-image's packaged faces: the LFW
  subset (100 face crops, 100 non-faces) at three sizes, and the astronaut
  and cameraman photographs.
- CPU per camera: the demo clip played at camera pace through the vision path
  alone (H.264 decode, 1 fps frames, keyframes, OCR under the scheduler), as
  process CPU seconds per wall second (1.0 = one core), without and with face
  blurring.
- Caption latency: the bench.scheduler clip captioned live alone, and while
  a camera's vision path runs on the same scheduler (A B B A).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"

FONTS = ["DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", None]  # None: Pillow's bundled font
SIZES = [18, 26, 38]
BACKGROUNDS = ["dark", "light", "riverside", "noise"]
LINES = [
    ("MARIA LOPEZ", "Fire Chief, Ashford"), ("LIVE", "Riverside Road, 14:05"), ("BREAKING NEWS", "Bridge closed"),
    ("DAVID OKAFOR", "Council Leader"), ("FLOOD WARNING", "River level 4.2 m"), ("Sarah Mills", "Reporter"),
    ("ELECTION 2026", "Turnout 61%"), ("Hauptbahnhof", "Gleis 7"), ("Café de la Gare", "Lyon"),
    ("WEATHER", "Storm due at 18:30"), ("Dr. Amira Haddad", "Hospital spokesperson"), ("A14 NORTHBOUND", "Junction 33"),
]


# ------------------------------------------------------------------------------- OCR frames


def _background(name: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    from edge.demo.graphics import BACKGROUNDS as PAINTERS

    if name == "noise":  # a busy picture: crowd, foliage
        base = rng.integers(40, 200, size=(h // 8, w // 8, 3), dtype=np.uint8)
        return np.kron(base, np.ones((8, 8, 1), np.uint8))
    return PAINTERS[name](w, h)


def render_frames(w: int = 640, h: int = 360) -> list[tuple[np.ndarray, str]]:
    """(picture, reference text) pairs: the text is the lines joined by spaces, top to bottom."""
    from PIL import Image, ImageDraw, ImageFont

    from edge.demo.graphics import font

    rng = np.random.default_rng(7)
    frames = []
    for fi, font_name in enumerate(FONTS):
        for si, size in enumerate(SIZES):
            for k in range(2):
                i = len(frames)
                bg = BACKGROUNDS[(fi + si + 2 * k) % len(BACKGROUNDS)]
                img = Image.fromarray(np.ascontiguousarray(_background(bg, w, h, rng)))
                draw = ImageDraw.Draw(img)
                f = font(size, font_name) if font_name else ImageFont.load_default(size)
                lines = LINES[i % len(LINES)]
                y = int(h * (0.15 if k == 0 else 0.62))
                for line in lines:
                    width = int(draw.textlength(line, font=f))
                    # A plate behind the text, as broadcast graphics have (but not on the busy picture).
                    if bg != "noise":
                        draw.rectangle((20, y - 4, 40 + width, y + size + 6),
                                       fill=(15, 35, 90) if bg != "light" else (250, 250, 250))
                    draw.text((30, y), line, font=f, fill=(255, 255, 255) if bg not in ("light",) else (10, 10, 10))
                    y += int(size * 1.5)
                frames.append((np.asarray(img), " ".join(lines)))
    return frames


def h264_round_trip(frames: list[np.ndarray], path: Path, fps: int = 5) -> list[np.ndarray]:
    """Each picture shown for one second in an H.264 clip, then decoded mid-second by the box's ingest."""
    from edge.demo import clip
    from edge.events import VideoFrame
    from edge.ingest.gstreamer import open_media

    Gst = clip._gst()
    h, w = frames[0].shape[:2]
    pipeline = Gst.parse_launch(
        f"appsrc name=src format=time block=true caps=video/x-raw,format=RGB,width={w},height={h},framerate={fps}/1 ! "
        "videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=800 "
        f"key-int-max={2 * fps} ! h264parse ! matroskamux ! filesink name=sink")
    pipeline.get_by_name("sink").set_property("location", str(path))
    src = pipeline.get_by_name("src")
    pipeline.set_state(Gst.State.PLAYING)
    n = 0
    for frame in frames:
        for _ in range(fps):
            buf = Gst.Buffer.new_wrapped(np.ascontiguousarray(frame).tobytes())
            buf.pts, buf.duration = n * Gst.SECOND // fps, Gst.SECOND // fps
            src.emit("push-buffer", buf)
            n += 1
    src.emit("end-of-stream")
    msg = pipeline.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise RuntimeError("encoding the OCR frames failed")
    decoded = {}
    for item in open_media(str(path), audio=False, video_fps=2.0, video_size=(w, h)):
        if isinstance(item, VideoFrame) and abs(item.pts % 1.0 - 0.5) < 0.01:
            decoded[int(item.pts)] = item.rgb
    return [decoded[i] for i in range(len(frames))]


def bench_ocr(engines: list[str], work: Path) -> dict:
    import jiwer

    from edge.vision.ocr import OcrEngine
    from edge.vision.settings import OcrSettings

    rendered = render_frames()
    decoded = h264_round_trip([f for f, _ in rendered], work / "ocr-frames.mkv")
    out = {}
    for name in engines:
        try:
            engine = OcrEngine(OcrSettings(engine=name, precision="f32", threads=os.cpu_count() or 2))
        except Exception as exc:  # e.g. OpenVINO not installed: say so in the table
            out[name] = {"error": str(exc)}
            continue
        engine.read(decoded[0])  # warm-up, not measured
        times, accs, exact = [], [], 0
        by_size: dict[int, list[float]] = {s: [] for s in SIZES}
        for i, (frame, (_, ref)) in enumerate(zip(decoded, rendered)):
            t0 = time.perf_counter()
            lines = engine.read(frame)
            times.append(time.perf_counter() - t0)
            hyp = " ".join(ln.text for ln in lines)
            acc = max(0.0, 1.0 - jiwer.cer(ref, hyp)) if hyp else 0.0
            accs.append(acc)
            exact += hyp == ref
            by_size[SIZES[(i // 2) % len(SIZES)]].append(acc)
        out[name] = {
            "frames": len(decoded), "char_accuracy": round(float(np.mean(accs)), 4), "exact_frames": exact,
            "ms_per_frame_median": round(1000 * statistics.median(times), 1),
            "ms_per_frame_p90": round(1000 * float(np.percentile(times, 90)), 1),
            "char_accuracy_by_size_px": {str(s): round(float(np.mean(v)), 4) for s, v in by_size.items()},
            "precisions": engine.inference_precisions(),
        }
    return out


# ------------------------------------------------------------------------------- faces


def bench_faces() -> dict:
    import cv2
    from skimage import data

    from edge.vision.privacy import FaceBlurrer

    blurrer = FaceBlurrer()
    lfw = data.lfw_subset()
    out: dict = {"lfw_subset": {}}
    for size in (48, 96, 160):
        side = size + 80

        def card(crop: np.ndarray) -> np.ndarray:
            canvas = np.full((side, side, 3), 90, np.uint8)
            face = cv2.resize((crop * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
            canvas[40:40 + size, 40:40 + size] = face[..., None]
            return canvas

        found = sum(bool(blurrer.detect(card(c))) for c in lfw[:100])
        false = sum(bool(blurrer.detect(card(c))) for c in lfw[100:])
        out["lfw_subset"][f"{size}px"] = {"faces_found": found, "of": 100, "false_alarms": false, "of_non_faces": 100}
    out["astronaut_faces_found"] = len(blurrer.detect(data.astronaut()))
    out["camera_faces_found"] = len(blurrer.detect(np.stack([data.camera()] * 3, -1)))
    frame = np.ascontiguousarray(cv2.resize(data.astronaut(), (640, 360)))
    blurrer.blur(frame)
    t0 = time.perf_counter()
    for _ in range(10):
        blurrer.blur(frame)
    out["ms_per_640x360_frame"] = round(100 * (time.perf_counter() - t0), 1)
    return out


# ------------------------------------------------------------------------------- CPU per camera


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def vision_path(clip: Path, *, blur: bool, scheduler=None, stop: threading.Event | None = None,
                seconds: float | None = None) -> dict:
    """The demo clip at camera pace through decode + vision only; returns CPU per wall second."""
    from edge.asr.streaming import StreamClock
    from edge.profiles import load_profile
    from edge.runtime.pipeline import Pipeline, StreamSpec
    from edge.vision.ocr import SharedOcr
    from edge.vision.privacy import FaceBlurrer
    from edge.vision.processor import VisionProcessor
    from edge.vision.snapshots import SnapshotBoard

    settings = load_profile("x86-cpu").vision
    ocr = SharedOcr(settings.ocr, scheduler=scheduler)
    ocr.get()  # loaded before the clock starts: loading is once per box, not per second of video
    processor = VisionProcessor("bench", settings, ocr=ocr, blurrer=FaceBlurrer() if blur else None,
                                snapshots=SnapshotBoard())
    stop = stop or threading.Event()
    if seconds is not None:
        threading.Timer(seconds, stop.set).start()
    events: list = []
    c0, t0 = _cpu_s(), time.monotonic()
    Pipeline(StreamSpec("bench", str(clip), live=True, video_fps=settings.fps), [processor],
             clock=StreamClock(), stop=stop).run(events.append)
    wall = time.monotonic() - t0
    return {"wall_s": round(wall, 1), "cores": round((_cpu_s() - c0) / wall, 3), "frames": processor.frames,
            "keyframes": sum(getattr(e, "KIND", "") == "keyframe" for e in events)}


# ------------------------------------------------------------------------------- caption latency


def caption_latency(clip: Path, rounds: int, sentences: int) -> dict:
    from bench.corpus import build_corpus
    from bench.scheduler import caption_live
    from edge.asr.models import SpeechModels
    from edge.demo.clip import read_wav
    from edge.profiles import load_profile
    from edge.runtime.scheduler import Scheduler

    item = next(i for i in build_corpus(OUT / "scheduler-corpus", limit=sentences) if i.name == "clean")
    pcm, rate = read_wav(item.wav)
    samples = pcm.astype(np.float32) / 32768.0
    models = SpeechModels.load(load_profile("x86-cpu"))
    models.whisper.decode(samples[: 3 * rate], models.profile.asr.streaming.final)  # warm-up
    rows: dict[str, list[float]] = {"alone": [], "with_vision": []}
    cpu: dict[str, list[float]] = {"alone": [], "with_vision": []}
    for i in range(rounds):
        for with_vision in ((False, True) if i % 2 == 0 else (True, False)):
            scheduler = models.whisper.scheduler = Scheduler()
            stop = threading.Event()
            thread = None
            if with_vision:
                thread = threading.Thread(target=vision_path, args=(clip,),
                                          kwargs={"blur": False, "scheduler": scheduler, "stop": stop}, daemon=True)
                thread.start()
                time.sleep(3.0)  # the camera is running (OCR loaded) before the first word
            c0, t0 = _cpu_s(), time.monotonic()
            events = caption_live(models, samples, stream="bench")
            key = "with_vision" if with_vision else "alone"
            cpu[key].append((_cpu_s() - c0) / (time.monotonic() - t0))
            stop.set()
            if thread is not None:
                thread.join(60)
            rows[key] += [e.emitted_at - e.end for e in events if e.type == "final"]
            print(f"... captions {key} done", file=sys.stderr, flush=True)
    return {k: {"finals": len(v), "latency_median_s": round(float(np.median(v)), 3) if v else None,
                "latency_p90_s": round(float(np.percentile(v, 90)), 3) if v else None,
                "process_cores": round(float(np.mean(cpu[k])), 3)} for k, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # OpenVINO first: once ONNX Runtime and GStreamer's decoder have run, OpenVINO's first inference
    # aborted the process (see edge.vision.ocr.preload_openvino); the box never runs both OCR engines.
    ap.add_argument("--engines", default="openvino,onnxruntime")
    ap.add_argument("--camera-seconds", type=float, default=30.0, help="how long each CPU-per-camera run lasts")
    ap.add_argument("--rounds", type=int, default=2, help="caption latency: alone/with-vision pairs (A B B A)")
    ap.add_argument("--sentences", type=int, default=5, help="caption latency: corpus sentences in the clip")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: ocr,faces,cpu,latency")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from edge.demo.clip import demo_clip_path
    from edge.vision.ocr import preload_openvino

    preload_openvino()  # before any decoding (see its docstring)
    work = OUT / "vision"
    work.mkdir(parents=True, exist_ok=True)
    clip = demo_clip_path(OUT / "vision-demo")
    result: dict = {"cpus": os.cpu_count(), "profile": "x86-cpu"}
    if "ocr" not in skip:
        result["ocr"] = bench_ocr(args.engines.split(","), work)
    if "faces" not in skip:
        result["faces"] = bench_faces()
    if "cpu" not in skip:
        result["cpu_per_camera"] = {
            "vision": vision_path(clip, blur=False, seconds=args.camera_seconds),
            "vision_and_blur": vision_path(clip, blur=True, seconds=args.camera_seconds)}
    if "latency" not in skip:
        result["caption_latency"] = caption_latency(clip, args.rounds, args.sentences)
    if args.json:
        print(json.dumps(result))
    else:
        print_tables(result)
    (OUT / "vision.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


def print_tables(r: dict) -> None:
    if "ocr" in r:
        print("\nOCR after an H.264 round trip (24 frames: 4 fonts x 3 sizes x 4 backgrounds, 640x360)")
        print(f"{'engine':<12} {'char acc':>9} {'exact':>7} {'ms/frame':>9} {'p90 ms':>8}  by size (px)")
        for name, row in r["ocr"].items():
            if "error" in row:
                print(f"{name:<12} {row['error']}")
                continue
            sizes = ", ".join(f"{k}: {v:.3f}" for k, v in row["char_accuracy_by_size_px"].items())
            print(f"{name:<12} {row['char_accuracy']:>9.4f} {row['exact_frames']:>4}/{row['frames']:<2} "
                  f"{row['ms_per_frame_median']:>9.1f} {row['ms_per_frame_p90']:>8.1f}  {sizes}")
    if "faces" in r:
        f = r["faces"]
        print("\nFace detection (OpenCV Haar, frontal + profile both ways) on scikit-image's packaged faces")
        for size, row in f["lfw_subset"].items():
            print(f"LFW subset at {size:>6}: {row['faces_found']}/100 found, {row['false_alarms']}/100 false alarms")
        print(f"astronaut: {f['astronaut_faces_found']} face(s) found (1 in the picture); cameraman: "
              f"{f['camera_faces_found']} (1, in three-quarter view); {f['ms_per_640x360_frame']} ms per 640x360 frame")
    if "cpu_per_camera" in r:
        print("\nCPU of the vision path per camera (demo clip at camera pace, 1 fps, 1.0 = one core)")
        for name, row in r["cpu_per_camera"].items():
            print(f"{name:<16} {row['cores']:.3f} cores over {row['wall_s']} s ({row['frames']} frames, "
                  f"{row['keyframes']} keyframes)")
    if "caption_latency" in r:
        print("\nLive caption latency (emitted_at - end of each final), alone and beside one camera's vision path")
        for name, row in r["caption_latency"].items():
            print(f"{name:<12} finals {row['finals']:>3}  median {row['latency_median_s']} s  "
                  f"p90 {row['latency_p90_s']} s  process {row['process_cores']} cores")


if __name__ == "__main__":
    sys.exit(main())
