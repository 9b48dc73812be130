"""Caption tracks and transcripts of closed runs, built from the stored records.

A post-processor: it takes every closed run whose tracks are not built yet
(closed normally, stopped, or closed at start-up after a crash), writes its
WebVTT track and plain transcript as assets, and marks the run in the same
transaction, so a crash never builds a run twice or skips it.

What a run leaves behind is its best text: polished records in place of the
live finals they replace, live finals where nothing replaced them
(edge/asr/polish.py). A run whose speech is still being re-decoded in the
background waits for it (`pending`); a box stopped meanwhile, or a crash,
builds with what is stored. A run with translations (edge/asr/translation.py)
also gets an English track, `<stream>-<start>-captions.en.vtt`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge.asr.captions import join_text, to_webvtt
from edge.asr.polish import best_records
from edge.asr.translation import translation_records
from edge.errors import EdgeError
from edge.events import CaptionEvent
from edge.store import AssetStore, Record, Run
from edge.store.records import CAPTION, POLISHED, TRANSLATION

log = logging.getLogger(__name__)


def run_label(run: Run) -> str:
    """How a run is named in asset names: the stream and its UTC start, e.g. cam1-20261130-2141."""
    return f"{run.stream}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(run.opened_at))}"


def as_events(records: list[Record]) -> list[CaptionEvent]:
    """Finals for the cue builder; a re-decoded record is one final per Whisper segment, at its own times."""
    events = []
    for r in records:
        cues = r.data.get("cues") if r.type != CAPTION else None
        if not cues:
            events.append(CaptionEvent("final", r.stream, r.text, r.start, r.end, r.end, run=r.run, seq=r.seq,
                                       wall_start=r.wall_start))
            continue
        for start, end, text in cues:
            events.append(CaptionEvent("final", r.stream, text, start, end, end, run=r.run, seq=r.seq,
                                       wall_start=r.wall_start + (start - r.start)))
    return events


def transcript_text(records: list[Record]) -> str:
    text = ""
    for r in records:
        text = join_text(text, r.text.strip())
    return text


class TrackBuilder:
    name = "caption-tracks"

    def __init__(self, store: AssetStore, *, provenance: dict[str, Any] | None = None,
                 pending: Callable[[str], bool] | None = None) -> None:
        self._store = store
        self._provenance = dict(provenance or {})
        # Whether a run's speech is still being re-decoded in the background (polisher, translator).
        self.pending = pending or (lambda run_id: False)
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
            if run.closed_at is None or run.tracks_built or self.pending(run.id):
                return 0  # a run still being polished is built by a later step
            stored = self._store.records.read(run=run.id, type=(CAPTION, POLISHED, TRANSLATION), limit=None)
            records = best_records(stored)
            translated = translation_records(stored)

            def mark(db: Any) -> None:
                self._store.records.mark_tracks_built(db, run.id)

            if not records:
                with self._store.db.write() as db:
                    mark(db)
                return 0
            label = run_label(run)
            common = dict(stream=run.stream, run=run.id, start=records[0].start, end=max(r.end for r in records),
                          provenance=self._provenance, tags=["captions"],
                          meta={"run": run.id, "wall_start": records[0].wall_start,
                                "wall_end": max(r.wall_end for r in records), "close_reason": run.close_reason,
                                "polished": sum(r.type == POLISHED for r in records)})  # re-decoded records used
            text = transcript_text(records)
            assets = [
                {"data": to_webvtt(as_events(records)).encode(), "kind": "caption_track",
                 "name": f"{label}-captions.vtt", "mime": "text/vtt", **common},
                {"data": (text + "\n").encode(), "kind": "transcript", "name": f"{label}-transcript.txt",
                 "mime": "text/plain", **common},
            ]
            if translated:
                origin = sorted({str(r.data.get("from")) for r in translated if r.data.get("from")})
                assets.append({
                    "data": to_webvtt(as_events(translated)).encode(), "kind": "caption_track",
                    "name": f"{label}-captions.en.vtt", "mime": "text/vtt",
                    **{**common, "tags": ["captions", "translation"],
                       "meta": {**common["meta"], "language": "en", "translated_from": ",".join(origin),
                                "track": "translation"}}})
            self._store.add_many(assets, on_commit=mark)
            return 1
