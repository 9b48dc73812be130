"""The two kinds of processor every feature plugs in as.

- A realtime processor works on one stream's media as it arrives, on its own
  thread and queue (see pipeline.py): captions now; keyframes and OCR later.
  It consumes audio or video items and yields typed events.
- A post-processor is box-wide: it reads durable records after its named
  cursor and writes assets or records (caption segments, caption tracks; later
  tags and drafts). Its cursor lives in the store and moves in the same
  transaction as what it wrote, so a restart neither repeats nor skips work.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol, runtime_checkable

from edge.events import AudioChunk, CaptionEvent, VideoFrame

Consumes = Literal["audio", "video"]
ProcessorEvent = CaptionEvent


@runtime_checkable
class RealtimeProcessor(Protocol):
    name: str
    consumes: Consumes

    def feed(self, item: AudioChunk | VideoFrame) -> Iterable[ProcessorEvent]:
        """Take one item; return the events it completes (may be none)."""

    def flush(self) -> Iterable[ProcessorEvent]:
        """The media ended: return what is still pending."""


@runtime_checkable
class PostProcessor(Protocol):
    name: str  # also its cursor's name in the store

    def step(self) -> int:
        """Do the work that is due (records after the cursor, closed runs); return how many items were done."""
