"""IPTC ninjs 2.2 documents: one module for the box's drafts and the center's export of every item.

The schema (ninjs-schema_2.2.json beside this file) is IPTC's, from the
newsinjson repository: "copyright 2023 IPTC - International Press
Telecommunications Council - www.iptc.org - published under the Creative
Commons Attribution 4.0 license (http://creativecommons.org/licenses/by/4.0/)".
Its top level allows no unknown keys, so everything the box knows beyond the
standard fields (which record, run and time each sentence came from, the model
and its quantization, what the verifier removed) travels as a provenance
document among the item's `associations`, itself a valid ninjs object.
"""

from __future__ import annotations

import datetime
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("ninjs-schema_2.2.json")
SCHEMA_URI = "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json"
DIGITAL_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# What made the text: the model alone, or the model's draft changed by a person.
GENERATED = {"uri": DIGITAL_SOURCE + "trainedAlgorithmicMedia", "name": "Created using a trained algorithm"}
COMPOSITE = {"uri": DIGITAL_SOURCE + "compositeWithTrainedAlgorithmicMedia",
             "name": "Composite with trained algorithmic media (edited by a person)"}
CAPTURED = {"uri": DIGITAL_SOURCE + "digitalCapture", "name": "Original digital capture"}
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")
_SAFE = re.compile(r"[^A-Za-z0-9._~-]+")


class NinjsError(ValueError):
    """A document does not validate against the ninjs 2.2 schema."""


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def urn(*parts: object) -> str:
    return "urn:edge-box:" + ":".join(_SAFE.sub("_", str(p)) or "_" for p in parts)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema.Draft202012Validator(schema)


def validate(doc: dict[str, Any]) -> dict[str, Any]:
    """The document, or NinjsError naming the first offending field.

    The schema's `format` keywords are only annotations unless extra packages
    are installed, so URIs and date-times are checked here too.
    """
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise NinjsError(f"ninjs 2.2: {where}: {e.message[:300]}")
    _check_formats(doc, "")
    return doc


