"""A polished transcript behind the live captions.

Live finals are committed early from short windows, for viewers now. What the
newsroom keeps should be as accurate as the box can make it, so each closed
utterance's audio is handed here, packed with its neighbours into one
Whisper window (as the offline path decodes), and decoded again in the
scheduler's background class with the offline settings and the text before
it as context. The result is stored as a `polished` record linked to the
live finals it replaces (`data.replaces`: their seqs); the live finals stay
as they were shown.

Readers that build what a run leaves behind (its caption track, transcript,
newsroom copy) call `best_records` on the run's records: polished text where
it exists, live text where it does not (yet). `polish_complete` says whether
a closed run's polishing has finished.

Polishing is best effort: if the box falls far behind (more than
`max_backlog_s` of speech waiting), the oldest windows are skipped and keep
their live text; nothing stored is ever removed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from edge.asr.captions import join_text
from edge.asr.glossary import Glossary
from edge.asr.language import AUTO
from edge.events import SAMPLE_RATE
from edge.profiles import DecodeSettings
from edge.runtime.scheduler import Priority
from edge.store.records import CAPTION, POLISHED, Record

log = logging.getLogger(__name__)

WINDOW_S = 28.0  # Whisper's window is 30 s; leave room for the gaps kept between utterances
MAX_GAP_S = 1.0  # silence kept between packed utterances (enough for Whisper to hear a boundary)
IDLE_S = 6.0  # a window waits at most this long for more speech before it is polished
LINK_SLACK_S = 0.35  # finals end up to the VAD's padding after the audio handed over
# A decoded window is linked once the live pass has moved past it (a final after it, or the run closed), or
# after this long: a file captioned in packed windows stores its finals only when its own window is decoded.
LINK_WAIT_S = 30.0
MAX_CONTEXT_TOKENS = 96


def done_cursor(run_id: str, name: str = "polish") -> str:
    return f"{name}-done:{run_id}"


@dataclass(frozen=True, slots=True)
class ClosedSpeech:
    """One closed utterance of a run: its audio, starting at `start` stream seconds."""

    run: str
    stream: str
    start: float
    audio: np.ndarray = field(repr=False)
    language: str | None = None

    @property
    def end(self) -> float:
        return self.start + len(self.audio) / SAMPLE_RATE


@dataclass
class _Decoded:
    """A window decoded but not yet linked to the live finals it replaces."""

    window: "_Window"
    language: str | None
    text: str  # "": dropped (silence, a loop) or not decoded: its finals keep their live text
    cues: list
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Window:
    run: str
    parts: list[ClosedSpeech] = field(default_factory=list)
    touched: float = field(default_factory=time.monotonic)
    last: bool = False  # the run has closed: nothing follows

    @property
    def seconds(self) -> float:
        return sum(len(p.audio) for p in self.parts) / SAMPLE_RATE + MAX_GAP_S * len(self.parts)


class Polisher:
    """Re-decodes closed speech in the background and stores `polished` records.

    The same machinery, with another Whisper task and record type, makes the
    English translation track (edge/asr/translation.py).
    """

    name = "polish"
    record_type = POLISHED
    task = "transcribe"

    def __init__(
        self,
        store,
        engine,
        settings: DecodeSettings,
        *,
        glossary_for: Callable[[str], Glossary | None] | None = None,
        bias_for: Callable[[str], list[int] | None] | None = None,
        max_backlog_s: float = 900.0,
        idle_s: float = IDLE_S,
        priority: Priority = Priority.TAGGING,
    ) -> None:
        self._current: str | None = None  # the run of the window being decoded now
        self._stopped = False
        self._store = store
        self._engine = engine
        self._settings = settings
        self._glossary_for = glossary_for or (lambda stream: None)
        self._bias_for = bias_for or (lambda stream: None)
        self._max_backlog_s = max_backlog_s
        self._idle_s = idle_s
        self._priority = priority
        self._open: dict[str, _Window] = {}
        self._ready: deque[_Window] = deque()
        self._context: dict[str, list[int]] = {}
        self._linked: dict[str, int] = {}  # run -> highest caption seq already linked
        self._waiting: deque[_Decoded] = deque()  # decoded, in order, until their finals are all stored
        self._tried = 0.0  # when linking the waiting ones was last tried
        self._runs: set[str] = set()  # runs seen and not finished: each is finished once it closes
        self._checked = 0.0
        self._cv = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.polished = 0
        self.skipped_s = 0.0  # speech left with its live text because the box fell behind
        self.errors = 0

    # -- what the streams call ------------------------------------------------------

    def wants(self, speech: ClosedSpeech) -> bool:
        """Whether this speech is worth a re-decode (the translator skips English)."""
        return True

    def submit(self, speech: ClosedSpeech) -> None:
        if not self.wants(speech):
            return
        with self._cv:
            window = self._open.get(speech.run)
            if window is not None and window.seconds + len(speech.audio) / SAMPLE_RATE + MAX_GAP_S > WINDOW_S:
                self._ready.append(self._open.pop(speech.run))
                window = None
            if window is None:
                window = self._open[speech.run] = _Window(speech.run)
                self._runs.add(speech.run)
            window.parts.append(speech)
            window.touched = time.monotonic()
            self._shed()
            self._cv.notify_all()

    def finish_run(self, run_id: str) -> None:
        """The run has closed: polish what is left of it, then mark it complete."""
        with self._cv:
            self._runs.discard(run_id)
            window = self._open.pop(run_id, None) or _Window(run_id)
            window.last = True
            self._ready.append(window)
            self._cv.notify_all()

    # -- the worker ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            try:
                self._link_waiting(force=True)  # what was decoded is kept, linked to what is stored
            except Exception:
                log.exception("%s: storing the last decoded windows failed; their live text stays", self.name)
        with self._cv:
            self._stopped = True  # what is left keeps its live text: nothing waits for it any more

    def pending(self, run_id: str) -> bool:
        """Whether this run still has speech waiting or being decoded here (its tracks should wait)."""
        with self._cv:
            if self._stopped or self._thread is None:
                return False
            return (run_id in self._runs or run_id in self._open or self._current == run_id
                    or any(w.run == run_id for w in self._ready) or any(d.window.run == run_id for d in self._waiting))

    def drain(self, timeout: float = 120.0) -> bool:
        """Wait until every submitted window (open ones too) is polished; True if it finished in time."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._ready.extend(self._open.values())
            self._open.clear()
            self._cv.notify_all()
            while self._ready or self._busy or self._waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._ready:
                    self._promote_idle()
                    if self._ready or (self._waiting and time.monotonic() - self._tried >= 1.0):
                        break
                    self._cv.wait(1.0)
                if self._stop:
                    return
                window = self._ready.popleft() if self._ready else None
                self._busy = True
                self._current = window.run if window is not None else None
            try:
                if window is not None:
                    self.polish(window)
                else:
                    self._link_waiting()
            except Exception:  # one bad window must not stop polishing; its live text stays
                self.errors += 1
                log.exception("%s: a window of run %s failed; its live captions stay", self.name,
                              window.run if window is not None else "(linking)")
            finally:
                with self._cv:
                    self._busy = False
                    self._current = None
                    self._cv.notify_all()

    def _promote_idle(self) -> None:
        now = time.monotonic()
        for run, window in list(self._open.items()):
            if now - window.touched >= self._idle_s:
                self._ready.append(self._open.pop(run))
        if now - self._checked >= 2.0:
            # A run that has closed gets its last window and its completion mark.
            self._checked = now
            for run_id in list(self._runs):
                try:
                    closed = self._store.records.run(run_id).closed_at is not None
                except KeyError:
                    closed = True
                if closed:
                    self._runs.discard(run_id)
                    window = self._open.pop(run_id, None) or _Window(run_id)
                    window.last = True
                    self._ready.append(window)

    def _shed(self) -> None:
        backlog = sum(w.seconds for w in self._ready)
        while self._ready and backlog > self._max_backlog_s:
            dropped = self._ready.popleft()
            backlog -= dropped.seconds
            self.skipped_s += dropped.seconds
            if dropped.last:  # keep the run's end marker
                self._ready.appendleft(_Window(dropped.run, last=True))
                break
            log.warning("%s is %.0f s behind: %.0f s of run %s are skipped (the live text stays)",
                        self.name, backlog, dropped.seconds, dropped.run)

    # -- one window -------------------------------------------------------------------

    def polish(self, window: _Window) -> Record | None:
        """Decode one window; its record is stored once its live finals are (returned if that is now)."""
        if window.parts:
            decoded = self._decode(window)
            with self._cv:
                self._waiting.append(decoded)
        stored = self._link_waiting(force_run=window.run if window.last else None)
        if window.last:
            self._store.set_cursor(done_cursor(window.run, self.name), 1)
            self._context.pop(window.run, None)
            self._linked.pop(window.run, None)
        return stored.get(id(window))

    def _decode(self, window: _Window) -> _Decoded:
        parts = window.parts
        first = parts[0]
        audio = pack(parts)
        language = self.language_for(first, audio)
        if not self.decodes(language):
            return _Decoded(window, language, "", [])  # these finals keep their live text
        sot = self._engine.sot_sequence(language, self.task)[:-1] if language else None
        result = self._engine.decode_window(
            audio, self._settings, previous=self._context.get(window.run), context=self._bias_for(first.stream),
            sot_sequence=sot, priority=self._priority)
        self._context[window.run] = (self._context.get(window.run, []) + result.tokens)[-MAX_CONTEXT_TOKENS:]
        glossary = self._glossary_for(first.stream)
        to_stream = stream_time(parts)
        # Whisper's own segment times, back in stream time: the run's track times its cues by them.
        cues = []
        for seg in result.segments:
            piece = seg.text.strip()
            if piece and glossary is not None:
                piece = glossary.correct(piece)
            if piece:
                cues.append([round(to_stream(seg.start), 3), round(max(to_stream(seg.end), to_stream(seg.start)), 3),
                             piece])
        text = ""
        for _, _, piece in cues:
            text = join_text(text, piece)
        return _Decoded(window, language, text, cues)  # text "": dropped as silence or a loop

    def _link_waiting(self, *, force_run: str | None = None, force: bool = False) -> dict[int, Record]:
        """Store the decoded windows whose live finals are all stored, in order per run; {id(window): record}."""
        self._tried = time.monotonic()
        stored: dict[int, Record] = {}
        blocked: set[str] = set()
        keep: deque[_Decoded] = deque()
        with self._cv:
            waiting = list(self._waiting)
        for d in waiting:
            run_id = d.window.run
            captions = None if run_id in blocked else self._linkable(d, force or run_id == force_run)
            if captions is None:
                blocked.add(run_id)  # a later window of the run waits for this one
                keep.append(d)
                continue
            if captions:
                self._linked[run_id] = captions[-1].seq
            record = self._store_decoded(d, captions) if d.text and captions else None
            if record is not None:
                stored[id(d.window)] = record
        with self._cv:
            self._waiting = keep
            self._cv.notify_all()
        return stored

    def _linkable(self, d: _Decoded, force: bool) -> list[Record] | None:
        """The live finals of a decoded window's speech, or None while more of them may still come."""
        start, end = d.window.parts[0].start, d.window.parts[-1].end
        later = self._store.records.read(run=d.window.run, after=self._linked.get(d.window.run, 0), limit=None)
        done = force or any(r.start >= end for r in later) or time.monotonic() - d.at >= LINK_WAIT_S
        if not done:
            try:
                done = self._store.records.run(d.window.run).closed_at is not None
            except KeyError:
                done = True
        if not done:
            return None
        # Finals of speech before this window (skipped while the box was behind) are not this window's.
        return [r for r in later if r.start < end + LINK_SLACK_S and r.end > start - LINK_SLACK_S]

    def _store_decoded(self, d: _Decoded, captions: list[Record]) -> Record:
        window, language, text, cues = d.window, d.language, d.text, d.cues
        run = self._store.records.run(window.run)
        data = self.record_data([r.seq for r in captions], language or captions[0].data.get("language"))
        data["cues"] = cues
        row = (self.record_type, run.id, run.stream, captions[0].start, max(c.end for c in captions),
               run.wall(captions[0].start), run.wall(max(c.end for c in captions)), text,
               json.dumps({k: v for k, v in data.items() if v is not None}))
        (record,) = self._store.records.append([row])
        self.polished += 1
        return record

    def language_for(self, first: ClosedSpeech, audio: np.ndarray) -> str | None:
        """The language to decode a window in: the stream's, as its live captions had it.

        A file captioned in packed windows hands its speech over before the
        language is known; a multilingual model then detects it on the window
        (decoding it as English would replace good live text with nonsense).
        """
        if first.language in (None, AUTO) and getattr(self._engine, "multilingual", False):
            return self._engine.detect_language(audio)[0][0]
        return first.language

    def decodes(self, language: str | None) -> bool:
        return True

    def record_data(self, seqs: list[int], language: str | None) -> dict:
        return {"replaces": seqs, "language": language}


