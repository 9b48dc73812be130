"""Captions reach the newsroom while the event runs: small caption segments, synced as they come.

A post-processor over the caption records after its cursor. Every step
(a few seconds apart), the new finals of each run become one
`caption_segment` asset (JSON lines), queued for sync with the highest
priority; the cursor moves in the same transaction, so after a crash the
next segment starts exactly where the last stored one ended.

Polished records (edge/asr/polish.py) go out the same way, a few seconds
after the finals they replace: their line carries `"replaces": [seqs]`, and
the center shows the polished text in place of those finals
(cloud_sync/center/captions.py). A resent line is the same line again, so
the center's view stays free of duplicates.
"""

from __future__ import annotations

import json
from itertools import groupby

from edge.store import AssetStore, Record
from edge.store.records import CAPTION, POLISHED

SEGMENT_MIME = "application/x-ndjson"
MAX_RECORDS = 2000  # per step: a long backlog (after a link or process outage) goes out in pieces


def segment_line(r: Record) -> dict:
    """One line of a segment: what the center needs to show a final in order (see `edge-center captions`)."""
    line = {"run": r.run, "seq": r.seq, "text": r.text, "start": round(r.start, 3), "end": round(r.end, 3),
            "wall_start": round(r.wall_start, 3), "wall_end": round(r.wall_end, 3)}
    if r.type == POLISHED:
        line["replaces"] = list(r.data.get("replaces", []))
    return line


class CaptionSegmenter:
    name = "caption-segments"

    def __init__(self, store: AssetStore) -> None:
        self._store = store

    def step(self) -> int:
        after = self._store.cursor(self.name)
        records = self._store.records.read(after=after, type=(CAPTION, POLISHED), limit=MAX_RECORDS)
        made = 0
        # Consecutive records of one run make one segment; the cursor ends at that segment's last seq.
        for run_id, group in groupby(records, key=lambda r: r.run):
            batch = list(group)
            first, last = batch[0], batch[-1]
            body = "".join(json.dumps(segment_line(r), ensure_ascii=False) + "\n" for r in batch).encode()
            self._store.add_bytes(
                body, kind="caption_segment", mime=SEGMENT_MIME, stream=first.stream, run=run_id,
                name=f"{first.stream}-captions-{first.seq}-{last.seq}.jsonl", start=first.start, end=last.end,
                meta={"run": run_id, "first_seq": first.seq, "last_seq": last.seq,
                      "wall_start": first.wall_start, "wall_end": last.wall_end},
                cursor=(self.name, last.seq),
            )
            made += 1
        return made
