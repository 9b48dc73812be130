"""The tagging post-processor: embeds and tags new records and assets, at TAGGING priority.

Records (caption finals, on-screen text, marked quotes) are tagged in windows
of a run, because a topic needs more than one caption line; each window gets a
`tags` record (searchable, citable) and each record its own vector. Assets with
text (notes, uploads with a note, drafts) get their tags added to their tag
list and a vector. Both resume after their cursor in the store, so a restart
neither repeats nor skips work.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict

from edge.runtime.scheduler import Priority
from edge.search.vectors import VectorIndex, asset_owner, record_owner
from edge.store.records import ALERT, CAPTION, OCR, QUOTE_MARK, TAGS
from edge.tagging.tagger import Tagger

log = logging.getLogger(__name__)

# Sensor alerts ("Wind 62 km/h at 14:03") are tagged too: their tags carry source "alert".
TAGGED_RECORD_TYPES = (CAPTION, OCR, ALERT)
TAGGED_ASSET_KINDS = ("note", "upload", "draft", "media", "keyframe")
# A window is tagged once it spans this much stream time, its run closed, or it went quiet.
WINDOW_S = 30.0
QUIET_S = 20.0
BATCH = 256


class TaggingPostProcessor:
    name = "tagger"

    def __init__(self, store, embedder, scheduler=None, *, clock=time.time) -> None:
        self.store = store
        self.tagger = Tagger(embedder)
        self.embedder = embedder
        self.index = VectorIndex(store.db, embedder.name)
        self.scheduler = scheduler
        self.clock = clock

    def step(self) -> int:
        return self._records() + self._assets()

    def _run(self, fn, *args):
        return self.scheduler.run(Priority.TAGGING, fn, *args) if self.scheduler else fn(*args)

    # -- records --------------------------------------------------------------------

    def _records(self) -> int:
        cursor = self.store.cursor(f"{self.name}.records")
        # Taken before the read: records appended meanwhile are after it and wait for the next step.
        newest = self.store.records.last_seq()
        read = self.store.records.read(type=TAGGED_RECORD_TYPES, after=cursor, limit=BATCH)
        if not read:
            if newest > cursor:  # only sensor readings and the like since: nothing to tag, move on
                self.store.set_cursor(f"{self.name}.records", newest)
            return 0
        rows = [r for r in read if r.text.strip()]
        by_run: dict[str, list] = defaultdict(list)
        for r in rows:
            by_run[r.run].append(r)
        now = self.clock()
        done_upto = read[-1].seq if len(read) >= BATCH else max(newest, read[-1].seq)
        pending_from: int | None = None
        tagged = 0
        for run_id, group in by_run.items():
            span = group[-1].end - group[0].start
            closed = self._closed(run_id)
            quiet = now - group[-1].wall_end >= QUIET_S
            if span >= WINDOW_S or closed or quiet or len(read) >= BATCH:
                self._tag_window(group)
                tagged += len(group)
            else:
                pending_from = group[0].seq if pending_from is None else min(pending_from, group[0].seq)
        # The cursor never passes a window still waiting for more speech.
        cursor_to = done_upto if pending_from is None else pending_from - 1
        if cursor_to > cursor:
            self.store.set_cursor(f"{self.name}.records", cursor_to)
        return tagged

    def _closed(self, run_id: str) -> bool:
        try:
            return self.store.records.run(run_id).closed_at is not None
        except KeyError:
            return True

    def _tag_window(self, group) -> None:
        group = [r for r in group if not self.index.has(record_owner(r.seq))]  # re-run after a crash: only new ones
        if not group:
            return
        vectors = self._run(self.embedder.embed, [r.text for r in group])
        text = " ".join(r.text for r in group)
        window_vec = vectors.mean(axis=0)
        window_vec /= max(float((window_vec ** 2).sum() ** 0.5), 1e-12)
        tags = self._run(self.tagger.tag, text, window_vec)
        first, last = group[0], group[-1]
        data = {**tags.to_json(), "seqs": [r.seq for r in group], "source": sorted({r.type for r in group})}
        self.store.records.append([(TAGS, first.run, first.stream, first.start, last.end, first.wall_start,
                                    last.wall_end, tags.text(), json.dumps(data))])
        self.index.put([(record_owner(r.seq), v) for r, v in zip(group, vectors)])

    # -- assets ---------------------------------------------------------------------

    def _assets(self) -> int:
        cursor = self.store.cursor(f"{self.name}.assets")
        rows = self.store.db.read(
            "SELECT rowid, id, kind, name, body FROM assets WHERE rowid > ? ORDER BY rowid LIMIT ?", (cursor, BATCH))
        if not rows:
            return 0
        done = 0
        for rowid, asset_id, kind, name, body in rows:
            text = (body or "").strip()
            if kind in TAGGED_ASSET_KINDS and text:
                vec = self._run(self.embedder.embed, [text])[0]
                tags = self._run(self.tagger.tag, text, vec)
                self._add_tags(asset_id, tags.labels())
                self.index.put([(asset_owner(asset_id), vec)])
                done += 1
        self.store.set_cursor(f"{self.name}.assets", rows[-1][0])
        return done

    def _add_tags(self, asset_id: str, labels: list[str]) -> None:
        try:
            asset = self.store.get(asset_id)
        except KeyError:
            return
        merged = list(dict.fromkeys([*asset.tags, *labels]))
        if merged != list(asset.tags):
            self.store.update(asset_id, tags=merged)


__all__ = ["TaggingPostProcessor", "QUOTE_MARK"]