def pack(parts: list[ClosedSpeech]) -> np.ndarray:
    """Utterances in one window, with the real gaps between them (at most MAX_GAP_S)."""
    pieces: list[np.ndarray] = []
    for i, p in enumerate(parts):
        if i:
            gap = min(MAX_GAP_S, max(0.0, p.start - parts[i - 1].end))
            pieces.append(np.zeros(int(gap * SAMPLE_RATE), np.float32))
        pieces.append(p.audio.astype(np.float32, copy=False))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def stream_time(parts: list[ClosedSpeech]) -> Callable[[float], float]:
    """Maps a time in the packed window (see `pack`) back to stream seconds; a time in a gap goes to the next part."""
    spans = []  # (packed start, packed end, stream start) per part
    at = 0.0
    for i, p in enumerate(parts):
        if i:
            at += int(min(MAX_GAP_S, max(0.0, p.start - parts[i - 1].end)) * SAMPLE_RATE) / SAMPLE_RATE
        length = len(p.audio) / SAMPLE_RATE
        spans.append((at, at + length, p.start))
        at += length

    def convert(t: float) -> float:
        for begin, end, start in spans:
            if t <= end:
                return start + max(0.0, t - begin)
        begin, end, start = spans[-1]
        return start + (end - begin)

    return convert


