"""`edge` console script. Subcommands stay thin and call the modules that do the work."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from edge.errors import EdgeError

log = logging.getLogger("edge")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except EdgeError as exc:
        print(f"edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edge transcribe ... | head` closed our stdout
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge", description="Edge box for news crews: live captions on local models.")
    p.add_argument("-v", "--verbose", action="store_true", help="log what the box is doing")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--profile", help="device profile in firmware_configs/ (default: detected from the hardware)")
        c.set_defaults(func=func)
        return c

    t = command("transcribe", _transcribe, "Caption a file, rtsp:// URL or capture device.")
    t.add_argument("media", help="file path, rtsp://… / http(s)://… URL, /dev/videoN or alsa:DEVICE")
    t.add_argument("--json", action="store_true", help="one JSON caption event per line (same as --format json)")
    t.add_argument("--format", choices=["text", "json", "vtt", "srt"], default="text")
    t.add_argument("--live", action="store_true", help="feed files at real-time pace and emit partial captions")
    t.add_argument("--stream", default="main", help="stream name carried in every event")
    t.add_argument("-o", "--output", type=Path, help="write captions here instead of standard output")

    m = command("models", _models, "List or provision the model registry.")
    m.add_argument("action", choices=["list", "provision"])

    command("profiles", _profiles, "List device profiles and show the detected one.")

    d = command("demo", _demo, "Serve the bundled demo event from the local RTSP camera and caption it live.")
    d.add_argument("--data", type=Path, default=Path("var/demo"), help="where the demo clip is built")
    d.add_argument("--port", type=int, default=8554, help="RTSP port of the stand-in camera (127.0.0.1)")
    return p


# -- transcribe ------------------------------------------------------------------


def _transcribe(args: argparse.Namespace) -> int:
    from edge.asr.captions import to_srt, to_webvtt
    from edge.asr.models import SpeechModels
    from edge.profiles import load_profile

    fmt = "json" if args.json else args.format
    profile = load_profile(args.profile)
    models = SpeechModels.load(profile)
    events = caption_media(models, args.media, stream=args.stream, live=args.live)
    out = args.output.open("w") if args.output else sys.stdout
    try:
        if fmt in {"vtt", "srt"}:
            finals = [e for e in events if e.type == "final"]
            out.write(to_webvtt(finals) if fmt == "vtt" else to_srt(finals))
        else:
            for ev in events:
                if fmt == "json":
                    out.write(json.dumps(ev.to_json()) + "\n")
                elif ev.type == "final":
                    out.write(f"[{ev.start:7.2f} → {ev.end:7.2f}] {ev.text}\n")
                out.flush()
    finally:
        if args.output:
            out.close()
    return 0


def caption_media(models, media: str, *, stream: str, live: bool) -> Iterator:
    """Open `media`, feed its audio through a caption stream, yield caption events."""
    from edge.asr.streaming import StreamClock, pace_realtime
    from edge.ingest.gstreamer import RetryPolicy, is_live_source, open_media

    live_source = is_live_source(media)
    clock = StreamClock()
    source = open_media(media, stream=stream, audio=True, retry=RetryPolicy() if live_source else None)
    audio = _audio_only(source)
    if live_source:
        audio = _anchored(audio, clock)
    elif live:
        audio = pace_realtime(audio, clock)
    captions = models.caption_stream(stream, live=live or live_source, clock=clock.now if (live or live_source) else None)
    try:
        yield from captions.run(audio)
    finally:
        source.close()


def _audio_only(source: Iterable) -> Iterator:
    from edge.events import AudioChunk, SourceStatus

    for ev in source:
        if isinstance(ev, AudioChunk):
            yield ev
        elif isinstance(ev, SourceStatus) and ev.state in {"retrying", "failed"}:
            print(f"edge: {ev.stream}: {ev.state}: {ev.message}", file=sys.stderr)


def _anchored(chunks: Iterable, clock) -> Iterator:
    for chunk in chunks:
        clock.anchor(chunk.end)
        yield chunk


# -- models / profiles --------------------------------------------------------------


def _models(args: argparse.Namespace) -> int:
    from edge.registry import Registry

    registry = Registry()
    manifests = registry.manifests()
    if args.action == "provision":
        for manifest in manifests:
            status = registry.provision(manifest)
            print(f"{manifest.name:22} {status.state:8} {status.directory}")
        return 0
    bad = 0
    for manifest in manifests:
        status = registry.status(manifest)
        size = sum(f.size for f in manifest.files) / 1e6
        print(f"{manifest.name:22} {manifest.task:5} {manifest.backend:12} {manifest.precision:8} {size:7.1f} MB  {status.state}"
              + (f"  ({status.detail})" if status.detail else ""))
        bad += status.state != "ok"
    if bad:
        print("some models are not usable: run 'edge models provision'", file=sys.stderr)
    return 1 if bad else 0


def _profiles(args: argparse.Namespace) -> int:
    from edge.profiles import detect_profile_name, list_profiles, load_profile

    detected = detect_profile_name()
    for name in list_profiles():
        profile = load_profile(name)
        mark = "*" if name == (args.profile or detected) else " "
        print(f"{mark} {name:14} {profile.description}")
    return 0


# -- demo ----------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from edge.asr.models import SpeechModels
    from edge.demo.clip import demo_clip_path
    from edge.ingest.rtsp import RtspTestServer
    from edge.profiles import load_profile

    clip = demo_clip_path(args.data)
    profile = load_profile(args.profile)
    models = SpeechModels.load(profile)
    with RtspTestServer(media=str(clip), path="/demo", port=args.port, loop=True) as camera:
        print(f"demo camera: {camera.url} serving {clip}", file=sys.stderr)
        print(f"profile: {profile.name}; captions follow (final lines; Ctrl-C stops)", file=sys.stderr)
        for ev in caption_media(models, camera.url, stream="demo", live=True):
            if ev.type == "final":
                print(f"[{ev.start:7.2f} → {ev.end:7.2f}] {ev.text}", flush=True)
            elif sys.stderr.isatty():
                print(f"\r… {ev.text[-70:]:70}", end="\r", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
