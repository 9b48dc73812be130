"""Caption tracks and transcripts of closed runs, built from the stored records.

A post-processor: it takes every closed run whose tracks are not built yet
(closed normally, stopped, or closed at start-up after a crash), writes its
WebVTT track and plain transcript as assets, and marks the run in the same
transaction, so a crash never builds a run twice or skips it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from edge.asr.captions import join_text, to_webvtt
from edge.errors import EdgeError
from edge.events import CaptionEvent
from edge.store import AssetStore, Record, Run

log = logging.getLogger(__name__)


def run_label(run: Run) -> str:
    """How a run is named in asset names: the stream and its UTC start, e.g. cam1-20261130-2141."""
    return f"{run.stream}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(run.opened_at))}"


def as_events(records: list[Record]) -> list[CaptionEvent]:
    return [CaptionEvent("final", r.stream, r.text, r.start, r.end, r.end, run=r.run, seq=r.seq,
                         wall_start=r.wall_start) for r in records]


def transcript_text(records: list[Record]) -> str:
    text = ""
    for r in records:
        text = join_text(text, r.text.strip())
    return text


class TrackBuilder:
    name = "caption-tracks"

    def __init__(self, store: AssetStore, *, provenance: dict[str, Any] | None = None) -> None:
        self._store = store
        self._provenance = dict(provenance or {})
        self._lock = threading.Lock()  # the stream thread and the post-processor loop may both ask

    def step(self) -> int:
        done = 0
        for run in self._store.records.runs(closed_without_tracks=True, limit=50):
            try:
                done += self.build(run)
            except EdgeError as exc:  # e.g. disk full: tried again on the next step
                log.error("could not build the caption track of run %s (%s): %s", run.id, run.stream, exc)
        return done

    def build(self, run: Run) -> int:
        """Build one closed run's track and transcript; 0 if already built or not closed."""
        with self._lock:
            run = self._store.records.run(run.id)
            if run.closed_at is None or run.tracks_built:
                return 0
            records = self._store.records.read(run=run.id, limit=None)

            def mark(db: Any) -> None:
                self._store.records.mark_tracks_built(db, run.id)

            if not records:
                with self._store.db.write() as db:
                    mark(db)
                return 0
            label = run_label(run)
            common = dict(stream=run.stream, run=run.id, start=records[0].start, end=records[-1].end,
                          provenance=self._provenance, tags=["captions"],
                          meta={"run": run.id, "wall_start": records[0].wall_start, "wall_end": records[-1].wall_end,
                                "close_reason": run.close_reason})
            text = transcript_text(records)
            self._store.add_many([
                {"data": to_webvtt(as_events(records)).encode(), "kind": "caption_track",
                 "name": f"{label}-captions.vtt", "mime": "text/vtt", **common},
                {"data": (text + "\n").encode(), "kind": "transcript", "name": f"{label}-transcript.txt",
                 "mime": "text/plain", **common},
            ], on_commit=mark)
            return 1
