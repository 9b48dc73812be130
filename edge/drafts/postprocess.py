"""The box drafts by itself: when a stream has gathered enough new speech, and on request from the dashboard.

A post-processor over caption records after each stream's cursor (the last
seq a draft of that stream read, stored with the draft, so a restart neither
repeats nor skips). It runs on its own thread, not on the shared
post-processor loop: a draft takes tens of seconds on a 2-core box and the
caption segments the newsroom follows live must not wait behind it. The
model itself runs at the scheduler's lowest class (GENERATION) and gives the
cores back after every token when a caption waits.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from edge.drafts.extract import Segment, words
from edge.drafts.model import load_llm
from edge.drafts.pipeline import DraftError, EventInfo, draft_from_segments
from edge.drafts.store import DraftRow, DraftStore
from edge.store.records import ALERT, CAPTION, QUOTE_MARK, TAGS

log = logging.getLogger(__name__)
READ_LIMIT = 20_000  # records one draft reads at most (about five hours of captions)


@dataclass(frozen=True)
class DraftRequest:
    stream: str
    since_minutes: float | None
    user: str


def segments_for(store: Any, stream: str, *, since_minutes: float | None = None, after_seq: int = 0,
                 limit: int = READ_LIMIT) -> tuple[list[Segment], frozenset[int], int]:
    """A stream's caption finals (and alerts) as draft sources, the seqs a crew marked as quotes, the last seq."""
    if since_minutes is not None:
        # Start at the first record of the window instead of reading the stream's whole history.
        row = store.db.read_one("SELECT MIN(seq) FROM records WHERE stream = ? AND wall_end >= ?",
                                (stream, time.time() - since_minutes * 60))
        after_seq = max(after_seq, int(row[0]) - 1) if row and row[0] is not None else store.records.last_seq()
    records = store.records.read(stream=stream, type=None, after=after_seq, limit=4 * limit)
    marked = frozenset(int(r.data.get("caption_seq", 0)) for r in records if r.type == QUOTE_MARK)
    usable = [r for r in records if r.type in (CAPTION, ALERT)][-limit:]
    segments = [Segment(r.seq, r.run, r.stream, r.start, r.end, r.wall_start, r.wall_end, r.text, r.type)
                for r in usable]
    last = max((r.seq for r in records), default=after_seq)
    return segments, marked, last


def tags_in_window(store: Any, stream: str, first_seq: int, last_seq: int, limit: int = 12) -> list[str]:
    """Topic labels and keywords the tagger wrote for this stream's records in the window (ninjs subjects)."""
    out: dict[str, None] = {}
    for r in store.records.read(stream=stream, type=TAGS, after=max(0, first_seq - 1), limit=200):
        if r.seq > last_seq + 200:  # tags are written a little after the records they describe
            break
        for t in r.data.get("topics") or []:
            label = t.get("label") if isinstance(t, dict) else None
            if isinstance(label, str) and label:
                out.setdefault(label[:80], None)
        for k in r.data.get("keywords") or []:
            if isinstance(k, str) and k:
                out.setdefault(k[:80], None)
    return list(out)[:limit]


class DraftService:
    name = "drafts"

    def __init__(self, store: Any, drafts: DraftStore, settings: Any, llm: Any, *, scheduler: Any = None,
                 registry: Any = None) -> None:
        self.store = store
        self.drafts = drafts
        self.settings = settings  # edge.config.DraftsConfig
        self.llm = llm  # edge.profiles.LlmChoice
        self.scheduler = scheduler
        self.registry = registry
        self._requests: queue.Queue[DraftRequest] = queue.Queue(maxsize=32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_auto: dict[str, float] = {}
        self.last_error: str | None = None
        self.busy: str | None = None  # the stream being drafted now (health, dashboard)

    # -- service ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="drafts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def request(self, stream: str, *, since_minutes: float | None = None, user: str = "dashboard") -> None:
        """Draft this stream soon (the dashboard's button); refused when too many requests wait."""
        try:
            self._requests.put_nowait(DraftRequest(stream, since_minutes, user))
        except queue.Full:
            raise DraftError("too many drafts are waiting to be written", "try again in a minute") from None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                req = self._requests.get(timeout=self.settings.check_interval_s)
            except queue.Empty:
                req = None
            try:
                if req is not None:
                    self.draft_now(req.stream, since_minutes=req.since_minutes, user=req.user)
                elif self.settings.auto:
                    self.step()
                self.last_error = None
            except DraftError as exc:
                self.last_error = str(exc)
                log.info("no draft: %s", exc)
            except Exception as exc:  # a failing draft must never stop the box or the next draft
                self.last_error = str(exc)
                log.exception("drafting failed; trying again later")

    # -- work ------------------------------------------------------------------------------

    def step(self) -> int:
        """Draft every stream that gathered enough new speech since its last draft; returns drafts made."""
        made = 0
        for stream in self.store.records.streams():
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now - self._last_auto.get(stream, -1e9) < self.settings.min_interval_s:
                continue
            after = self.drafts.last_seq(stream)
            new = self.store.records.read(stream=stream, after=after, limit=READ_LIMIT)
            if sum(len(words(r.text)) for r in new) < self.settings.min_new_words:
                continue
            self._last_auto[stream] = now
            try:
                self.draft_now(stream, since_minutes=self.settings.window_minutes, user="box")
                made += 1
            except DraftError as exc:
                # Remember how far we read, so filler-only speech is not re-read forever.
                log.info("stream %s: no draft (%s)", stream, exc)
        return made

    def draft_now(self, stream: str, *, since_minutes: float | None = None, user: str = "box") -> DraftRow:
        segments, marked, last = segments_for(self.store, stream, since_minutes=since_minutes)
        self.busy = stream
        try:
            model, error, info = load_llm(self.llm, self.registry)
            draft = draft_from_segments(
                segments, event=EventInfo(self.settings.event_name, self.settings.event_place), model=model,
                model_error=error, marked_seqs=marked, max_new_tokens=self.llm.max_new_tokens,
                max_prompt_chars=self.llm.max_prompt_chars, scheduler=self.scheduler,
                deadline_s=self.settings.deadline_s, model_info=info, cancel=self._stop.is_set)
            tags = tags_in_window(self.store, stream, segments[0].seq, last) if segments else []
            row = self.drafts.create(draft, stream=stream, last_seq=last, user=user, tags=tags)
        finally:
            self.busy = None
        log.info("draft %s of stream %s written (%s, %d sentence(s) removed)", row.id, stream, draft.mode,
                 len(draft.removed))
        return row
