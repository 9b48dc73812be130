"""`edge-center`: the resource center's command line (init, allow, serve, ls, export, notices, captions, broker)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from cloud_sync import keys
from cloud_sync.center import CenterError
from cloud_sync.center.server import CenterPaths, CenterServer
from edge import ids
from edge.durable import atomic_replace
from edge.errors import EdgeError

log = logging.getLogger("cloud_sync.center")

STOP_TIMEOUT_S = 10.0  # after SIGTERM/SIGINT, the longest the loop may take to let go


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose or args.func is _serve else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args) or 0
    except EdgeError as exc:
        print(f"edge-center: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edge-center", description="The newsroom's resource center for edge boxes.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--data", type=Path, required=True, help="the center's data directory")
        c.set_defaults(func=func)
        return c

    command("init", _init, "Create the center's keys; prints the public key file to give each box.")
    a = command("allow", _allow, "Authorize a box by its public key file (printed by `edge init`).")
    a.add_argument("key", type=Path, metavar="BOX_PUBLIC_KEY_FILE")
    s = command("serve", _serve, "Receive assets from paired boxes (SIGTERM/SIGINT stops cleanly).")
    s.add_argument("--bind", required=True, help="ZeroMQ endpoint, e.g. tcp://0.0.0.0:7750")
    s.add_argument("--mqtt", help="broker URL for box notices: mqtt://[user:pass@]host[:port] or mqtts://…")
    s.add_argument("--s3", help="keep finished objects in an S3-compatible store: http(s)://HOST:PORT/BUCKET[/PREFIX] "
                   "(credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    ls = command("ls", _ls, "List stored assets.")
    ls.add_argument("--json", action="store_true", help="one JSON object per asset")
    e = command("export", _export, "Write drafts as ninjs, captions as WebVTT and a manifest for the newsroom.")
    e.add_argument("--out", type=Path, required=True)
    n = command("notices", _notices, "List MQTT notices received from boxes.")
    n.add_argument("--json", action="store_true")
    c = command("captions", _captions, "Print a box's captions per stream and run, in order (live caption segments).")
    c.add_argument("--box", required=True, help="the box id, as allowed")
    c.add_argument("--stream", help="only this stream")
    c.add_argument("--json", action="store_true", help='JSON lines {"box", "stream", "run", "text", "start", "end", '
                   '"wall_start"}')
    c.add_argument("--live", action="store_true",
                   help="the finals as viewers saw them (default: the box's polished text in their place)")
    q = command("search", _search, "Search what every box sent: captions, transcripts, notes, uploads, drafts, tags.")
    q.add_argument("query", help="words or a phrase")
    q.add_argument("--limit", type=int, default=10)
    q.add_argument("--text-only", action="store_true", help="match words only (no embedding model needed)")
    q.add_argument("--json", action="store_true", help='print {"results": [{"box", "asset", "kind", "text", ...}]}')
    b = command("broker", _broker, "Write the MQTT broker's password and ACL files and the credential env files.")
    b.add_argument("--out", type=Path, required=True, help="directory for mosquitto.passwd, mosquitto.acl, *.env")
    b.add_argument("--box", action="append", default=[], help="a box id (default: every allowed box)")
    return p


def _search(args: argparse.Namespace) -> int:
    from cloud_sync.center.index import Index
    from cloud_sync.center.search import CenterSearch
    from cloud_sync.center.server import open_storage
    from edge.search.hybrid import QueryError, check_query

    try:
        check_query(args.query)
    except QueryError as exc:
        raise CenterError(str(exc), "run: edge-center search 'flood wall' --data DIR") from None
    embedder = None
    if not args.text_only:
        from edge.tagging.embeddings import Embedder

        embedder = Embedder.load()  # the registry's embedder; ModelError says how to provision it
    paths = _paths(args)
    index = Index(paths.index)
    search = CenterSearch(paths.root / "search.sqlite", embedder)
    try:
        search.refresh(index, open_storage(paths))
        hits = search.search(args.query, args.limit)
    finally:
        search.close()
        index.close()
    if args.json:
        print(json.dumps({"results": hits}, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for h in hits:
        where = f"{h.get('stream') or ''} +{h['start']:.1f}s" if h.get("start") is not None else (h.get("stream") or "")
        print(f"{printable(h['box']):12} {printable(h['kind']):15} {printable(where):20} {printable(h['text'][:100])}")
    return 0


def _paths(args: argparse.Namespace, must_exist: bool = True) -> CenterPaths:
    paths = CenterPaths(args.data)
    if must_exist and not paths.secret_key.exists():
        raise CenterError(f"{args.data} is not a center data directory", f"run `edge-center init --data {args.data}`")
    return paths


def _init(args: argparse.Namespace) -> int:
    print(_paths(args, must_exist=False).init())
    return 0


def _allow(args: argparse.Namespace) -> int:
    paths = _paths(args)
    public = keys.load_public(args.key)
    box = keys.metadata(args.key).get("box-id") or args.key.stem
    if not ids.is_match(ids.BOX_ID, box):
        raise CenterError(f"not allowed: the key's box id {box[:80]!r} is not a valid box id",
                          "box ids are letters, digits, '.', '_' or '-' (at most 64, not starting with . _ -); "
                          "make the box's keys again with `edge init --box-id NAME`")
    dest = paths.allowed / f"{box}.key"
    if dest.exists() and keys.load_public(dest) != public:
        raise CenterError(f"a different key is already allowed as box {box!r}",
                          f"remove {dest} first if that box was replaced")
    paths.allowed.mkdir(exist_ok=True)
    # The server reloads the directory; it must never see half a file.
    atomic_replace(dest, args.key.read_bytes())
    if keys.load_public(dest) != public:
        raise CenterError(f"not allowed: {dest} does not hold the key just written", "check the disk")
    print(f"allowed box {box} ({public.decode()})")
    return 0


def _serve(args: argparse.Namespace) -> int:
    paths = _paths(args)
    server = CenterServer(paths.root, args.bind, s3_url=args.s3)
    recorder = None
    if args.mqtt:
        from cloud_sync.center.index import Index
        from cloud_sync.center.notices import NoticeRecorder

        settings = json.loads(paths.settings.read_text()) if paths.settings.exists() else {}
        recorder = NoticeRecorder(args.mqtt, settings.get("mqtt_client_id", "edge-center"), Index(paths.index),
                                  allowed_dir=paths.allowed)
        recorder.start()
    stopping: list[float] = []

    def on_signal(*_: object) -> None:
        stopping.append(time.monotonic())
        server.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.serve_forever()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread below
            failure.append(e)

    # A daemon thread: if the loop is ever stuck, the process can still end.
    thread = threading.Thread(target=run, name="center", daemon=True)
    thread.start()
    while not server.ready.wait(0.5) and not stopping:
        pass
    if server.endpoint and not failure:
        print(f"edge-center: serving on {server.endpoint}", file=sys.stderr, flush=True)
    from edge.runtime.notify import Notifier

    notifier = Notifier()  # systemd Type=notify: ready once serving; the watchdog pinged while the loop lives
    if server.endpoint and not failure:
        notifier.ready(f"serving on {server.endpoint}")
    pinged = 0.0
    while thread.is_alive():
        thread.join(0.5)  # the main thread stays free to take signals
        if notifier.watchdog_s and not stopping and time.monotonic() - pinged >= notifier.watchdog_s / 2:
            notifier.watchdog()
            pinged = time.monotonic()
        if stopping and time.monotonic() - stopping[0] > STOP_TIMEOUT_S:
            log.error("the center did not stop within %.0f s of the signal; exiting anyway", STOP_TIMEOUT_S)
            _stop_recorder(recorder)
            logging.shutdown()
            os._exit(1)
    _stop_recorder(recorder)
    if failure:
        if isinstance(failure[0], EdgeError):
            raise failure[0]
        import zmq

        if isinstance(failure[0], zmq.ZMQError) and not server.endpoint:
            raise CenterError(f"cannot serve on {args.bind}: {failure[0]}", "pick a free port or a local address")
        # Exit non-zero so systemd restarts the center; the traceback is in the log.
        log.error("the center stopped on a fatal error", exc_info=failure[0])
        print(f"edge-center: fatal: {type(failure[0]).__name__}: {failure[0]}", file=sys.stderr)
        return 1
    return 0


def _stop_recorder(recorder: object) -> None:
    if recorder is None:
        return
    try:
        recorder.stop()  # type: ignore[attr-defined]
        recorder.index.close()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - stopping: the notices already recorded are on disk
        log.exception("while stopping the MQTT recorder")


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7f, *range(0x80, 0xa0)]}
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x200e, 0x200f, *range(0x202a, 0x202f), *range(0x2066, 0x206a))})


def printable(value: object) -> str:
    """Box-supplied text made safe for a terminal: control characters and bidi overrides escaped."""
    return str(value).replace("\\", "\\\\").translate(_CONTROL)


def _ls(args: argparse.Namespace) -> int:
    from cloud_sync.center.index import Index

    index = Index(_paths(args).index)
    try:
        for a in index.assets():
            a.pop("box_key", None)
            if args.json:
                print(json.dumps(a, sort_keys=True))
            else:
                span = _span(a["start"], a["end"])
                print(f"{printable(a['box']):12} {a['id']} {printable(a['kind']):13} {a['size']:>12} "
                      f"{printable(a['stream'] or ''):10} {printable(span):14} {printable(a['name'] or '')}")
    finally:
        index.close()
    return 0


def _span(start: float | None, end: float | None) -> str:
    """Stream seconds as people read them: 0.35-9.18, not 0.352-9.184000000000001."""
    if start is None:
        return ""
    return f"{start:.2f}-{end:.2f}" if end is not None else f"{start:.2f}-"


def _export(args: argparse.Namespace) -> int:
    from cloud_sync.center.export import export
    from cloud_sync.center.index import Index
    from cloud_sync.center.server import open_storage

    paths = _paths(args)
    index = Index(paths.index)
    try:
        manifest = export(index, open_storage(paths), args.out)
    finally:
        index.close()
    print(f"exported {len(manifest['assets'])} assets to {args.out}")
    return 0


def _notices(args: argparse.Namespace) -> int:
    from cloud_sync.center.index import Index

    index = Index(_paths(args).index)
    try:
        for n in index.notices():
            print(json.dumps(n, sort_keys=True) if args.json
                  else f"{printable(n['box']):12} {printable(n['topic']):28} {printable(n['payload'])}")
    finally:
        index.close()
    return 0


def _captions(args: argparse.Namespace) -> int:
    from cloud_sync.center.captions import caption_lines
    from cloud_sync.center.index import Index
    from cloud_sync.center.server import open_storage

    if not ids.is_match(ids.BOX_ID, args.box):
        raise CenterError(f"{args.box[:80]!r} is not a box id", "use the name `edge-center ls` shows")
    if args.stream is not None and not ids.is_match(ids.STREAM_NAME, args.stream):
        raise CenterError(f"{args.stream[:80]!r} is not a stream name", "use the name `edge-center ls` shows")
    paths = _paths(args)
    index = Index(paths.index)
    try:
        storage = open_storage(paths)
        for line in caption_lines(index, storage, args.box, args.stream, live=args.live):
            if args.json:
                print(json.dumps(line, ensure_ascii=False), flush=False)
            else:
                wall = (time.strftime("%H:%M:%S", time.gmtime(line["wall_start"]))
                        if line["wall_start"] is not None else "--:--:--")
                print(f"{printable(line['stream'])} {line['run']} {wall}Z {line['start']:9.2f}-{line['end']:<9.2f} "
                      f"{printable(line['text'])}")
    finally:
        index.close()
    return 0


def _broker(args: argparse.Namespace) -> int:
    from cloud_sync.center.broker import write_broker_files

    paths = _paths(args)
    boxes = args.box or sorted({f.stem for f in paths.allowed.glob("*.key")})
    for box in boxes:
        if not ids.is_match(ids.BOX_ID, box):
            raise CenterError(f"{box[:80]!r} is not a box id", "box ids are letters, digits, '.', '_' or '-'")
    written = write_broker_files(args.out, boxes)
    for f in written:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
