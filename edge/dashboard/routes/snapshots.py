"""The newest frame of a camera, for the live page: GET /api/streams/{name}/snapshot.jpg."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import Response

from edge.dashboard.deps import get_box, require_user
from edge.ids import STREAM_NAME, is_match
from edge.runtime.box import Box

router = APIRouter(tags=["streams"])


@router.get("/api/streams/{name}/snapshot.jpg", dependencies=[Depends(require_user)],
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no picture from this stream"}},
            response_class=Response)
def snapshot(name: str = Path(description="the stream's name"), box: Box = Depends(get_box)) -> Response:
    """The stream's latest decoded frame as JPEG (faces blurred when the stream blurs them).

    404 when the stream is unknown, has no video (a microphone, an audio-only
    file) or has not delivered a frame yet. Never cached: the next request
    shows the next frame.
    """
    if not is_match(STREAM_NAME, name):
        raise HTTPException(422, "stream names use 1-64 letters, digits, '.', '_' or '-'")
    vision = box.supervisor.vision
    shot = vision.snapshots.get(name) if vision is not None else None
    if shot is None:
        known = any(h.name == name for h in box.supervisor.streams())
        raise HTTPException(404, f"stream {name!r} has no picture yet (no video, or not started)" if known
                            else f"no stream named {name!r}")
    return Response(shot.jpeg, media_type="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Stream-Time": f"{shot.pts:.3f}",
                             "X-Frame-Size": f"{shot.width}x{shot.height}"})
