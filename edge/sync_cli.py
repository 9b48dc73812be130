"""Box-side sync commands: `edge init`, `edge pair`, `edge assets add`, `edge sync`.

edge/cli.py calls register(sub, command), so these are ordinary `edge` subcommands.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from edge.errors import EdgeError
from edge.kinds import ASSET_KINDS

Command = Callable[..., argparse.ArgumentParser]


def register(sub: argparse._SubParsersAction, command: Command) -> None:
    i = command("init", _init, "Create a box data directory, its store and its sync keys (safe to re-run).")
    i.add_argument("--data", type=Path, required=True, help="the box's data directory")
    i.add_argument("--box-id", required=True, help="this box's name at the center")

    p = command("pair", _pair, "Point this box at a resource center.")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--center", required=True, help="the center's ZeroMQ endpoint, e.g. tcp://center.example:7750")
    p.add_argument("--center-key", type=Path, required=True, help="the center's public key file (edge-center init)")

    a = command("assets", _assets_help, "Work with the box's stored assets.")
    a_sub = a.add_subparsers(dest="assets_command", metavar="ACTION")
    add = a_sub.add_parser("add", help="store files as assets (they become pending sync); prints their ids")
    add.add_argument("--data", type=Path, required=True)
    add.add_argument("--kind", choices=ASSET_KINDS, default="upload")
    add.add_argument("--stream")
    add.add_argument("--tag", action="append", default=[], help="tag the assets (repeatable)")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add.set_defaults(func=_assets_add)
    st = a_sub.add_parser("status", help="what the outbox holds, as JSON")
    st.add_argument("--data", type=Path, required=True)
    st.set_defaults(func=_assets_status)

    s = command("sync", _sync, "Send pending assets to the paired center.")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--until-drained", action="store_true", help="exit 0 once nothing is left to send")
    s.add_argument("--timeout", type=float, help="give up (exit 1) after this many seconds")
    s.add_argument("--mqtt", help="broker URL for notices: mqtt://[user:pass@]host[:port] or mqtts://…")
    s.add_argument("--bandwidth-kbps", type=float, help="uplink cap in kbit/s")


def _init(args: argparse.Namespace) -> int:
    from cloud_sync.boxfiles import BoxFiles
    from edge.store import AssetStore
    from edge.store.migrate import import_legacy

    files = BoxFiles(args.data)
    public = files.init(args.box_id)
    with AssetStore(files.store) as store:  # creates it, and refuses if a running box holds it
        import_legacy(args.data, store)  # a data directory written by older software, once
    print(f"box {args.box_id}: data in {args.data}")
    print(public)
    return 0


def _pair(args: argparse.Namespace) -> int:
    from cloud_sync.boxfiles import BoxFiles

    if not args.center.startswith(("tcp://", "ipc://")):
        raise EdgeError(f"{args.center!r} is not a ZeroMQ endpoint", "use tcp://HOST:PORT")
    BoxFiles(args.data).pair(args.center, args.center_key)
    print(f"paired with {args.center}")
    return 0


def _assets_help(args: argparse.Namespace) -> int:
    raise EdgeError("`edge assets` needs an action", "use `edge assets add --data DIR FILE…`")


def _assets_add(args: argparse.Namespace) -> int:
    from cloud_sync.boxfiles import BoxFiles
    from edge.store import AssetStore
    from edge.store.migrate import import_legacy

    files = BoxFiles(args.data)
    files.read()
    with AssetStore(files.store) as store:
        import_legacy(args.data, store)  # a data directory written by older software, once
        for f in args.files:
            asset = store.add_file(f, kind=args.kind, stream=args.stream, tags=args.tag)
            print(asset.id)
    return 0


def _assets_status(args: argparse.Namespace) -> int:
    from cloud_sync.boxfiles import BoxFiles
    from cloud_sync.config import SyncConfig
    from cloud_sync.outbox import Outbox

    from edge.store.db import DB_NAME

    outbox = Outbox(BoxFiles(args.data).store / DB_NAME, SyncConfig())
    try:
        for item in outbox.queued():
            print(json.dumps({k: getattr(item, k) for k in item.__slots__}))
    finally:
        outbox.close()
    return 0


def _sync(args: argparse.Namespace) -> int:
    from cloud_sync.boxfiles import BoxFiles
    from cloud_sync.config import SyncConfig
    from cloud_sync.syncer import Syncer
    from edge.store import AssetStore
    from edge.store.migrate import import_legacy

    files = BoxFiles(args.data)
    files.pairing()  # not paired: say so before touching the store
    if not getattr(args, "verbose", False):
        # Link drops are expected and retried; without -v the outcome is the one line printed below.
        logging.getLogger("cloud_sync").setLevel(logging.ERROR)
    config = SyncConfig(bandwidth_kbps=args.bandwidth_kbps)
    with AssetStore(files.store) as store:
        import_legacy(args.data, store)  # a data directory written by older software, once
        syncer = Syncer(store, args.data, config, mqtt_url=args.mqtt)
        previous = {s: signal.signal(s, lambda *_: syncer.stop(timeout=0)) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            drained = syncer.run(until_drained=args.until_drained, timeout=args.timeout)
            state = syncer.link_state()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            syncer.outbox.close()
    if args.until_drained and not drained:
        why = "timed out" if args.timeout else "stopped"
        print(f"edge: sync {why} with {state['queue_depth']} assets ({state['bytes_pending']} bytes) left; "
              f"link {state['state']}, last error: {state['last_error']}", file=sys.stderr)
        return 1
    if args.until_drained:
        print(f"synced: outbox empty ({state['expired']} expired)")
    return 0
