"""Search across what the box heard, saw and was told: `GET /api/search` and the search page (same code as `edge search`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from edge.dashboard.deps import get_box, require_user
from edge.dashboard.routes.pages import render
from edge.runtime.box import Box
from edge.search.hybrid import MAX_QUERY_CHARS, HybridSearch, QueryError

router = APIRouter(dependencies=[Depends(require_user)])


def run_search(box: Box, q: str, limit: int, stream: str | None) -> dict:
    try:
        hits = HybridSearch(box.store.db, box.embedder).search(q, limit, stream=stream)
    except QueryError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"query": q, "semantic": box.embedder is not None, "results": [h.to_json() for h in hits]}


@router.get("/api/search")
def api_search(q: str = Query("", max_length=MAX_QUERY_CHARS * 2), limit: int = Query(10, ge=1, le=100),
               stream: str | None = Query(None, max_length=64), box: Box = Depends(get_box)) -> dict:
    return run_search(box, q, limit, stream)


@router.get("/search", include_in_schema=False)
def search_page(request: Request, q: str = Query("", max_length=MAX_QUERY_CHARS * 2),
                box: Box = Depends(get_box)) -> HTMLResponse:
    results, error = None, None
    if q.strip():
        try:
            results = run_search(box, q, 20, None)["results"]
        except HTTPException as exc:
            error = exc.detail
    return render(request, "search.html", "search", q=q, results=results, error=error,
                  semantic=box.embedder is not None, max_chars=MAX_QUERY_CHARS)
