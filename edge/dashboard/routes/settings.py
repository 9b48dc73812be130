"""The admins' settings page and API: box id, pairing with a center, retention, the event.

The box id is written once (`edge init`, or here while the box has none):
its sync keys carry it, so renaming a paired box would orphan it at the
center. Pairing takes the center's endpoint and its public key file as
pasted text, and restarts sync at once. Retention and event settings are
`edge.box_settings` (validated, written atomically, errors naming the field).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError

from edge.box_settings import EXPIRING_KINDS, BoxSettings, field_error, load_settings, save_settings
from edge.dashboard.deps import get_box, require_role
from edge.dashboard.routes.pages import render
from edge.errors import EdgeError
from edge.ids import BOX_ID
from edge.kinds import default_ttls
from edge.runtime.box import Box

router = APIRouter(dependencies=[Depends(require_role("admin"))])
MiB = 1 << 20
MAX_KEY_TEXT = 8 * 1024


class BoxIdIn(BaseModel):
    box_id: str = Field(min_length=1, max_length=64, examples=["truck-7"],
                        description="letters, digits, '.', '_' or '-', starting with a letter or digit")


class PairingIn(BaseModel):
    center: str = Field(min_length=1, max_length=300, examples=["tcp://center.newsroom.example:5555"])
    center_key: str = Field(min_length=1, max_length=MAX_KEY_TEXT,
                            description="the text of the center's public key file (edge-center init prints its path)")


def _files(box: Box) -> Any:
    from cloud_sync.boxfiles import BoxFiles

    return BoxFiles(box.data_dir)


def apply_settings(box: Box, settings: BoxSettings, *, at_start: bool = False) -> None:
    """Put saved settings into effect on a running box (the disk floor now; TTLs at the next sync start).
    At start only an override is applied: without one the store keeps the floor it was opened with."""
    floor_mb = settings.retention.disk_floor_mb
    if floor_mb is None and not at_start:
        floor_mb = box.config.store.disk_floor_mb
    if floor_mb is not None:
        box.store.disk_floor_bytes = floor_mb * MiB


def settings_view(box: Box) -> dict[str, Any]:
    files = _files(box)
    try:
        recorded = files.read()
    except EdgeError:
        recorded = {}
    public_key = files.public_key.read_text() if files.public_key.is_file() else None
    settings = load_settings(box.data_dir)
    return {
        "box_id": box.config.box_id,
        "initialised": bool(recorded.get("box_id")),
        "center": recorded.get("center"),
        "box_public_key": public_key,
        "sync": box.sync_state(),
        "event": settings.event.model_dump(),
        "retention": settings.retention.model_dump(),
        "defaults": {"disk_floor_mb": box.config.store.disk_floor_mb,
                     "ttl_hours": {k: v / 3600 for k, v in default_ttls().items()}},
        "expiring_kinds": list(EXPIRING_KINDS),
    }


@router.get("/api/settings", tags=["settings"])
def get_settings(box: Box = Depends(get_box)) -> dict[str, Any]:
    """Box id, pairing, retention and event settings, with the defaults they override."""
    return settings_view(box)


@router.put("/api/settings", tags=["settings"], responses={422: {"description": "names the field that is wrong"}})
def put_settings(body: dict[str, Any] = Body(..., examples=[{"event": {"name": "River flood", "place": "East bank"},
                                                              "retention": {"disk_floor_mb": 2048,
                                                                            "ttl_hours": {"keyframe": 12}}}]),
                 box: Box = Depends(get_box)) -> dict[str, Any]:
    """Replace the event and retention settings (both sections; send what GET returned, changed)."""
    try:
        settings = BoxSettings.model_validate(body)
    except ValidationError as exc:
        raise HTTPException(422, field_error(exc)) from None
    save_settings(box.data_dir, settings)
    apply_settings(box, settings)
    return settings_view(box)


@router.post("/api/settings/box-id", tags=["settings"],
             responses={409: {"description": "the box already has an id"}, 422: {"description": "unusable id"}})
def set_box_id(body: BoxIdIn, box: Box = Depends(get_box)) -> dict[str, Any]:
    """Name a box that has none yet (what `edge init --box-id` does); makes its sync keys."""
    files = _files(box)
    if files.settings.is_file() and files.read().get("box_id"):
        raise HTTPException(409, f"this box is already {files.read()['box_id']!r}; its sync keys carry that name "
                                 "(fix: keep it, or start a new data directory with `edge init`)")
    if not BOX_ID.fullmatch(body.box_id):
        raise HTTPException(422, f"box id {body.box_id!r} is not usable (fix: use letters, digits, '.', '_' or '-', "
                                 "starting with a letter or digit)")
    try:
        files.init(body.box_id)
    except EdgeError as exc:
        raise HTTPException(422, str(exc)) from None
    box.config = box.config.model_copy(update={"box_id": body.box_id})
    return settings_view(box)


@router.post("/api/settings/pairing", tags=["settings"],
             responses={409: {"description": "the box has no id yet"}, 422: {"description": "bad endpoint or key"}})
def pair(body: PairingIn, box: Box = Depends(get_box)) -> dict[str, Any]:
    """Pair with a center (what `edge pair` does) and start syncing to it now."""
    from cloud_sync.keys import KeyFileError, load_public

    files = _files(box)
    if not (files.settings.is_file() and files.read().get("box_id")):
        raise HTTPException(409, "this box has no id yet (fix: set the box id above first)")
    center = body.center.strip()
    if not center.startswith("tcp://") or not center[6:] or any(c.isspace() for c in center):
        raise HTTPException(422, f"field 'center': {center!r} is not a center endpoint "
                                 "(fix: use tcp://HOST:PORT, as `edge-center serve --bind` says)")
    with tempfile.TemporaryDirectory(prefix="center-key-") as tmp:
        key_file = Path(tmp) / "center.key"
        key_file.write_text(body.center_key.replace("\r\n", "\n").strip() + "\n")
        try:
            load_public(key_file)
        except KeyFileError:
            raise HTTPException(422, "field 'center_key': this is not a center public key file (fix: paste the whole "
                                     "file `edge-center init` printed the path of, from '#' to the public-key line)"
                                ) from None
        files.pair(center, key_file)
    if box.syncer is not None:
        box.syncer.close()
        box.syncer = None
    line = box.start_sync()
    view = settings_view(box)
    view["message"] = line
    return view


@router.get("/settings", include_in_schema=False)
def settings_page(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    return render(request, "settings.html", "settings", s=settings_view(box),
                  fingerprint=getattr(request.app.state, "tls_fingerprint", None))
