"""Box-side sync commands: `edge init`, `edge pair`, `edge assets add`, `edge sync`.

edge/cli.py calls register(sub, command), so these are ordinary `edge` subcommands.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
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
    st = a_sub.add_parser("status", help="stored assets per kind and sync state, and what waits to be sent")
    st.add_argument("--data", type=Path, required=True)
    st.add_argument("--json", action="store_true", help="the outbox items as one JSON list ([] when empty)")
    st.set_defaults(func=_assets_status)

    s = command("sync", _sync, "Send pending assets to the paired center.")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--until-drained", action="store_true", help="exit 0 once nothing is left to send")
    s.add_argument("--timeout", type=float, help="give up (exit 1) after this many seconds")
    s.add_argument("--mqtt", help="broker URL for notices: mqtt://[user:pass@]host[:port] or mqtts://…")
    s.add_argument("--bandwidth-kbps", type=float, help="uplink cap in kbit/s")
    s.add_argument("--progress-every", type=float, default=5.0, metavar="SECONDS",
                   help="print a progress line on stderr this often (0: never; default 5)")


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

    db = BoxFiles(args.data).store / DB_NAME
    if not db.is_file():
        raise EdgeError(f"{args.data} has no store yet",
                        f"run `edge init --data {args.data} --box-id NAME` or `edge run` first")
    outbox = Outbox(db, SyncConfig())
    try:
        items = outbox.queued()
        totals = outbox.asset_totals()
    finally:
        outbox.close()
    if args.json:
        print(json.dumps([{k: getattr(item, k) for k in item.__slots__} for item in items]))
        return 0
    for line in status_table(totals, items):
        print(line)
    return 0


def status_table(totals: list[tuple[str, str, int, int]], items: list) -> list[str]:
    """Counts per kind and sync state, then the outbox in a line, then each asset that has failed."""
    states = ("pending", "synced", "evicted")
    kinds = sorted({k for k, *_ in totals})
    counts = {(k, s): (n, b) for k, s, n, b in totals}
    lines = [f"{'kind':16}" + "".join(f"{s:>10}" for s in states) + f"{'size':>12}"]
    for kind in kinds + ["total"]:
        row = [sum(counts.get((k, s), (0, 0))[0] for k in (kinds if kind == "total" else [kind])) for s in states]
        size = sum(b for (k, _s), (_n, b) in counts.items() if kind in ("total", k))
        lines.append(f"{kind:16}" + "".join(f"{n:>10}" for n in row) + f"{_size(size):>12}")
    if not kinds:
        lines.append("(no assets stored yet: captions, uploads and drafts appear here as the box makes them)")
    by_state: dict[str, int] = {}
    for item in items:
        by_state[item.state] = by_state.get(item.state, 0) + 1
    waiting = sum(max(i.size - i.acked_bytes, 0) for i in items if i.state != "expired")
    lines.append(f"outbox: {by_state.get('queued', 0)} queued, {by_state.get('held', 0)} held, "
                 f"{by_state.get('expired', 0)} expired; {_size(waiting)} to send")
    for item in items:
        if item.last_error:
            lines.append(f"  {item.asset_id} {item.kind}: {item.attempts} attempt{'' if item.attempts == 1 else 's'}, "
                         f"last error: {item.last_error}")
    return lines


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def progress_line(state: dict, started: float) -> str:
    """One line: what went, what waits, how fast, and what the link is doing (and why, when it is not up)."""
    elapsed = max(time.monotonic() - started, 1e-9)
    link = state["state"]
    if link == "up":
        doing = f"sending at {state['rate_bps'] / 1e6:.2f} Mbit/s"
    else:
        why = state.get("last_error") or "no answer from the center yet"
        doing = f"link {link}, retrying: {why}"
    return (f"sync: sent {state['sent']} asset{'' if state['sent'] == 1 else 's'} ({_size(state['sent_bytes'])}, "
            f"{_size(state['sent_bytes'] / elapsed)}/s average), {state['queue_depth']} pending "
            f"({_size(state['bytes_pending'])}); {doing}")


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
        done = threading.Event()
        started = time.monotonic()

        def report() -> None:  # progress on stderr while the main thread syncs
            while args.progress_every > 0 and not done.wait(args.progress_every):
                print(progress_line(syncer.link_state(), started), file=sys.stderr, flush=True)

        reporter = threading.Thread(target=report, name="sync-progress", daemon=True)
        reporter.start()
        try:
            drained = syncer.run(until_drained=args.until_drained, timeout=args.timeout)
            state = syncer.link_state()
        finally:
            done.set()
            reporter.join(5)
            for s, h in previous.items():
                signal.signal(s, h)
            syncer.outbox.close()
    if args.until_drained and not drained:
        why = "timed out" if args.timeout else "stopped"
        left = state["queue_depth"]
        print(f"edge: sync {why} with {left} asset{'' if left == 1 else 's'} ({state['bytes_pending']} bytes) left; "
              f"link {state['state']}, last error: {state['last_error']}", file=sys.stderr)
        return 1
    if args.until_drained:
        print(f"synced: outbox empty; {state['sent']} asset{'' if state['sent'] == 1 else 's'} sent "
              f"({_size(state['sent_bytes'])}), {state['expired']} expired")
    return 0
