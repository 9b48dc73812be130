"""Assets: search and browse the store, download content, upload from a phone.

Content is served only through `store.content_path(id)`: the id must be an
asset id and the store resolves the blob itself (refusing links out of it),
so no part of the URL ever becomes part of a file path.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from pathlib import PurePosixPath

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from edge.dashboard import sniff
from edge.dashboard.deps import get_box, require_user
from edge.dashboard.limits import DiskReservations
from edge.dashboard.uploads import ReceivedUpload, UploadRejected, receive_upload
from edge.runtime.box import Box
from edge.runtime.event_log import EventLog
from edge.store import Asset, AssetKind, DiskFullError, StoreError
from edge.store.assets import ASSET_ID

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["assets"], dependencies=[Depends(require_user)])

MiB = 1 << 20
SEARCH_CAP = 5000  # search has no offset/kind filters of its own: filter this many newest hits
MAX_TAGS = 20
# Shown inline in the browser; anything else is a download. Never HTML/SVG: those could run script.
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/webp", "image/gif", "text/plain", "text/vtt",
    "video/mp4", "video/quicktime", "video/webm", "video/x-matroska",
    "audio/wav", "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/webm",
})
NOT_FOUND = "no such asset"


class AssetList(BaseModel):
    assets: list[Asset]
    limit: int
    offset: int


class AssetPatch(BaseModel):
    tags: list[str] = Field(max_length=MAX_TAGS, description="replaces the asset's tags")


@router.get("/assets", response_model=AssetList)
def list_assets(
    q: str | None = Query(None, max_length=200, description="searches names, tags and what was said (captions)"),
    kind: AssetKind | None = Query(None),
    stream: str | None = Query(None, max_length=64),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    box: Box = Depends(get_box),
) -> AssetList:
    """Newest first."""
    if q and q.strip():
        hits = box.store.search(q, limit=SEARCH_CAP)
        hits = [a for a in hits if (kind is None or a.kind == kind) and (stream is None or a.stream == stream)]
        page = hits[offset:offset + limit]
    else:
        page = box.store.list(kind=kind, stream=stream, limit=limit, offset=offset)
    return AssetList(assets=page, limit=limit, offset=offset)


@router.get("/assets/{asset_id}", response_model=Asset, responses={404: {"description": NOT_FOUND}})
def get_asset(asset_id: str, box: Box = Depends(get_box)) -> Asset:
    return find_asset(box, asset_id)


@router.patch("/assets/{asset_id}", response_model=Asset, responses={404: {"description": NOT_FOUND}})
def update_asset(asset_id: str, body: AssetPatch, box: Box = Depends(get_box)) -> Asset:
    """Replace the asset's tags (what the asset is — bytes, kind, times — never changes)."""
    find_asset(box, asset_id)
    tags = [t.strip()[:64] for t in body.tags]
    try:
        return box.store.update(asset_id, tags=tags)
    except DiskFullError as exc:
        raise HTTPException(507, str(exc)) from None


@router.get("/assets/{asset_id}/content", response_class=FileResponse,
            responses={200: {"description": "the asset's bytes", "content": {"application/octet-stream": {}}},
                       404: {"description": NOT_FOUND}, 410: {"description": "evicted after sync"}})
def asset_content(asset_id: str, download: bool = False, box: Box = Depends(get_box)) -> FileResponse:
    """The bytes, with the stored type; `?download=1` forces a download instead of an inline view."""
    asset = find_asset(box, asset_id)
    try:
        path = box.store.content_path(asset.id)
    except KeyError:
        raise HTTPException(404, NOT_FOUND) from None
    except StoreError as exc:
        if asset.sync == "evicted":
            raise HTTPException(410, str(exc)) from None
        # A missing or planted blob: an operator problem, not something to explain to the client.
        log.warning("refusing to serve asset %s: %s", asset.id, exc)
        raise HTTPException(404, NOT_FOUND) from None
    inline = asset.mime in INLINE_TYPES and not download
    return FileResponse(
        path,
        media_type=asset.mime,
        filename=safe_filename(asset.name),
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            # Opened on its own, the content gets no script, no plugins, no same-origin access.
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; "
                                       "style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=3600",  # content never changes for an id
        },
    )


