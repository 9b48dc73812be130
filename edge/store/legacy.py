"""Read a box data directory in the OLD format (before the one-database store), for a one-time import.

The old layout (edge/store and cloud_sync at commit b06914b):

    DATA/store/LOCK                          flock of the old writer (never touched here)
    DATA/store/assets.json(.bak)             TinyDB: {"assets": {asset_id: document}}; .bak = the previous write
    DATA/store/blobs/ab/cd/<sha256>          media bytes, content-addressed (same layout as now)
    DATA/store/captions/<stream>.jsonl       caption events, one JSON object a line; the last may be torn
    DATA/sync/outbox.sqlite                  items (per-asset sync progress) and notices (unsent MQTT messages)
    DATA/streams.json, box.json, keys/       unchanged by the new store; not read here

Everything returned is plain data (dicts, lists, dataclasses), with no
dependency on the new store: the import glue decides what becomes of it.

Reading is pure: nothing under DATA is written, created, renamed, truncated
or locked (the old code cut torn caption lines and restored a damaged index
from its backup at open; this module only skips and falls back). The outbox
database is read from a private copy, because SQLite opening a WAL database,
even read-only, may create `-wal`/`-shm` files next to it.

Damaged content never raises: a damaged assets.json falls back to
assets.json.bak; index rows the old code could not have written are
quarantined with a reason; torn or garbage caption lines are skipped; a
missing or unreadable outbox reads as empty. What was skipped is logged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.ids import ASSET_ID, SHA256, STREAM_NAME, is_match
from edge.kinds import KINDS

log = logging.getLogger(__name__)

__all__ = ["LegacyCaption", "LegacyData", "RUN_RESTART_S", "find_legacy", "read_legacy"]

TABLE = "assets"
SYNC_STATES = ("pending", "synced", "evicted")
OUTBOX_STATES = ("queued", "held", "expired")
# A final starting more than this before the previous final's start begins a new run: the old
# code restarted stream time at 0 on every box start. Smaller steps back are decoder overlap.
RUN_RESTART_S = 1.0

# Fields the old Asset model filled in when a document lacked them.
_DEFAULTS: dict[str, Any] = {
    "stream": None, "start": None, "end": None, "mime": "application/octet-stream", "tags": [],
    "provenance": {}, "sync": "pending", "synced_at": None, "meta": {},
}
_REQUIRED = ("id", "kind", "created_at", "sha256", "size", "name")


@dataclass(frozen=True)
class LegacyCaption:
    """One final caption from an old caption log. Times are stream seconds of its run."""

    stream: str
    seq: int  # n of the line's id "<stream>:<n>"
    type: str
    text: str
    start: float
    end: float
    emitted_at: float  # unix time
    run_index: int  # 0, 1, 2, ... within the stream's log: one per box start that captioned it


@dataclass(frozen=True)
class LegacyData:
    assets: list[dict[str, Any]] = field(default_factory=list)  # valid documents as stored, oldest id first
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (index key, reason), by key
    captions: dict[str, list[LegacyCaption]] = field(default_factory=dict)  # stream -> finals, file order
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)  # asset id -> attempts, acked_bytes, ...
    notices: list[dict[str, Any]] = field(default_factory=list)  # {"topic", "payload", "created_at"}, oldest first
    blobs_dir: Path = Path()


def find_legacy(data_dir: str | os.PathLike[str]) -> bool:
    """Whether `data_dir` holds an old-format store: an asset index (or its backup) or a caption log."""
    store = Path(data_dir) / "store"
    try:
        if (store / "assets.json").exists() or (store / "assets.json.bak").exists():
            return True
        return any(p.is_file() for p in (store / "captions").glob("*.jsonl"))
    except OSError:
        return False


def read_legacy(data_dir: str | os.PathLike[str]) -> LegacyData:
    """Everything importable from an old-format data directory; never raises on damaged content."""
    data = Path(data_dir)
    store = data / "store"
    assets, quarantined = _read_index(store)
    outbox, notices = _read_outbox(data / "sync" / "outbox.sqlite")
    return LegacyData(
        assets=assets,
        quarantined=quarantined,
        captions=_read_captions(store / "captions"),
        outbox=outbox,
        notices=notices,
        blobs_dir=store / "blobs",
    )


# -- the asset index ---------------------------------------------------------------------------


def _read_index(store: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    main, backup = store / "assets.json", store / "assets.json.bak"
    tables = _load_tables(main)
    if not isinstance(tables, dict):
        old = _load_tables(backup)
        if isinstance(old, dict):
            if tables is not None:
                log.warning("legacy index %s is damaged (%s); reading its backup %s", main, tables, backup)
            tables = old
        else:
            if tables is not None or old is not None:
                log.warning("legacy index %s is %s and its backup is %s: no assets to import", main,
                            tables or "missing", old or "missing")
            return [], []
    docs = tables.get(TABLE, {})
    assets, quarantined = [], []
    for key, doc in docs.items():
        problems = _asset_problems(key, doc)
        if problems:
            log.warning("legacy index: quarantining row %s: %s", key, problems)
            quarantined.append((key, problems))
        else:
            assets.append({**_DEFAULTS, **doc})
    assets.sort(key=lambda d: d["id"])
    quarantined.sort()
    return assets, quarantined


def _load_tables(path: Path) -> dict[str, dict[str, Any]] | str | None:
    """The TinyDB tables in `path`, None if there is no such file, or why it is damaged."""
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if not payload.strip():
        return "empty"
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as e:
        return f"not valid JSON ({str(e)[:80]})"
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        return "not an object of tables"
    return data


def _asset_problems(key: str, doc: object) -> str:
    """Why an index row cannot be imported ('' if it can): every problem, '; '-separated."""
    if not isinstance(doc, dict):
        return f"not an object ({type(doc).__name__})"
    problems = [f"{f}: missing" for f in _REQUIRED if f not in doc]
    d = {**_DEFAULTS, **doc}

    def check(name: str, ok: bool, what: str) -> None:
        if name in d and not ok:
            problems.append(f"{name}: {_show(d[name])} {what}")

    check("id", is_match(ASSET_ID, d.get("id")), "is not an asset id")
    if is_match(ASSET_ID, d.get("id")) and d["id"] != key:
        problems.append(f"id: {_show(d['id'])} differs from its index key")
    check("kind", isinstance(d.get("kind"), str) and d.get("kind") in KINDS, "is not a known asset kind")
    check("sha256", is_match(SHA256, d.get("sha256")), "is not a sha256")
    check("size", _is_int(d.get("size")) and d.get("size", -1) >= 0, "is not a non-negative integer")
    check("sync", d.get("sync") in SYNC_STATES and isinstance(d.get("sync"), str), "is not pending, synced or evicted")
    check("start", d.get("start") is None or _is_number(d.get("start")), "is not a number or null")
    check("end", d.get("end") is None or _is_number(d.get("end")), "is not a number or null")
    if _is_number(d.get("start")) and _is_number(d.get("end")) and d["end"] < d["start"]:
        problems.append(f"end: {_show(d['end'])} is before start {_show(d['start'])}")
    check("tags", isinstance(d.get("tags"), list) and all(isinstance(t, str) for t in d.get("tags", ())),
          "is not a list of strings")
    check("meta", isinstance(d.get("meta"), dict), "is not an object")
    check("provenance", isinstance(d.get("provenance"), dict), "is not an object")
    check("name", isinstance(d.get("name"), str) and d.get("name") != "", "is not a non-empty string")
    check("created_at", _is_number(d.get("created_at")), "is not a number")
    check("stream", d.get("stream") is None or isinstance(d.get("stream"), str), "is not a string or null")
    check("mime", isinstance(d.get("mime"), str), "is not a string")
    check("synced_at", d.get("synced_at") is None or _is_number(d.get("synced_at")), "is not a number or null")
    return "; ".join(problems)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _show(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


# -- caption logs ------------------------------------------------------------------------------


def _read_captions(root: Path) -> dict[str, list[LegacyCaption]]:
    out: dict[str, list[LegacyCaption]] = {}
    try:
        paths = sorted(root.glob("*.jsonl"))
    except OSError as e:
        log.warning("legacy caption logs in %s are unreadable: %s", root, e)
        return out
    for path in paths:
        stream = path.stem
        if not is_match(STREAM_NAME, stream):
            log.warning("legacy caption log %s: %r is not a stream name; ignored", path, stream)
            continue
        try:
            if not path.is_file():
                continue
            payload = path.read_bytes()
        except OSError as e:
            log.warning("legacy caption log %s is unreadable (%s); ignored", path, e)
            continue
        out[stream] = _parse_log(path, stream, payload)
    return out


def _parse_log(path: Path, stream: str, payload: bytes) -> list[LegacyCaption]:
    lines = payload.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline, as every complete append does
    if torn:
        log.warning("legacy caption log %s: skipping a torn last line (%d bytes)", path, len(torn))
    id_pattern = re.compile(re.escape(stream) + r":([0-9]{1,18})")
    finals: list[LegacyCaption] = []
    skipped = 0
    for line in lines:
        record = _parse_caption(line, id_pattern)
        if record is None:
            skipped += 1
        elif record["type"] == "final":
            finals.append(record)
    if skipped:
        log.warning("legacy caption log %s: skipped %d damaged line(s)", path, skipped)
    out, run, prev_start = [], 0, None
    for r in finals:
        if prev_start is not None and r["start"] < prev_start - RUN_RESTART_S:
            run += 1
        prev_start = r["start"]
        out.append(LegacyCaption(stream, r["seq"], r["type"], r["text"], float(r["start"]), float(r["end"]),
                                 float(r["emitted_at"]), run))
    return out


def _parse_caption(line: bytes, id_pattern: re.Pattern[str]) -> dict[str, Any] | None:
    """A caption line's fields, or None if the line is not one the old code wrote."""
    if not line.strip():
        return None
    try:
        r = json.loads(line)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(r, dict):
        return None
    m = id_pattern.fullmatch(r["id"]) if isinstance(r.get("id"), str) else None
    if m is None or not isinstance(r.get("type"), str) or not isinstance(r.get("text"), str):
        return None
    if not all(_is_number(r.get(k)) for k in ("start", "end", "emitted_at")):
        return None
    return {**r, "seq": int(m.group(1))}


