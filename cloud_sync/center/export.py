"""Hand the newsroom what arrived: every item with a ninjs 2.2 document of its metadata, and a manifest.

    OUT/manifest.json                        every asset: box, stream, time range, tags, provenance, files
    OUT/<box>/drafts/<id>.ninjs.json         one ninjs 2.2 text item per draft (the box's own document)
    OUT/<box>/captions/<stream>-<start>-captions.vtt (+ .ninjs.json)
                                             caption tracks and transcripts under their readable names
    OUT/<box>/captions/<stream>/<run>.jsonl (+ .ninjs.json)
                                             live caption segments of one run merged, deduplicated,
                                             in order: JSON lines as `edge-center captions --json`
    OUT/<box>/<kind>/<id>-<name> (+ .ninjs.json)
                                             everything else, bytes as received

Every exported file has a ninjs 2.2 document beside it (edge/drafts/ninjs.py, the one module the box
uses for its drafts too) carrying box, stream, run, wall-clock time, uploader, note and tags, validated
against IPTC's schema before it is written. Every path is built from checked parts (a kind from the
kinds table, ids, sanitised names) and checked again to lie under OUT; an index row that does not pass
(e.g. written by an older center that did not check offers) is listed under "skipped" in the manifest
with the reason, not exported.

A draft's bytes are the box's ninjs document when they validate as one; an older box's draft
({"headline", "body", "located", "language"} JSON, or text whose first line is the headline) is
turned into one here.
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
from edge.drafts.ninjs import GENERATED, SCHEMA_URI, NinjsError, asset_document, iso, urn, validate
from edge.kinds import is_kind

log = logging.getLogger("cloud_sync.center.export")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


_iso = iso


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
    """A draft asset as a ninjs 2.2 text item: the box's own document when the bytes are one, else built here."""
    try:
        doc = json.loads(data)
        if isinstance(doc, dict) and "uri" in doc and "headlines" in doc:
            return validate(doc)
    except (ValueError, NinjsError) as exc:
        log.info("draft %s is not a ninjs 2.2 document (%s); building one", asset.get("id"), exc)
    draft = parse_draft(data)
    meta = asset.get("meta") or {}
    headline = meta.get("headline") or draft.get("headline") or asset.get("name") or ""
    body = draft.get("body", "")
    model = (asset.get("provenance") or {}).get("model")
    item: dict[str, Any] = {
        "uri": urn(asset["box"], "draft", asset["id"]),
        "standard": {"name": "ninjs", "version": "2.2", "schema": SCHEMA_URI},
        "type": "text",
        "representationtype": "full",
        "version": "1",
        "versioncreated": iso(asset.get("created_at") or asset.get("stored_at")),
        "firstcreated": iso(asset.get("created_at")),
        "headlines": [{"role": "main", "value": headline}],
        "bodies": [{"role": "main", "contenttype": "text/plain", "value": body,
                    "charcount": len(body), "wordcount": len(body.split())}],
        "subjects": [{"name": t} for t in asset.get("tags") or []],
        "altids": [{"role": "edge-box", "value": asset["box"]}, {"role": "edge-asset", "value": asset["id"]}],
        "pubstatus": "withheld",  # a machine-made draft: an editor decides
        "digitalsourcetype": dict(GENERATED),
        "ednote": "Draft written on an edge box" + (f" by {model}" if model else "")
                  + (f", stream {asset['stream']}" if asset.get("stream") else "") + ": check facts before use.",
    }
    located = meta.get("located") or draft.get("located")
    if located:
        item["located"] = str(located)
    if draft.get("language"):
        item["language"] = draft["language"]
    return validate({k: v for k, v in item.items() if v not in (None, [])})