# -- for the readers of a run (caption track, transcript, newsroom) -----------------------


def best_records(records: Iterable[Record]) -> list[Record]:
    """A run's captions with polished text in place of the live finals it replaces, in stream order.

    `records` are the run's records of any type; only `caption` and `polished`
    ones are used (so the result can be passed again). Captions no polished
    record replaces stay as they are; a polished record that heard nothing
    (empty text) replaces nothing.
    """
    records = list(records)
    polished = [r for r in records if r.type == POLISHED and r.text.strip()]
    replaced = {seq for p in polished for seq in p.data.get("replaces", [])}
    kept = [r for r in records if r.type == CAPTION and r.seq not in replaced]
    return sorted(kept + polished, key=lambda r: (r.start, r.seq))


def best_text(records: Iterable[Record]) -> str:
    """The run's transcript: polished text where it exists, live text otherwise."""
    text = ""
    for r in best_records(records):
        text = join_text(text, r.text.strip())
    return text


def read_best(store, run_id: str) -> list[Record]:
    """`best_records` of one run, read from the store."""
    return best_records(store.records.read(run=run_id, type=None, limit=None))


def polish_complete(store, run_id: str, name: str = "polish") -> bool:
    """True once a closed run's last window has been polished (or skipped)."""
    return store.cursor(done_cursor(run_id, name)) > 0
