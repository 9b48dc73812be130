"""`edge-center`: the resource center's command line (init, allow, serve, ls, export, notices)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from cloud_sync import keys
from cloud_sync.center import CenterError
from cloud_sync.center.server import CenterPaths, CenterServer
from edge.errors import EdgeError


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
    return p


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
    dest = paths.allowed / f"{box}.key"
    if dest.exists() and keys.load_public(dest) != public:
        raise CenterError(f"a different key is already allowed as box {box!r}",
                          f"remove {dest} first if that box was replaced")
    paths.allowed.mkdir(exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(args.key, tmp)
    os.replace(tmp, dest)  # the server reloads the directory; never let it see half a file
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
        recorder = NoticeRecorder(args.mqtt, settings.get("mqtt_client_id", "edge-center"), Index(paths.index))
        recorder.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stop())
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.serve_forever()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread below
            failure.append(e)

    thread = threading.Thread(target=run, name="center")
    thread.start()
    server.ready.wait()
    if server.endpoint:
        print(f"edge-center: serving on {server.endpoint}", file=sys.stderr, flush=True)
    while thread.is_alive():
        thread.join(0.5)  # the main thread stays free to take signals
    if recorder is not None:
        recorder.stop()
        recorder.index.close()
    if failure:
        if isinstance(failure[0], EdgeError):
            raise failure[0]
        import zmq

        if isinstance(failure[0], zmq.ZMQError):
            raise CenterError(f"cannot serve on {args.bind}: {failure[0]}", "pick a free port or a local address")
        raise failure[0]
    return 0


def _ls(args: argparse.Namespace) -> int:
    from cloud_sync.center.index import Index

    index = Index(_paths(args).index)
    try:
        for a in index.assets():
            a.pop("box_key", None)
            if args.json:
                print(json.dumps(a, sort_keys=True))
            else:
                span = f"{a['start']}-{a['end']}" if a["start"] is not None else ""
                print(f"{a['box']:12} {a['id']} {a['kind']:13} {a['size']:>12} {a['stream'] or '':10} {span:14} {a['name']}")
    finally:
        index.close()
    return 0


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
            print(json.dumps(n, sort_keys=True) if args.json else f"{n['box']:12} {n['topic']:28} {n['payload']}")
    finally:
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
