"""Server-rendered pages. They read the box directly; actions go through the JSON API from small scripts."""

from __future__ import annotations

from typing import Any, cast, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from edge.dashboard.auth import safe_next
from edge.dashboard.deps import get_box, require_user
from edge.dashboard.routes.assets import INLINE_TYPES, find_asset, list_assets
from edge.dashboard.routes.metrics import box_status
from edge.dashboard.routes.streams import public
from edge.dashboard.status import banner, box_id_of
from edge.runtime.box import Box
from edge.runtime.event_log import EventLog
from edge.store import AssetKind, StoreError

router = APIRouter(include_in_schema=False)
user_router_deps = [Depends(require_user)]

PAGE_SIZE = 30
TEXT_PREVIEW_BYTES = 64 * 1024
TEXT_TYPES = frozenset({"text/plain", "text/vtt"})
NAV = [("live", "/live", "Live"), ("streams", "/streams", "Streams"), ("assets", "/assets", "Assets"),
       ("upload", "/upload", "Upload"), ("drafts", "/drafts", "Drafts"), ("sync", "/sync", "Sync"),
       ("events", "/events", "Events"), ("search", "/search", "Search"),
       ("health", "/health", "Health")]
NAME_RULE = ("A name is 1 to 64 letters (a-z, A-Z), digits, dots, dashes or underscores, with no spaces, "
             "e.g. cam1 or stage-left.")
# Shown only when their key is in app.state.features: a page that is still a placeholder stays out of the way.
OPTIONAL_NAV = frozenset({"drafts"})


def nav_for(request: Request) -> list[tuple[str, str, str]]:
    features = getattr(request.app.state, "features", set())
    return [item for item in NAV if item[0] not in OPTIONAL_NAV or item[0] in features]


def render(request: Request, template: str, active: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    box: Box = request.app.state.box
    return request.app.state.templates.TemplateResponse(
        request, template, status_code=status_code,
        context={"user": request.state.user, "box_id": box_id_of(box), "nav": nav_for(request), "active": active,
                 "disk": box.store.disk_status(), **context},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    target = safe_next(next)
    if request.state.user:
        return RedirectResponse(target, status_code=303)
    box: Box = request.app.state.box
    return request.app.state.templates.TemplateResponse(
        request, "login.html", context={"next": target, "box_id": box_id_of(box), "user": None},
        headers={"Cache-Control": "no-store"})


@router.get("/", dependencies=user_router_deps)
def home() -> RedirectResponse:
    return RedirectResponse("/live", status_code=303)


@router.get("/live", dependencies=user_router_deps)
def live(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    return render(request, "live.html", "live", streams=[public(s) for s in box.supervisor.streams()],
                  banner=banner(box))


@router.get("/streams", dependencies=user_router_deps)
def streams(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    return render(request, "streams.html", "streams", streams=[public(s) for s in box.supervisor.streams()],
                  name_rule=NAME_RULE,
                  media_dirs=[str(d) for d in request.app.state.source_policy.media_dirs])


@router.get("/assets", dependencies=user_router_deps)
def assets(
    request: Request,
    q: str = Query("", max_length=200),
    kind: str = Query(""),
    stream: str = Query("", max_length=64),
    offset: int = Query(0, ge=0),
    box: Box = Depends(get_box),
) -> HTMLResponse:
    kinds = list(get_args(AssetKind))
    # The API's own filtering, so the page and /api/assets never disagree.
    result = list_assets(q=q or None, kind=cast(AssetKind, kind) if kind in kinds else None, stream=stream or None,
                         limit=PAGE_SIZE + 1, offset=offset, box=box)
    items = result.assets[:PAGE_SIZE]

    def page_link(new_offset: int) -> str:
        params = {k: v for k, v in {"q": q, "kind": kind, "stream": stream}.items() if v}
        return "/assets?" + urlencode({**params, "offset": new_offset})

    return render(request, "assets.html", "assets", assets=items, q=q, kind=kind, stream=stream, kinds=kinds,
                  next_link=page_link(offset + PAGE_SIZE) if len(result.assets) > PAGE_SIZE else None,
                  prev_link=page_link(max(0, offset - PAGE_SIZE)) if offset > 0 else None)


@router.get("/assets/{asset_id}", dependencies=user_router_deps)
def asset_detail(request: Request, asset_id: str, box: Box = Depends(get_box)) -> HTMLResponse:
    asset = find_asset(box, asset_id)
    text, truncated = None, False
    if asset.mime in TEXT_TYPES and asset.sync != "evicted":
        try:
            with open(box.store.content_path(asset.id), "rb") as f:
                raw = f.read(TEXT_PREVIEW_BYTES + 1)
            text, truncated = raw[:TEXT_PREVIEW_BYTES].decode("utf-8", "replace"), len(raw) > TEXT_PREVIEW_BYTES
        except (KeyError, StoreError, OSError):
            text = None
    preview = asset.mime.split("/")[0] if asset.mime in INLINE_TYPES else None
    return render(request, "asset.html", "assets", asset=asset, text=text, truncated=truncated, preview=preview)


@router.get("/upload", dependencies=user_router_deps)
def upload(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    return render(request, "upload.html", "upload", max_upload_mb=box.config.dashboard.max_upload_mb)


@router.get("/sync", dependencies=user_router_deps)
def sync(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    summaries = box.store.summaries()
    counts = {state: sum(1 for a in summaries if a.sync == state) for state in ("pending", "synced", "evicted")}
    return render(request, "sync.html", "sync", counts=counts, oldest=box.store.pending_sync(limit=20),
                  link=box.sync_state())


@router.get("/health", dependencies=user_router_deps)
def health(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    return render(request, "health.html", "health", h=box_status(box), ws_clients=request.app.state.ws_clients)


@router.get("/events", dependencies=user_router_deps)
def events(request: Request, kind: str = Query("", max_length=16), box: Box = Depends(get_box)) -> HTMLResponse:
    kinds = ["stream", "upload", "sync", "alert"]
    chosen = kind if kind in kinds else None
    return render(request, "events.html", "events", events=EventLog(box.store).recent(kind=chosen, limit=200),
                  kinds=kinds, kind=chosen or "")
