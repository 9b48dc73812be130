"""`GET /api/runs/{run}/audio?start=&end=`: a moment of a run's recorded audio, for search hits, drafts and quotes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from edge.dashboard.deps import get_box, require_user
from edge.ids import RUN_ID, is_match
from edge.runtime.audio_record import MAX_SLICE_S, audio_slice
from edge.runtime.box import Box

router = APIRouter(prefix="/api", tags=["runs"], dependencies=[Depends(require_user)])


@router.get("/runs/{run_id}/audio", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 404: {"description": "no recorded audio there"}})
def run_audio(run_id: str, start: float = Query(..., ge=0, le=7 * 86400),
              end: float = Query(..., ge=0, le=7 * 86400), box: Box = Depends(get_box)) -> Response:
    if not is_match(RUN_ID, run_id):
        raise HTTPException(404, "no such run")
    if not end > start:
        raise HTTPException(422, "end must be after start (stream seconds of the run)")
    data = audio_slice(box.store, run_id, start, end)
    if data is None:
        raise HTTPException(404, "no audio was recorded for that moment (store.record_audio is off, "
                                 "or the recording was evicted to free disk)")
    return Response(data, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600",
                                                           "X-Clipped-To-S": str(min(end - start, MAX_SLICE_S))})