def headline_of(a: dict[str, Any]) -> str:
    """A readable title for an exported item (what an editor scans a folder by)."""
    meta = a.get("meta") or {}
    when = iso(meta.get("wall_start") or a.get("created_at")) or ""
    stream = a.get("stream") or "the box"
    kind = a.get("kind")
    if kind == "caption_track":
        return f"Captions of {stream} from {when}"
    if kind == "transcript":
        return f"Transcript of {stream} from {when}"
    if kind == "caption_segment":
        return f"Live captions of {stream} from {when}"
    if kind == "keyframe":
        return f"Still from {stream} at {when}"
    if meta.get("note"):
        return str(meta["note"])[:200]
    return str(a.get("name") or a.get("id"))


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
    taken: set[Path] = set()  # readable names already used in this export
    for a in index.assets():
        try:
            rel, doc_rel = _export_one(a, index, storage, out, merged, taken)
        except Exception as e:  # noqa: BLE001 - one bad row must not cost the newsroom the rest
            log.warning("not exported: %s/%s: %s", a.get("box"), a.get("id"), e)
            skipped.append({"box": a.get("box"), "id": a.get("id"), "reason": str(e)})
            continue
        meta = a.get("meta") or {}
        listed.append({
            "box": a["box"], "id": a["id"], "kind": a["kind"], "name": a.get("name"), "stream": a.get("stream"),
            "run": a.get("run") or meta.get("run"), "start": a.get("start"), "end": a.get("end"),
            "tags": a.get("tags"), "provenance": a.get("provenance"), "uploaded_by": meta.get("uploaded_by"),
            "note": meta.get("note"), "sha256": a["sha256"], "size": a["size"], "mime": a.get("mime"),
            "created_at": _iso(a.get("created_at")), "file": str(rel), "ninjs": str(doc_rel),
        })
    manifest = {"exported_at": _iso(datetime.datetime.now().timestamp()), "assets": listed, "skipped": skipped}
    _write(out / "manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return manifest


def _readable(folder: Path, name: object, asset_id: str, taken: set[Path]) -> Path:
    """The asset's own name (e.g. cam1-20261130-214105-captions.vtt), made unique with its id if needed."""
    rel = folder / _component(name, asset_id)
    if rel in taken:
        rel = folder / f"{rel.stem}-{asset_id[-8:]}{rel.suffix}"
    taken.add(rel)
    return rel


def _export_one(a: dict[str, Any], index: Index, storage: FileStorage, out: Path,
                merged: set[tuple[str, str, str]], taken: set[Path]) -> tuple[Path, Path]:
    """Write one item and its ninjs document; returns both paths relative to OUT."""
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
        return rel, rel
    if kind in ("caption_track", "transcript"):
        rel = _readable(Path(box, "captions"), a.get("name"), a["id"], taken)
        _copy(storage, a["sha256"], _under(out, rel))
    elif kind == "caption_segment":
        run = (a.get("meta") or {}).get("run")
        if not ids.is_match(ids.STREAM_NAME, a.get("stream")) or not ids.is_match(ids.RUN_ID, run):
            raise ValueError("a caption segment without a valid stream and run")
        rel = Path(box, "captions", a["stream"], f"{run}.jsonl")
        doc_rel = rel.with_name(rel.name + ".ninjs.json")
        if (a["box"], a["stream"], run) in merged:
            return rel, doc_rel
        lines = [x for x in caption_lines(index, storage, a["box"], a["stream"]) if x["run"] == run]
        _write(_under(out, rel), "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode())
        merged.add((a["box"], a["stream"], run))
        first = lines[0] if lines else {}
        item = {**a, "mime": "application/x-ndjson", "size": _under(out, rel).stat().st_size,
                "meta": {**(a.get("meta") or {}), "wall_start": first.get("wall_start") or (a.get("meta") or {}).get("wall_start")}}
        _write(_under(out, doc_rel), _doc(item, rel))
        return rel, doc_rel
    else:
        rel = Path(box, kind, f"{a['id']}-{_component(a.get('name'), 'asset')}")
        _copy(storage, a["sha256"], _under(out, rel))
    doc_rel = rel.with_name(rel.name + ".ninjs.json")
    _write(_under(out, doc_rel), _doc(a, rel))
    return rel, doc_rel


def _doc(a: dict[str, Any], rel: Path) -> bytes:
    # The rendition names the file beside the document (relative to the box's folder in OUT).
    doc = asset_document(a, file=str(Path(*rel.parts[1:])), headline=headline_of(a))
    return json.dumps(doc, indent=2, ensure_ascii=False).encode()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy(storage: FileStorage, sha256: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    storage.copy_object(sha256, dest)