# -- the outbox --------------------------------------------------------------------------------


def _read_outbox(path: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    try:
        if not path.is_file():
            return {}, []
    except OSError:
        return {}, []
    try:
        with tempfile.TemporaryDirectory(prefix="legacy-outbox-") as tmp:
            # A private copy: SQLite may create -wal/-shm files beside a WAL database it opens, even
            # read-only. The -wal holds committed changes not yet checkpointed; the -shm is rebuilt.
            copy = Path(tmp) / "outbox.sqlite"
            shutil.copyfile(path, copy)
            wal = path.with_name(path.name + "-wal")
            if wal.is_file():
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            db = sqlite3.connect(copy)
            try:
                return _outbox_items(db, path), _outbox_notices(db, path)
            finally:
                db.close()
    except (OSError, sqlite3.Error) as e:
        log.warning("legacy outbox %s is unreadable (%s); its sync progress is not imported", path, e)
        return {}, []


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _outbox_items(db: sqlite3.Connection, path: Path) -> dict[str, dict[str, Any]]:
    try:
        cols = _columns(db, "items")
        if "asset_id" not in cols:
            return {}
        wanted = {"attempts": "0", "acked_bytes": "0", "state": "'queued'", "last_error": "NULL"}
        select = ", ".join(c if c in cols else f"{default} AS {c}" for c, default in wanted.items())
        rows = db.execute(f"SELECT asset_id, {select} FROM items ORDER BY asset_id").fetchall()
    except sqlite3.Error as e:
        log.warning("legacy outbox %s: items unreadable (%s)", path, e)
        return {}
    out: dict[str, dict[str, Any]] = {}
    for asset_id, attempts, acked, state, error in rows:
        ok = (
            is_match(ASSET_ID, asset_id) and _is_int(attempts) and attempts >= 0 and _is_int(acked) and acked >= 0
            and state in OUTBOX_STATES and (error is None or isinstance(error, str))
        )
        if not ok:
            log.warning("legacy outbox %s: skipping a damaged item %r", path, (asset_id, attempts, acked, state))
            continue
        out[asset_id] = {"attempts": attempts, "acked_bytes": acked, "state": state, "last_error": error}
    return out


def _outbox_notices(db: sqlite3.Connection, path: Path) -> list[dict[str, Any]]:
    try:
        if not {"topic", "payload", "created_at"} <= _columns(db, "notices"):
            return []
        rows = db.execute("SELECT topic, payload, created_at FROM notices ORDER BY id").fetchall()
    except sqlite3.Error as e:
        log.warning("legacy outbox %s: notices unreadable (%s)", path, e)
        return []
    out = []
    for topic, payload, created_at in rows:
        try:
            body = json.loads(payload) if isinstance(payload, (str, bytes)) else None
        except (ValueError, RecursionError):
            body = None
        if not isinstance(topic, str) or not isinstance(body, dict) or not _is_number(created_at):
            log.warning("legacy outbox %s: skipping a damaged notice on %r", path, topic)
            continue
        out.append({"topic": topic, "payload": body, "created_at": float(created_at)})
    return out
