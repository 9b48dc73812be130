"""`edge` console script. Subcommands stay thin and call the modules that do the work."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path

from edge.asr.glossary import DEFAULT_MODE as DEFAULT_GLOSSARY_MODE
from edge.errors import EdgeError

log = logging.getLogger("edge")

# Modules that add `edge` subcommands; a feature adds its own line here.
COMMAND_MODULES: tuple[str, ...] = (
    "edge.sync_cli",
    "edge.tagging.cli",
    "edge.search.cli",
    "edge.ingest.mqtt_broker",
    "edge.doctor",
    "edge.users_cli",
    "edge.vision.cli",
    "edge.drafts.cli",
)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from edge.logs import setup_logging

    setup_logging(verbose=args.verbose, fmt=args.log_format, file=args.log_file)
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
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="json: one JSON object per log line (for the journal or a log shipper)")
    p.add_argument("--log-file", type=Path, help="log to this file, rotated at 10 MB (5 kept), instead of stderr")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--profile", help="device profile in firmware_configs/ (default: detected from the hardware)")
        c.set_defaults(func=func)
        return c

    t = command("transcribe", _transcribe, "Caption files, rtsp:// cameras or capture devices (several run side by side).")
    t.add_argument("media", nargs="+", help="file path, rtsp://… / http(s)://… URL, /dev/videoN or alsa:DEVICE; "
                   "NAME=MEDIA names the stream")
    t.add_argument("--json", action="store_true", help="one JSON caption event per line (same as --format json)")
    t.add_argument("--format", choices=["text", "json", "vtt", "srt"], default="text")
    t.add_argument("--live", action="store_true", help="feed files at real-time pace and emit partial captions")
    t.add_argument("--stream", default="main", help="stream name carried in every event (one source)")
    t.add_argument("--max-retries", type=int, default=None,
                   help="give up on a live source after this many failed reconnects (default: never)")
    t.add_argument("--connect-timeout", type=float, default=15.0, metavar="SECONDS",
                   help="give up on a live source that has not played within this many seconds of starting "
                        "(default: 15); once it has played, a drop is retried")
    t.add_argument("-o", "--output", type=Path, help="write captions here instead of standard output")
    t.add_argument("--model", help="ASR model from the registry instead of the profile's (e.g. whisper-base: multilingual)")
    t.add_argument("--language", help="language spoken: a code (en, es, de, fr, ...) or auto (detected, then held); "
                   "other than en needs a multilingual model")
    t.add_argument("--task", choices=["transcribe", "translate"], default="transcribe",
                   help="translate: English captions of other languages (Whisper's translate task; rough on small models)")
    t.add_argument("--glossary", type=Path, help="the event's names, one per line ('Name | sounds like')")
    t.add_argument("--glossary-mode", choices=["correct", "prompt", "both"], default=DEFAULT_GLOSSARY_MODE,
                   help="correct (default: fixes names after decoding, leaves other speech as it was); prompt: "
                   "give them to Whisper as context (more names, but worse WER elsewhere, bench.glossary); both")

    m = command("models", _models, "List or provision the model registry.")
    m.add_argument("action", choices=["list", "provision"])

    command("profiles", _profiles, "List device profiles and show the detected one.")

    # Each feature keeps its commands in its own module with register(sub, command).
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub, command)

    r = command("run", _run, "Run the box: streams, captions, store and the crew's dashboard.")
    r.add_argument("--data", type=Path, required=True, help="the box's data directory (store, users, demo clip)")
    r.add_argument("--config", type=Path, help="box configuration (YAML): streams, dashboard, store")
    r.add_argument("--host", help="dashboard address (default from config: 0.0.0.0)")
    r.add_argument("--port", type=int, help="dashboard port (default from config: 8080)")
    r.add_argument("--demo", action="store_true", help="add the bundled demo event, served by the local RTSP camera")
    r.add_argument("--rtsp-port", type=int, default=8554, help="port of the demo RTSP camera on 127.0.0.1")
    r.add_argument("--show-captions", action="store_true", help="also print each final caption in the terminal")
    r.add_argument("--mqtt", help="MQTT broker (mqtt://HOST:PORT) for status and notices, and whose sensors/# "
                   "topics the box subscribes to (default from config; else the box starts its own broker)")

    d = command("demo", _demo, "Serve the bundled demo event from the local RTSP camera and caption it live.")
    d.add_argument("--data", type=Path, default=Path("var/demo"), help="where the demo clip is built")
    d.add_argument("--port", type=int, default=8554, help="RTSP port of the stand-in camera (127.0.0.1)")
    return p


# -- transcribe ------------------------------------------------------------------


def _transcribe(args: argparse.Namespace) -> int:
    from edge.asr.captions import PunctuationJoin, to_srt, to_webvtt
    from edge.asr.models import SpeechModels
    from edge.events import CaptionEvent, SourceStatus
    from edge.ingest.gstreamer import RetryPolicy
    from edge.profiles import load_profile
    from edge.runtime.streams import StreamFailed, run_streams

    fmt = "json" if args.json else args.format
    sources = _name_sources(args.media, args.stream)
    if fmt in {"vtt", "srt"} and len(sources) > 1:
        raise EdgeError("--format vtt/srt writes one caption file for one source", "caption one source at a time")
    from edge.asr.glossary import Glossary
    from edge.asr.options import caption_options, with_model

    glossary = Glossary.load(args.glossary) if args.glossary else None  # a bad file is named before models load
    profile = with_model(load_profile(args.profile), args.model)
    models = SpeechModels.load(profile)
    options = caption_options(models.whisper, language=args.language, task=args.task, glossary=glossary,
                              glossary_mode=args.glossary_mode)
    out = args.output.open("w") if args.output else sys.stdout
    finals: list[CaptionEvent] = []
    failures: list[StreamFailed] = []
    lines = _CaptionLines(out)
    try:
        if args.connect_timeout <= 0:
            raise EdgeError(f"--connect-timeout must be positive, got {args.connect_timeout:g}",
                            "give the seconds a camera may take to answer, e.g. --connect-timeout 15")
        retry = RetryPolicy(max_attempts=args.max_retries, connect_timeout=args.connect_timeout)
        played: set[str] = set()  # streams that delivered media: only their drops are worth a line
        punctuation = PunctuationJoin()

        def emit(ev: CaptionEvent) -> None:
            if fmt in {"vtt", "srt"}:
                finals.append(ev)
            elif fmt == "json":
                out.write(json.dumps(ev.to_json()) + "\n")
            elif ev.type == "final":
                lines.add(ev, f"{ev.stream}: " if len(sources) > 1 else "")
            out.flush()

        for ev in run_streams(models, sources, live=args.live, retry=retry, options=options):
            if isinstance(ev, StreamFailed):
                failures.append(ev)
                prefix = f"{ev.stream}: " if len(sources) > 1 else ""
                print(f"edge: error: {prefix}{ev.error}", file=sys.stderr)
            elif isinstance(ev, SourceStatus):
                if ev.state == "playing":
                    played.add(ev.stream)
                elif ev.state == "retrying" and ev.stream in played:
                    # A source that never connected stays quiet until it plays or its one error line.
                    print(f"edge: {ev.stream}: {ev.message} (attempt {ev.attempt})", file=sys.stderr)
            elif isinstance(ev, CaptionEvent):
                for caption in punctuation.feed(ev):
                    emit(caption)
        lines.flush()
        if fmt in {"vtt", "srt"} and not failures:
            out.write(to_webvtt(finals) if fmt == "vtt" else to_srt(finals))
    finally:
        if args.output:
            out.close()
    return 2 if failures else 0


class _CaptionLines:
    """Finals joined into readable lines: a line ends at a sentence end or when it is long."""

    def __init__(self, out, width: int = 80) -> None:
        self._out, self._width = out, width
        self._line: dict[str, tuple[float, str]] = {}

    def add(self, ev, label: str = "") -> None:
        from edge.asr.captions import join_text

        start, text = self._line.get(ev.stream, (ev.start, ""))
        text = join_text(text, ev.text)
        if text.endswith((".", "?", "!")) or len(text) >= self._width:
            self._out.write(f"[{start:7.2f} → {ev.end:7.2f}] {label}{text}\n")
            self._line.pop(ev.stream, None)
        else:
            self._line[ev.stream] = (start, text)

    def flush(self) -> None:
        for stream, (start, text) in self._line.items():
            self._out.write(f"[{start:7.2f}] {text}\n")
        self._line.clear()


def _name_sources(media: list[str], single_name: str) -> dict[str, str]:
    if len(media) == 1 and "=" not in media[0].split("://")[0]:
        return {single_name: media[0]}
    sources: dict[str, str] = {}
    for i, m in enumerate(media, 1):
        name, sep, uri = m.partition("=")
        if not sep or "/" in name or ":" in name:
            name, uri = f"s{i}", m
        if name in sources:
            raise EdgeError(f"stream name '{name}' is given twice", "give each source its own NAME=MEDIA")
        sources[name] = uri
    return sources


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


# -- run -------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.dashboard.app import serve
    from edge.runtime.box import Box
    from edge.runtime.console import ConsoleReporter
    from edge.runtime.listen import bind_dashboard, dashboard_urls

    config = load_config(args.config)
    host = args.host or config.dashboard.host
    port = args.port or config.dashboard.port
    # First of all: a busy port is said before the box opens its store or shows a one-time password.
    sock = bind_dashboard(host, port)
    camera = box = console = None
    try:
        if args.demo:  # a busy camera port is also said before the box opens
            camera = _start_demo_camera(args.data, args.rtsp_port)
        box = Box.open(args.data, config, args.profile)
        box.start()
        console = ConsoleReporter(box.bus, show_captions=args.show_captions, sync_state=box.sync_state).start()
        # The remembered streams come back first; the demo is added beside them and never saved over them.
        box.start_configured_streams()
        if camera is not None:
            _add_demo_stream(box, camera.url)
        print(_sync_line(box, args.data, args.mqtt), file=sys.stderr)
        try:
            for line in box.start_sensors(args.mqtt, demo=args.demo):
                print(line, file=sys.stderr)
        except EdgeError as exc:  # no broker: the box still captions; the line says how to fix it
            print(f"sensors: off ({exc})", file=sys.stderr)
        scheme = "https" if config.dashboard.tls == "auto" else "http"  # serve() makes the certificate
        urls = dashboard_urls(host, port, scheme)
        print(f"dashboard: {urls[0]}  (profile {box.profile.name})", file=sys.stderr)
        if len(urls) > 1:
            print(f"  from a phone on the same network: {'  '.join(urls[1:])}", file=sys.stderr)
        print("Ctrl-C stops the box.", file=sys.stderr, flush=True)
        # Web access lines would drown the stream and sync news: uvicorn only reports problems.
        supervision = _systemd_supervision(box, host, port, config)  # READY, then earned WATCHDOG pings
        try:
            serve(box, host, port, sock=sock, access_log=False, log_level="warning")
        finally:
            supervision.stop()
    finally:
        sock.close()
        if box is not None:
            box.close()
        if console is not None:
            console.stop()
        if camera is not None:
            camera.stop()
    return 0


def _start_demo_camera(data: Path, rtsp_port: int):
    from edge.demo.clip import demo_clip_path
    from edge.errors import MediaError
    from edge.ingest.rtsp import RtspTestServer

    camera = RtspTestServer(media=str(demo_clip_path(data)), path="/demo", port=rtsp_port, loop=True)
    try:
        camera.start()
    except MediaError as exc:
        raise EdgeError(exc.problem, f"stop the other server, or pick another port: --rtsp-port {rtsp_port + 1}") from None
    print(f"demo camera: {camera.url}", file=sys.stderr)
    return camera


def _add_demo_stream(box, url: str) -> None:
    # A remembered stream the crew called "demo" keeps its name; the demo then takes the next free one.
    taken = {h.name for h in box.supervisor.streams()}
    name = next(n for n in ("demo", *(f"demo-{i}" for i in range(2, 100))) if n not in taken)
    box.supervisor.add_stream(name, url, remember=False)


def _sync_line(box, data: Path, mqtt: str | None) -> str:
    """Say plainly whether the box syncs, and if it is not set up, how to set it up."""
    from cloud_sync.boxfiles import BoxFiles

    line = box.start_sync(mqtt)
    if box.syncer is not None:
        return line
    files = BoxFiles(data)
    how = (f"`edge pair --data {data} --center tcp://HOST:5555 --center-key CENTER_KEY_FILE` "
           "(README: Syncing to the newsroom)")
    if not files.settings.exists():
        return ("sync: not set up, so captions and media stay on this box. To send them to a newsroom: "
                f"`edge init --data {data} --box-id NAME`, then {how}")
    try:
        files.pairing()
    except EdgeError:
        return ("sync: not set up (this box is not paired with a newsroom center yet), so captions and media "
                f"stay on this box. To pair it: {how}")
    return line.replace("sync: off (", "sync: cannot start (", 1)


def _systemd_supervision(box, host: str, port: int, config):
    """Under systemd (Type=notify): READY once the dashboard answers, WATCHDOG while the box is healthy."""
    from edge.runtime.notify import Notifier, Supervision, dashboard_answers

    scheme = "https" if getattr(config.dashboard, "tls", None) == "auto" else "http"
    local = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host

    def post_processors() -> str | None:
        thread = box.post._thread
        return None if thread is None or thread.is_alive() else "the post-processor loop stopped"

    def status() -> str:
        streams = box.supervisor.streams()
        playing = sum(s.state == "playing" for s in streams)
        return f"{playing}/{len(streams)} streams playing; dashboard on port {port}"

    return Supervision(Notifier(), [dashboard_answers(f"{scheme}://{local}:{port}/api/health"), post_processors],
                       status=status).start()


# -- demo ----------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from edge.asr.models import SpeechModels
    from edge.demo.clip import demo_clip_path
    from edge.ingest.rtsp import RtspTestServer
    from edge.profiles import load_profile
    from edge.runtime.streams import caption_media

    clip = demo_clip_path(args.data)
    profile = load_profile(args.profile)
    models = SpeechModels.load(profile)
    with RtspTestServer(media=str(clip), path="/demo", port=args.port, loop=True) as camera:
        print(f"demo camera: {camera.url} serving {clip}", file=sys.stderr)
        print(f"profile: {profile.name}; captions follow (final lines; Ctrl-C stops)", file=sys.stderr)
        lines = _CaptionLines(sys.stdout)
        for ev in caption_media(models, camera.url, stream="demo", live=True):
            if ev.type == "final":
                lines.add(ev)
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
