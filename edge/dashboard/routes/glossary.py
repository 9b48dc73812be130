"""The event's glossary, edited from the dashboard: box-wide and per stream.

The text is validated as a glossary file is (edge/asr/glossary.py): an
unusable line is refused with its number and the fix, and nothing is
written. Saved text reaches running streams at their next caption.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from edge.asr.glossary import MAX_BYTES, GlossaryBook, GlossaryError
from edge.config import STREAM_NAME
from edge.dashboard.deps import get_box, require_role, require_user
from edge.dashboard.routes.pages import render
from edge.runtime.box import Box

router = APIRouter(dependencies=[Depends(require_user)])


class GlossaryIn(BaseModel):
    stream: str | None = Field(default=None, description="a stream's name; none for the box-wide glossary")
    text: str = Field(max_length=MAX_BYTES, description="one term per line, optionally '| sounds like'; empty clears it")


def glossary_book(box: Box) -> GlossaryBook:
    captions = getattr(box, "captions", None)
    if captions is not None:
        return captions.book
    config = box.config
    return GlossaryBook(box.data_dir, box_file=config.captions.glossary,
                        stream_files={s.name: s.glossary for s in config.streams if s.glossary is not None})


def _stream(name: str | None) -> str | None:
    if name in (None, ""):
        return None
    if not STREAM_NAME.match(name):
        raise HTTPException(422, f"field 'stream': {name!r} is not a stream name (fix: 1-64 letters, digits, '.', '_' or '-')")
    return name


def _view(book: GlossaryBook, stream: str | None) -> dict[str, Any]:
    merged = book.for_stream(stream)
    return {"stream": stream, "text": book.text(stream),
            "terms": [t.text for t in merged.terms] if merged else [],
            "from_config": [str(p) for p in (book.box_file, book.stream_files.get(stream or "")) if p is not None]}


def _streams(box: Box) -> list[str]:
    names = {s.name for s in box.config.streams} | {h.name for h in box.supervisor.streams()}
    return sorted(names)


@router.get("/api/glossary", tags=["glossary"])
def get_glossary(stream: str | None = Query(default=None), box: Box = Depends(get_box)) -> dict[str, Any]:
    """The dashboard's glossary text for the box (no stream) or one stream, and the terms that stream uses now."""
    try:
        return _view(glossary_book(box), _stream(stream))
    except GlossaryError as exc:  # a config file went bad after start-up
        raise HTTPException(422, str(exc)) from None


@router.put("/api/glossary", tags=["glossary"], dependencies=[Depends(require_role("editor"))],
            responses={422: {"description": "names the line that is wrong and the fix"}})
def put_glossary(body: GlossaryIn = Body(..., examples=[{"stream": None, "text": "Siobhan Ní Bhriain | shivawn nee vreen\n"}]),
                 box: Box = Depends(get_box)) -> dict[str, Any]:
    """Replace the box-wide or a stream's glossary; empty text removes it."""
    stream = _stream(body.stream)
    book = glossary_book(box)
    try:
        book.save(stream, body.text)
        return _view(book, stream)
    except GlossaryError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/glossary", include_in_schema=False)
def glossary_page(request: Request, box: Box = Depends(get_box)) -> HTMLResponse:
    book = glossary_book(box)
    sections = [{"stream": None, "title": "Every stream", "text": book.text(None)}]
    sections += [{"stream": name, "title": name, "text": book.text(name)} for name in _streams(box)]
    return render(request, "glossary.html", "glossary", sections=sections,
                  config_files=[str(p) for p in [book.box_file, *book.stream_files.values()] if p is not None])
