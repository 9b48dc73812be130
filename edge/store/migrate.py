"""One-time import of an OLD-format data directory (TinyDB index, JSONL caption logs, outbox SQLite).

    report = import_legacy(data_dir, store)   # None: nothing to import, or imported before

What the old directory holds is read by edge.store.legacy.read_legacy (pure,
never raises on damage); this module decides what it becomes:

* assets: every valid old document is restored with its id, sha256, sync
  state, synced_at and created_at (AssetStore.restore). Blobs are already in
  DATA/store/blobs in the same layout; a blob the store lacks is copied in
  from the old blob directory. An upload's note (meta.note) and a text
  note's own words become its search text. An asset whose bytes are missing
  (and that was not evicted) or that the new model refuses is reported as
  quarantined, like the rows the reader refused, and is never imported.
* runs: each old caption run (stream + run_index) becomes a CLOSED run with
  its finals as `caption` records (data: {"legacy_id": "<stream>:<n>"}).
  Old captions have no wall clock of stream second 0, only the unix time
  each final was emitted, which is always after its end was heard. The rule:
  origin = min over the run's finals of (emitted_at - end), the latest
  instant consistent with every final (the decoder latency of the quickest
  final is the error). opened_at = origin, closed_at = the last final's
  emitted_at, close_reason "imported from the old store".
  Run ids are derived from (stream, run_index, origin), so an import that
  is interrupted and run again produces the same ids.
* caption tracks: an old caption_track or transcript asset belongs to the
  run of its stream whose first final start and last final end it carries
  (what the old code gave it); failing that, to the last run of its stream
  opened before the track was created. It is restored with `run` set to
  that run (so search finds it by what was said), and the run is marked
  tracks_built=1, so the box does not build a second track. Runs without a
  track (the old box lost power mid-run) keep tracks_built=0 and get one
  built from their records.
* outbox: attempts, acked_bytes and last_error are carried over for assets
  still pending; an item the old outbox had expired stays expired (other
  states are what the new outbox decides for the kind).
* notices: carried into the `notices` table, oldest first.

Crash safety: assets are restored one transaction each and restore() skips
an id already present, so an interrupted import resumes; runs, records,
notices, outbox progress and the `imports` row (source "legacy-v1") are
then written in ONE transaction, so they are there once or not at all.
Only after that commit are the old files renamed aside (assets.json ->
assets.json.imported, assets.json.bak -> assets.json.bak.imported,
captions/ -> captions.imported/, outbox.sqlite -> outbox.sqlite.imported);
they are never deleted. A crash between the commit and the renames is
finished by the next call, which then returns None.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.durable import fsync_dir
from edge.store import StoreError
from edge.store.assets import MAX_BODY_CHARS, Asset, AssetStore
from edge.store.legacy import LegacyCaption, find_legacy, read_legacy
from edge.store.records import CAPTION

log = logging.getLogger(__name__)

__all__ = ["IMPORT_SOURCE", "ImportReport", "import_legacy"]

IMPORT_SOURCE = "legacy-v1"
CLOSE_REASON = "imported from the old store"
RUN_SOURCE = "imported from the old store"
SUFFIX = ".imported"
_TRACK_KINDS = ("caption_track", "transcript")
_TIME_MATCH_S = 0.01
_ASSET_FIELDS = ("id", "kind", "stream", "start", "end", "created_at", "sha256", "size", "mime", "name", "tags",
                 "provenance", "sync", "synced_at", "meta")


@dataclass
class ImportReport:
    assets: int = 0  # old assets now in the store (restored by this call or an interrupted earlier one)
    quarantined: list[tuple[str, str]] = field(default_factory=list)  # (index key, reason): never imported
    runs: int = 0
    records: int = 0
    outbox_items: int = 0  # pending assets whose old sync progress was carried over
    notices: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["quarantined"] = [list(q) for q in self.quarantined]
        return out


@dataclass
class _Run:
    id: str
    stream: str
    index: int
    origin: float
    closed_at: float
    finals: list[LegacyCaption]
    tracks_built: bool = False


def import_legacy(data_dir: Path, store: AssetStore) -> ImportReport | None:
    """Import the old data directory `data_dir` into `store` once; None if there is nothing (left) to do."""
    data_dir = Path(data_dir)
    if not find_legacy(data_dir) and not _outbox_path(data_dir).exists():
        return None
    if _done(store):
        _rename_aside(data_dir)
        return None

    legacy = read_legacy(data_dir)
    report = ImportReport(quarantined=list(legacy.quarantined))
    for key, reason in legacy.quarantined:
        log.warning("legacy import: not importing index row %s: %s", key, reason)

    runs = _runs(legacy.captions)
    by_stream: dict[str, list[_Run]] = {}
    for run in runs:
        by_stream.setdefault(run.stream, []).append(run)

    # Phase 1: assets, one transaction each; restore() skips ids already there (resume).
    pending: set[str] = set()
    for doc in legacy.assets:
        run_id = _track_run(doc, by_stream) if doc.get("kind") in _TRACK_KINDS else None
        try:
            asset = Asset.model_validate({**{k: doc.get(k) for k in _ASSET_FIELDS}, "run": run_id})
        except ValidationError as e:
            reason = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            _quarantine(report, doc["id"], f"refused by the new store: {reason}")
            continue
        if asset.sync != "evicted" and not _ensure_blob(store, legacy.blobs_dir, asset.sha256):
            _quarantine(report, asset.id, f"its bytes {asset.sha256} are missing from {legacy.blobs_dir}")
            continue
        store.restore(asset, body=_body(store, asset), queue=True)
        report.assets += 1
        if asset.sync == "pending":
            pending.add(asset.id)

    # Phase 2: everything else, and the record that the import is done, in one transaction.
    with store.db.write() as db:
        if db.execute("SELECT 1 FROM imports WHERE source = ?", (IMPORT_SOURCE,)).fetchone():
            return None  # another thread of this process finished it meanwhile
        for run in runs:
            cur = db.execute(
                "INSERT OR IGNORE INTO runs (id, stream, source, live, opened_at, origin, closed_at, close_reason,"
                " tracks_built) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)",
                (run.id, run.stream, RUN_SOURCE, run.origin, run.origin, run.closed_at, CLOSE_REASON,
                 int(run.tracks_built)))
            if cur.rowcount == 0:
                continue
            report.runs += 1
            db.executemany(
                'INSERT INTO records (type, run, stream, start, "end", wall_start, wall_end, text, data)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(CAPTION, run.id, run.stream, c.start, c.end, run.origin + c.start, run.origin + c.end, c.text,
                  json.dumps({"legacy_id": f"{c.stream}:{c.seq}"})) for c in run.finals])
            report.records += len(run.finals)
        for asset_id, item in legacy.outbox.items():
            if asset_id not in pending:
                continue
            state_sql = ", state = 'expired'" if item["state"] == "expired" else ""
            cur = db.execute(
                f"UPDATE outbox SET attempts = ?, acked_bytes = ?, last_error = ?{state_sql} WHERE asset_id = ?",
                (item["attempts"], item["acked_bytes"], item["last_error"], asset_id))
            report.outbox_items += cur.rowcount
        db.executemany("INSERT INTO notices (topic, payload, created_at) VALUES (?, ?, ?)",
                       [(n["topic"], json.dumps(n["payload"], ensure_ascii=False), n["created_at"])
                        for n in legacy.notices])
        report.notices = len(legacy.notices)
        db.execute("INSERT INTO imports (source, done_at, report) VALUES (?, ?, ?)",
                   (IMPORT_SOURCE, time.time(), json.dumps(report.to_json(), ensure_ascii=False)))

    _rename_aside(data_dir)
    log.info("imported the old store in %s: %d assets, %d runs, %d records, %d outbox items, %d notices;"
             " %d rows quarantined", data_dir, report.assets, report.runs, report.records, report.outbox_items,
             report.notices, len(report.quarantined))
    return report


# -- helpers ---------------------------------------------------------------------------------------


def _done(store: AssetStore) -> bool:
    return store.db.read_one("SELECT 1 FROM imports WHERE source = ?", (IMPORT_SOURCE,)) is not None


def _quarantine(report: ImportReport, key: str, reason: str) -> None:
    log.warning("legacy import: not importing asset %s: %s", key, reason)
    report.quarantined.append((key, reason))


def _outbox_path(data_dir: Path) -> Path:
    return data_dir / "sync" / "outbox.sqlite"


def _runs(captions: dict[str, list[LegacyCaption]]) -> list[_Run]:
    """The old caption runs, with their origin (see the module docstring) and a deterministic id."""
    out = []
    for stream in sorted(captions):
        groups: dict[int, list[LegacyCaption]] = {}
        for c in captions[stream]:
            groups.setdefault(c.run_index, []).append(c)
        for index in sorted(groups):
            finals = groups[index]
            origin = min(c.emitted_at - c.end for c in finals)
            tail = hashlib.sha256(f"{IMPORT_SOURCE}:{stream}:{index}:{origin!r}".encode()).hexdigest()[:10]
            run_id = f"{max(int(origin * 1e9), 0):016x}{tail}"
            out.append(_Run(run_id, stream, index, origin, max(c.emitted_at for c in finals), finals))
    return out


def _track_run(doc: dict[str, Any], by_stream: dict[str, list[_Run]]) -> str | None:
    """The run an old caption track or transcript was made from (and mark that run built), or None."""
    runs = by_stream.get(doc.get("stream") or "", [])
    if not runs:
        return None
    start, end = doc.get("start"), doc.get("end")
    chosen = None
    if start is not None and end is not None:
        for run in runs:
            if abs(run.finals[0].start - start) <= _TIME_MATCH_S and abs(run.finals[-1].end - end) <= _TIME_MATCH_S:
                chosen = run
                break
    if chosen is None:
        before = [r for r in runs if r.origin <= doc["created_at"]]
        chosen = before[-1] if before else None
    if chosen is None:
        return None
    if doc["kind"] == "caption_track":
        chosen.tracks_built = True
    return chosen.id


def _ensure_blob(store: AssetStore, old_blobs: Path, sha: str) -> bool:
    """Whether the store holds `sha`, copying it from the old blob directory when it lives elsewhere."""
    if store.blobs.exists(sha):
        return True
    src = old_blobs / sha[:2] / sha[2:4] / sha
    try:
        if not src.is_file() or src.is_symlink():
            return False
        got, _ = store.blobs.put_file(src)
    except (OSError, StoreError) as e:
        log.warning("legacy import: cannot copy blob %s: %s", src, e)
        return False
    if got != sha:  # the old file was damaged: its bytes are not the asset's
        if not _needed(store, got):
            store.blobs.delete(got)
        return False
    return True


def _needed(store: AssetStore, sha: str) -> bool:
    return store.db.read_one("SELECT 1 FROM assets WHERE sha256 = ? LIMIT 1", (sha,)) is not None


def _body(store: AssetStore, asset: Asset) -> str:
    """Search text: an upload's note, and a text note's own words (what add_bytes indexes for notes)."""
    parts = []
    note = asset.meta.get("note")
    if isinstance(note, str) and note.strip():
        parts.append(note.strip())
    if asset.kind == "note" and asset.mime.startswith("text/") and asset.sync != "evicted":
        try:
            with open(store.blobs.path(asset.sha256), "rb") as f:
                parts.append(f.read(MAX_BODY_CHARS * 4).decode("utf-8", errors="replace"))
        except (OSError, KeyError, StoreError):
            pass
    return "\n".join(parts)[:MAX_BODY_CHARS]


def _rename_aside(data_dir: Path) -> None:
    """Move the old files out of the way (never deleted); each rename is skipped when already done."""
    store, sync = data_dir / "store", data_dir / "sync"
    for old in (store / "assets.json", store / "assets.json.bak", store / "captions", _outbox_path(data_dir),
                sync / "outbox.sqlite-wal", sync / "outbox.sqlite-shm"):
        new = old.with_name(old.name + SUFFIX)
        try:
            if not os.path.lexists(old):
                continue
            if os.path.lexists(new):
                log.warning("legacy import: %s and %s both exist; leaving %s where it is", old, new, old.name)
                continue
            os.rename(old, new)
            fsync_dir(old.parent)
        except OSError as e:
            log.warning("legacy import: cannot rename %s aside: %s", old, e)