def _check_formats(node: Any, where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}/{key}"
            if key in ("uri", "href") and isinstance(value, str) and not _URI.match(value):
                raise NinjsError(f"ninjs 2.2: {path}: {value!r} is not a URI")
            if key in ("firstcreated", "versioncreated", "contentcreated", "embargoed", "expires"):
                try:
                    datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                except ValueError:
                    raise NinjsError(f"ninjs 2.2: {path}: {value!r} is not a date-time") from None
            _check_formats(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_formats(value, f"{where}/{i}")


def _standard() -> dict[str, str]:
    return {"name": "ninjs", "version": "2.2", "schema": SCHEMA_URI}


def _provenance_association(uri: str, provenance: dict[str, Any]) -> dict[str, Any]:
    value = json.dumps(provenance, ensure_ascii=False, sort_keys=True)
    return {"name": "provenance", "uri": uri + ":provenance", "type": "text",
            "bodies": [{"role": "provenance", "contenttype": "application/json", "value": value}]}


def provenance_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The provenance document a ninjs item carries (see _provenance_association), or None."""
    for a in doc.get("associations") or []:
        if a.get("name") == "provenance":
            for b in a.get("bodies") or []:
                if b.get("role") == "provenance":
                    return json.loads(b["value"])
    return None


def draft_document(*, box: str, draft_id: str, version: int, state: str, created_at: float, updated_at: float,
                   headline: str, body: str, language: str, edited: bool, tags: list[str] = (),
                   event_name: str | None = None, place: str | None = None, streams: list[str] = (),
                   runs: list[str] = (), wall_start: float | None = None, provenance: dict[str, Any],
                   by: str | None = None) -> dict[str, Any]:
    """A draft as a ninjs text item; `pubstatus` is withheld until a person approves it."""
    uri = urn(box, "draft", draft_id)
    pubstatus = {"approved": "usable", "synced": "usable", "rejected": "canceled"}.get(state, "withheld")
    doc: dict[str, Any] = {
        "uri": uri,
        "standard": _standard(),
        "type": "text",
        "representationtype": "full",
        "version": str(version),
        "firstcreated": iso(created_at),
        "versioncreated": iso(updated_at),
        "pubstatus": pubstatus,
        "language": language,
        "headlines": [{"role": "main", "value": headline}],
        "bodies": [{"role": "main", "contenttype": "text/plain", "value": body,
                    "charcount": len(body), "wordcount": len(body.split())}],
        "digitalsourcetype": dict(COMPOSITE if edited else GENERATED),
        "ednote": ("First draft written on edge box " + box + " from what it captured; every sentence was checked "
                   "against the captions (see the provenance association). Check before use."),
        "altids": [{"role": "edge-box", "value": box}, {"role": "edge-draft", "value": draft_id},
                   *({"role": "edge-stream", "value": s} for s in streams),
                   *({"role": "edge-run", "value": r} for r in runs)],
        "associations": [_provenance_association(uri, provenance)],
    }
    if wall_start is not None:
        doc["contentcreated"] = iso(wall_start)
    if tags:
        doc["subjects"] = [{"name": t} for t in tags]
    if event_name:
        doc["events"] = [{"name": event_name}]
    if place:
        doc["located"] = place
    if by:
        doc["by"] = by
    return validate(doc)


_TYPE_BY_MIME = (("image/", "picture"), ("video/", "video"), ("audio/", "audio"), ("text/", "text"))
_TYPE_BY_KIND = {"caption_track": "text", "transcript": "text", "caption_segment": "text", "note": "text",
                 "keyframe": "picture", "sensor_series": "text", "draft": "text"}


def asset_document(asset: dict[str, Any], *, file: str, headline: str) -> dict[str, Any]:
    """Any exported item (upload, caption track, transcript, keyframe, ...) as ninjs with its metadata.

    `asset` is the center's index row: box, id, kind, stream, run (or meta.run), times, tags, meta
    (uploaded_by, note), provenance. `file` is the exported file's path relative to the export folder.
    """
    box = str(asset["box"])
    meta = asset.get("meta") or {}
    uri = urn(box, "asset", asset["id"])
    mime = str(asset.get("mime") or "application/octet-stream")
    kind = str(asset.get("kind"))
    typ = _TYPE_BY_KIND.get(kind) or next((t for prefix, t in _TYPE_BY_MIME if mime.startswith(prefix)), "component")
    run = asset.get("run") or meta.get("run")
    wall = meta.get("wall_start") or asset.get("created_at")
    doc: dict[str, Any] = {
        "uri": uri,
        "standard": _standard(),
        "type": typ,
        "version": "1",
        "versioncreated": iso(asset.get("created_at") or asset.get("stored_at")),
        "pubstatus": "withheld",  # raw material from the field: an editor decides
        "headlines": [{"role": "main", "value": headline}],
        "digitalsourcetype": dict(CAPTURED),
        "altids": [{"role": "edge-box", "value": box}, {"role": "edge-asset", "value": str(asset["id"])},
                   {"role": "edge-kind", "value": kind}, {"role": "sha256", "value": str(asset.get("sha256", ""))}],
        "renditions": [{"name": "original", "href": "file:" + "/".join(_SAFE.sub("_", p) for p in Path(file).parts),
                        "contenttype": mime, "sizeinbytes": int(asset.get("size") or 0), "title": Path(file).name}],
        "ednote": f"Captured by edge box {box}" + (f", stream {asset['stream']}" if asset.get("stream") else "")
                  + (f", run {run}" if run else "") + ".",
    }
    if wall:
        doc["contentcreated"] = iso(float(wall))
    if asset.get("stream"):
        doc["altids"].append({"role": "edge-stream", "value": str(asset["stream"])})
    if run:
        doc["altids"].append({"role": "edge-run", "value": str(run)})
    if meta.get("uploaded_by"):
        doc["by"] = str(meta["uploaded_by"])
    if meta.get("note"):
        doc["descriptions"] = [{"role": "note", "contenttype": "text/plain", "value": str(meta["note"])}]
    if asset.get("tags"):
        doc["subjects"] = [{"name": str(t)} for t in asset["tags"]]
    provenance = {k: v for k, v in {"box": box, "stream": asset.get("stream"), "run": run,
                                    "start": asset.get("start"), "end": asset.get("end"),
                                    "wall_start": meta.get("wall_start"), "wall_end": meta.get("wall_end"),
                                    "created_at": asset.get("created_at"), "uploaded_by": meta.get("uploaded_by"),
                                    "made_by": asset.get("provenance") or None}.items() if v is not None}
    doc["associations"] = [_provenance_association(uri, provenance)]
    return validate({k: v for k, v in doc.items() if v is not None})  # e.g. an old row without a time
