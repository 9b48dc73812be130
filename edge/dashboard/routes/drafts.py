"""The draft editor: list drafts, show each sentence beside its sources, edit, approve, reject, audit.

Reading needs a login; changing a draft needs the editor role (viewers read).
Every change is recorded with the user and the time (edge/drafts/store.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.dashboard.deps import get_box, require_role, require_user
from edge.drafts.pipeline import DraftError
from edge.drafts.store import MAX_SENTENCES, DraftStateError, body_text
from edge.runtime.box import Box

router = APIRouter()
MAX_CITED = 40  # source captions shown per sentence


class EditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    headline: str | None = Field(default=None, max_length=2000)
    body: list[str] | None = Field(default=None, max_length=MAX_SENTENCES)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stream: str = Field(min_length=1, max_length=64)
    since_minutes: float | None = Field(default=None, gt=0, le=24 * 60)


def _service(box: Box) -> Any:
    service = getattr(box, "drafts", None)
    if service is None:
        raise HTTPException(503, "drafts are not running on this box")
    return service


def _sources(box: Box, seqs: list[int]) -> list[dict[str, Any]]:
    """The caption records a sentence cites; `media` is set when the box recorded the run's audio
    (then GET /api/runs/{run}/audio plays that moment)."""
    out = []
    media: dict[str, str | None] = {}
    for seq in sorted(set(int(s) for s in seqs))[:MAX_CITED]:
        if seq <= 0:
            out.append({"seq": 0, "type": "event", "text": "event name and place (box settings)"})
            continue
        found = box.store.records.read(after=seq - 1, limit=1, type=None)
        if not found or found[0].seq != seq:
            out.append({"seq": seq, "missing": True, "text": "(this caption is no longer stored)"})
            continue
        r = found[0]
        if r.run not in media:
            row = box.store.db.read_one(
                "SELECT id FROM assets WHERE run = ? AND kind = 'media' AND sync != 'evicted' AND mime LIKE 'audio/%'"
                " LIMIT 1", (r.run,))
            media[r.run] = row[0] if row else None
        out.append({**r.to_json(), "media": media[r.run]})
    return out


def _detail(box: Box, row: Any) -> dict[str, Any]:
    service = _service(box)
    out = row.to_json()
    for part in ("body", "quotes", "facts", "removed"):
        for s in out.get(part, []):
            if s.get("support"):
                s["sources"] = _sources(box, s["support"]["seqs"])
    h = out["headline"]
    if h.get("support"):
        h["sources"] = _sources(box, h["support"]["seqs"])
    out["audit"] = service.drafts.audit(row.id)
    out["body_text"] = body_text(row.content)
    out["model"] = {k: v for k, v in (out.get("model") or {}).items() if k != "raw"} or None
    return out


@router.get("/drafts", include_in_schema=False, dependencies=[Depends(require_user)])
def drafts_page(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    from edge.dashboard.routes.pages import render

    service = getattr(box, "drafts", None)
    rows = service.drafts.list(limit=200) if service is not None else []
    streams = box.store.records.streams()
    return render(request, "drafts.html", "drafts", drafts=rows, streams=streams,
                  sync_policy=box.config.drafts.sync, busy=getattr(service, "busy", None),
                  last_error=getattr(service, "last_error", None))


@router.get("/api/drafts", tags=["drafts"])
def list_drafts(stream: str | None = None, box: Box = Depends(get_box),
                _user: str = Depends(require_user)) -> list[dict[str, Any]]:
    rows = _service(box).drafts.list(stream=stream, limit=200)
    return [{"id": r.id, "stream": r.stream, "state": r.state, "version": r.version, "headline": r.headline,
             "created_at": r.created_at, "updated_at": r.updated_at, "mode": r.content.get("mode"),
             "removed": len(r.content.get("removed", []))} for r in rows]


@router.post("/api/drafts", tags=["drafts"], status_code=202)
def request_draft(req: RequestBody, box: Box = Depends(get_box),
                  user: str = Depends(require_role("editor"))) -> dict[str, Any]:
    """Draft a stream now (in the background, at the lowest priority); the list shows it when written."""
    if req.stream not in box.store.records.streams():
        raise HTTPException(404, f"no captions of stream '{req.stream}' yet: pick a stream that has spoken")
    try:
        _service(box).request(req.stream, since_minutes=req.since_minutes, user=user)
    except DraftError as exc:
        raise HTTPException(429, str(exc)) from None
    return {"queued": req.stream}


def _get(box: Box, draft_id: str) -> Any:
    try:
        return _service(box).drafts.get(draft_id)
    except DraftStateError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/api/drafts/{draft_id}", tags=["drafts"])
def get_draft(draft_id: str, box: Box = Depends(get_box), _user: str = Depends(require_user)) -> dict[str, Any]:
    return _detail(box, _get(box, draft_id))


@router.get("/api/drafts/{draft_id}/ninjs", tags=["drafts"])
def draft_ninjs(draft_id: str, box: Box = Depends(get_box), _user: str = Depends(require_user)) -> dict[str, Any]:
    _get(box, draft_id)
    return _service(box).drafts.document(draft_id)


def _change(box: Box, draft_id: str, fn: Any) -> dict[str, Any]:
    _get(box, draft_id)
    try:
        row = fn()
    except DraftStateError as exc:
        raise HTTPException(409, str(exc)) from None
    return _detail(box, row)


@router.post("/api/drafts/{draft_id}/edit", tags=["drafts"])
def edit_draft(draft_id: str, body: EditBody, box: Box = Depends(get_box),
               user: str = Depends(require_role("editor"))) -> dict[str, Any]:
    drafts = _service(box).drafts
    return _change(box, draft_id, lambda: drafts.edit(draft_id, user=user, headline=body.headline, body=body.body))


@router.post("/api/drafts/{draft_id}/approve", tags=["drafts"])
def approve_draft(draft_id: str, box: Box = Depends(get_box),
                  user: str = Depends(require_role("editor"))) -> dict[str, Any]:
    drafts = _service(box).drafts
    return _change(box, draft_id, lambda: drafts.approve(draft_id, user=user))


@router.post("/api/drafts/{draft_id}/reject", tags=["drafts"])
def reject_draft(draft_id: str, body: RejectBody, box: Box = Depends(get_box),
                 user: str = Depends(require_role("editor"))) -> dict[str, Any]:
    drafts = _service(box).drafts
    return _change(box, draft_id, lambda: drafts.reject(draft_id, user=user, reason=body.reason))
