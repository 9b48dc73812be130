"""Vision events into the store, for one run of one stream.

- a keyframe becomes a `keyframe` asset: the JPEG as its bytes, its OCR text
  as its search text, run / stream time / wall time, and its thumbnail inline
  in `meta.thumbnail` (a data: URL of a few KB), so a search result or the
  center can show it even after the full still was evicted;
- on-screen text becomes ONE `ocr` record per span: stored when it appears
  (searchable at once, durable before anyone is told) and its end moved while
  it stays on screen.

A full disk (or any store failure) stops storing, not seeing: the events
still go to the live bus, and the stream's captions carry on.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import replace
from typing import Any

from edge.events import KeyframeEvent, OcrTextEvent
from edge.store import AssetStore, DiskFullError, Run
from edge.store.records import OCR

log = logging.getLogger(__name__)


class VisionRecorder:
    def __init__(self, store: AssetStore, run: Run, *, provenance: dict[str, Any] | None = None) -> None:
        self.store = store
        self.run = run
        self.provenance = dict(provenance or {})
        self._seqs: dict[int, int] = {}  # text span key -> its record
        self._keyframe: str | None = None  # the newest keyframe asset: where OCR text was seen
        self.disk_full: DiskFullError | None = None
        self.failures = 0

    def handle(self, event: KeyframeEvent | OcrTextEvent) -> KeyframeEvent | OcrTextEvent:
        """Store `event`; returns it with its run and its asset id or record seq filled in."""
        try:
            if isinstance(event, KeyframeEvent):
                return self._keyframe_asset(event)
            return self._text_record(event)
        except DiskFullError as exc:
            if self.disk_full is None:
                log.error("stream %s: disk full, keyframes and on-screen text are not stored: %s",
                          self.run.stream, exc)
            self.disk_full = exc
            return replace(event, run=self.run.id)
        except Exception:  # a store problem costs this still or line, never the stream's captions
            self.failures += 1
            if self.failures <= 3:
                log.exception("stream %s: storing a %s failed", self.run.stream, event.KIND)
            return replace(event, run=self.run.id)

    def _keyframe_asset(self, ev: KeyframeEvent) -> KeyframeEvent:
        wall = self.run.wall(ev.pts)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(wall))
        thumbnail = "data:image/jpeg;base64," + base64.b64encode(ev.thumbnail).decode("ascii")
        asset = self.store.add_bytes(
            ev.jpeg, kind="keyframe", name=f"{ev.stream}-{stamp}-scene{ev.scene}.jpg", mime="image/jpeg",
            stream=ev.stream, run=self.run.id, start=ev.pts, end=ev.pts, text=ev.text or None,
            provenance=self.provenance,
            meta={"scene": ev.scene, "wall": round(wall, 3), "width": ev.width, "height": ev.height,
                  "faces_blurred": ev.faces_blurred, "thumbnail": thumbnail})
        self._keyframe = asset.id
        self.disk_full = None
        return replace(ev, run=self.run.id, asset=asset.id, wall=wall)

    def _text_record(self, ev: OcrTextEvent) -> OcrTextEvent:
        run = self.run
        seq = self._seqs.get(ev.key)
        if ev.change == "appeared" or seq is None:
            data = {"box": [list(p) for p in ev.box], "score": round(ev.score, 4), "keyframe": self._keyframe}
            row = (OCR, run.id, run.stream, ev.start, ev.end, run.wall(ev.start), run.wall(ev.end), ev.text,
                   json.dumps(data, ensure_ascii=False))
            (record,) = self.store.records.append([row])
            seq = self._seqs[ev.key] = record.seq
        else:
            self.store.records.extend(seq, ev.end, run.wall(ev.end))
        if ev.change == "ended":
            self._seqs.pop(ev.key, None)
        return replace(ev, run=run.id, seq=seq)