@router.post(
    "/uploads", status_code=201, response_model=Asset,
    responses={413: {"description": "larger than dashboard.max_upload_mb"},
               415: {"description": f"not one of: {sniff.ALLOWED}"},
               507: {"description": "the box's disk is full"}},
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "photo, clip, audio or text note"},
            "kind": {"type": "string", "enum": ["upload", "note"], "default": "upload"},
            "tags": {"type": "string", "description": "comma-separated"},
            "note": {"type": "string", "description": "text; stored as the asset for kind=note without a file"},
        }}}}}},
)
async def upload(request: Request, box: Box = Depends(get_box)) -> JSONResponse:
    """Store a photo, clip, audio file or note. The type is found from the bytes, not the name."""
    max_bytes = box.config.dashboard.max_upload_mb * MiB
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + MiB:  # 1 MiB for the form around it
        raise HTTPException(413, f"the file is larger than this box accepts ({box.config.dashboard.max_upload_mb} MB)")
    body_bytes = int(declared) if declared and declared.isdigit() else max_bytes + MiB
    reservations: DiskReservations = request.app.state.disk_reservations

    def check_head(head: bytes) -> None:
        if sniff.sniff(head) is None:
            raise UploadRejected(415, sniff.NOT_ACCEPTED)

    with contextlib.ExitStack() as held:
        try:
            # Held until the blob is stored: the temp copy and the blob exist side by side for a moment.
            held.enter_context(reservations.hold(box.store, 2 * body_bytes))
        except DiskFullError as exc:
            raise HTTPException(507, str(exc)) from None
        try:
            received = await receive_upload(request.headers.get("content-type", ""), request.stream(),
                                            tmp_dir=request.app.state.upload_tmp, max_bytes=max_bytes,
                                            check_head=check_head)
        except UploadRejected as exc:
            raise HTTPException(exc.status, exc.message) from None
        except OSError as exc:  # ENOSPC while writing the temp copy
            raise HTTPException(507, f"cannot receive the upload: {exc.strerror} (fix: free space on the box)") from None
        try:
            asset = await run_in_threadpool(_store_upload, box, received, request.state.user)
        finally:
            received.discard()
    return JSONResponse(asset.model_dump(mode="json"), status_code=201)


def _store_upload(box: Box, received: ReceivedUpload, user: str) -> Asset:
    fields = received.fields
    kind = (fields.get("kind") or "upload").strip()
    if kind not in ("upload", "note"):
        raise HTTPException(422, "kind must be 'upload' or 'note'")
    tags = [t.strip()[:64] for t in fields.get("tags", "").split(",") if t.strip()][:MAX_TAGS]
    note = fields.get("note", "").strip()
    meta = {"uploaded_by": user}
    if received.path is None:
        if kind != "note" or not note:
            raise HTTPException(422, "attach a file, or write a note (kind=note)")
        asset = _store(box.store.add_bytes, note.encode() + b"\n", kind="note", name=_note_name(),
                       mime="text/plain", tags=tags, meta=meta, provenance={"source": "dashboard"})
        _log_upload(box, asset, user)
        return asset
    with open(received.path, "rb") as f:
        found = sniff.sniff(f.read(sniff.HEAD_BYTES))
    if found is None or (found.is_text and not sniff.is_plain_text(received.path)):
        raise HTTPException(415, sniff.NOT_ACCEPTED)
    if found.is_text and kind != "note":
        raise HTTPException(415, sniff.text_posing_as_media(received.filename))
    if note:
        meta["note"] = note
    if received.client_type:
        meta["client_type"] = received.client_type[:100]
    asset = _store(box.store.add_file, received.path, kind=kind, name=_upload_name(received.filename, found),
                   mime=found.mime, tags=tags, meta=meta, provenance={"source": "dashboard"},
                   text=note or None)  # the note is what an editor will search for
    _log_upload(box, asset, user)
    return asset


def _log_upload(box: Box, asset: Asset, user: str) -> None:
    try:
        EventLog(box.store).add("upload", f"{user} uploaded {asset.name} ({asset.kind}, {asset.size / 1e6:.1f} MB)",
                                data={"asset_id": asset.id, "by": user})
    except StoreError as exc:  # the upload is stored; a missing log line must not turn it into an error
        log.warning("upload %s not written to the event log: %s", asset.id, exc)


def _store(add: Callable[..., Asset], *args: object, **kwargs: object) -> Asset:
    try:
        return add(*args, **kwargs)
    except DiskFullError as exc:
        raise HTTPException(507, str(exc)) from None
    except StoreError as exc:
        raise HTTPException(500, str(exc)) from None


# -- helpers shared with the pages ---------------------------------------------


def find_asset(box: Box, asset_id: str) -> Asset:
    """The asset with this id, or 404; anything that is not shaped like an id is never looked up."""
    if not ASSET_ID.fullmatch(asset_id):
        raise HTTPException(404, NOT_FOUND)
    try:
        return box.store.get(asset_id)
    except KeyError:
        raise HTTPException(404, NOT_FOUND) from None


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str, default: str = "asset") -> str:
    """An ASCII file name with no path, quotes or control characters, for Content-Disposition."""
    base = PurePosixPath(name.replace("\\", "/")).name
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip(" .")[:100]
    return cleaned or default


def _upload_name(client_name: str | None, found: sniff.FileType) -> str:
    stem = PurePosixPath(safe_filename(client_name or "", default="upload"))
    if stem.suffix.lower() in found.extensions:
        return str(stem)
    return f"{stem.stem or 'upload'}{found.extensions[0]}"


def _note_name() -> str:
    return time.strftime("note-%Y%m%d-%H%M%S.txt")

