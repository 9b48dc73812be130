"""Hand the newsroom what arrived: drafts as IPTC ninjs 2.0, captions as WebVTT, a manifest of everything.

    OUT/manifest.json                  every asset: box, stream, time range, tags, provenance, file
    OUT/<box>/drafts/<id>.ninjs.json   one ninjs 2.0 text item per draft
    OUT/<box>/captions/<id>.vtt        caption tracks (already WebVTT on the box)
    OUT/<box>/captions/<stream>/<run>.jsonl
                                       live caption segments of one run merged, deduplicated,
                                       in order: JSON lines as `edge-center captions --json`
    OUT/<box>/<kind>/<id>-<name>       everything else, bytes as received

Every path is built from checked parts (a kind from the kinds table, ids,
sanitised names) and checked again to lie under OUT; an index row that does
not pass (e.g. written by an older center that did not check offers) is
listed under "skipped" in the manifest with the reason, not exported.

A draft's bytes are read as JSON ({"headline", "body", "located",
"language"}) when they parse as such, else as text whose first line is the
headline and the rest the body; the asset's meta may also carry headline
and located. Tags become ninjs subjects.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from pathlib import Path
from typing import Any

from cloud_sync.center.captions import caption_lines
from cloud_sync.center.index import Index
from cloud_sync.center.storage import FileStorage
from edge import ids
from edge.kinds import is_kind

log = logging.getLogger("cloud_sync.center.export")

NINJS_SCHEMA = "http://www.iptc.org/std/ninjs/ninjs-schema_2.0.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_draft(data: bytes) -> dict[str, str]:
    text = data.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            return {k: str(v) for k, v in doc.items() if k in ("headline", "body", "located", "language") and v}
    except ValueError:
        pass
    head, _, body = text.strip().partition("\n")
    return {"headline": head.strip(), "body": body.strip()}


def ninjs(asset: dict[str, Any], data: bytes, uri_base: str = "urn:edge") -> dict[str, Any]:
    """A ninjs 2.0 text item for one draft asset (only properties the 2.0 schema defines)."""
    draft = parse_draft(data)
    meta = asset.get("meta") or {}
    headline = meta.get("headline") or draft.get("headline") or asset.get("name") or ""
    body = draft.get("body", "")
    item: dict[str, Any] = {
        "uri": f"{uri_base}:{asset['box']}:{asset['id']}",
        "type": "text",
        "representationtype": "full",
        "versioncreated": _iso(asset.get("created_at") or asset.get("stored_at")),
        "firstcreated": _iso(asset.get("created_at")),
        "headlines": [{"role": "main", "value": headline}],
        "bodies": [{"role": "main", "contenttype": "text/plain", "value": body,
                    "charcount": len(body), "wordcount": len(body.split())}],
        "subjects": [{"name": t} for t in asset.get("tags") or []],
        "altids": [{"role": "edge-box", "value": asset["box"]}, {"role": "edge-asset", "value": asset["id"]}],
        "pubstatus": "withheld",  # a machine-made draft: an editor decides
        "ednote": "Draft written on an edge box"
                  + (f" by {asset['provenance'].get('model')}" if (asset.get("provenance") or {}).get("model") else "")
                  + (f", stream {asset['stream']}" if asset.get("stream") else "") + ": check facts before use.",
        "standard": {"name": "ninjs", "version": "2.0", "schema": NINJS_SCHEMA},
    }
    located = meta.get("located") or draft.get("located")
    if located:
        item["located"] = str(located)
    if draft.get("language"):
        item["language"] = draft["language"]
    return {k: v for k, v in item.items() if v is not None}


def _component(value: object, fallback: str) -> str:
    """One path component from box-supplied text: no separators, never '.' or '..', never hidden."""
    text = _UNSAFE.sub("_", str(value or ""))[:120].lstrip(".")
    return text or fallback


def _under(out: Path, rel: Path) -> Path:
    dest = (out / rel).resolve()
    if not dest.is_relative_to(out.resolve()):
        raise ValueError(f"{rel} would leave the export directory")
    return dest


def export(index: Index, storage: FileStorage, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    listed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    merged: set[tuple[str, str, str]] = set()  # (box, stream, run) caption files already written
    for a in index.assets():
        try:
            rel = _export_one(a, index, storage, out, merged)
        except Exception as e:  # noqa: BLE001 - one bad row must not cost the newsroom the rest
            log.warning("not exported: %s/%s: %s", a.get("box"), a.get("id"), e)
            skipped.append({"box": a.get("box"), "id": a.get("id"), "reason": str(e)})
            continue
        listed.append({
            "box": a["box"], "id": a["id"], "kind": a["kind"], "name": a.get("name"), "stream": a.get("stream"),
            "start": a.get("start"), "end": a.get("end"), "tags": a.get("tags"), "provenance": a.get("provenance"),
            "sha256": a["sha256"], "size": a["size"], "mime": a.get("mime"), "created_at": _iso(a.get("created_at")),
            "file": str(rel),
        })
    manifest = {"exported_at": _iso(datetime.datetime.now().timestamp()), "assets": listed, "skipped": skipped}
    _write(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return manifest


def _export_one(a: dict[str, Any], index: Index, storage: FileStorage, out: Path,
                merged: set[tuple[str, str, str]]) -> Path:
    kind = a["kind"]
    if not is_kind(kind):
        raise ValueError(f"unknown asset kind {str(kind)[:40]!r}")
    if not ids.is_match(ids.ASSET_ID, a["id"]) or not ids.is_match(ids.SHA256, a["sha256"]):
        raise ValueError("malformed asset id or sha256")
    box = _component(a["box"], "box")
    if kind == "draft":
        rel = Path(box, "drafts", f"{a['id']}.ninjs.json")
        data = storage.read_object(a["sha256"])
        _write(_under(out, rel), json.dumps(ninjs(a, data), indent=2, ensure_ascii=False).encode())
    elif kind == "caption_track":
        rel = Path(box, "captions", f"{a['id']}.vtt")
        _copy(storage, a["sha256"], _under(out, rel))
    elif kind == "caption_segment":
        run = (a.get("meta") or {}).get("run")
        if not ids.is_match(ids.STREAM_NAME, a.get("stream")) or not ids.is_match(ids.RUN_ID, run):
            raise ValueError("a caption segment without a valid stream and run")
        rel = Path(box, "captions", a["stream"], f"{run}.jsonl")
        if (a["box"], a["stream"], run) not in merged:
            lines = [x for x in caption_lines(index, storage, a["box"], a["stream"]) if x["run"] == run]
            _write(_under(out, rel), "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode())
            merged.add((a["box"], a["stream"], run))
    else:
        rel = Path(box, kind, f"{a['id']}-{_component(a.get('name'), 'asset')}")
        _copy(storage, a["sha256"], _under(out, rel))
    return rel


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy(storage: FileStorage, sha256: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    storage.copy_object(sha256, dest)
