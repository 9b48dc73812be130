"""A polished transcript behind the live captions.

Live finals are committed early from short windows, for viewers now. What the
newsroom keeps should be as accurate as the box can make it, so each closed
utterance's audio is handed here and the run's speech is decoded again in the
scheduler's background class exactly as offline `edge transcribe` decodes a
file (edge/asr/offline.py): pauses the offline VAD keeps (under its 2 s
minimum silence) stay inside the speech, chunks carry its padding, and the
speech is laid end to end in full 30 s windows that seek, with the text
before each as its prompt. A window is decoded once 30 s of speech has
accumulated past its start, the rest when the run closes. The result is
stored as a `polished` record linked to the live finals it replaces
(`data.replaces`: their seqs); the live finals stay as they were shown.

The live VAD cuts at 0.3 s pauses, so the polisher rebuilds the offline
composition from the closed utterances and their stream times: the gap
between two utterances is a pause the live VAD heard as silence, so it is
laid back as silence of its real length when the offline VAD would have kept
it, and the padding the offline settings add beyond the live ones is silence
too. That keeps the live stream's hand-off as it was (closed utterances, also
for the translator) and costs no second VAD pass and no buffering of the
run's silent audio; what it gives up is the background noise of those pauses.

Readers that build what a run leaves behind (its caption track, transcript,
newsroom copy) call `best_records` on the run's records: polished text where
it exists, live text where it does not (yet). `polish_complete` says whether
a closed run's polishing has finished.

Polishing is best effort: if the box falls far behind (more than
`max_backlog_s` of speech waiting), the oldest speech is skipped and keeps
its live text; nothing stored is ever removed.

In the box the engine is a `BackgroundWhisper` (edge/asr/background.py): the
windows decode in a child process in the OS's idle class, so a live final
never waits for a window already decoding; a window whose child failed keeps
its live text. The in-process WhisperEngine offers the same calls and then
decodes in the scheduler's `priority` class.
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
from edge.asr.offline import WindowPacker
from edge.asr.whisper import MAX_WINDOW_PREVIOUS
from edge.errors import ModelError
from edge.events import SAMPLE_RATE
from edge.profiles import DecodeSettings, Profile, VadSettings
from edge.runtime.scheduler import Priority
from edge.store.records import CAPTION, POLISHED, Record

log = logging.getLogger(__name__)

LINK_SLACK_S = 0.35  # finals end up to the VAD's padding after the audio handed over
# A decoded window is linked once the live pass has moved past it (a final after it, or the run closed), or
# after this long: a file captioned in packed windows stores its finals only when its own window is decoded.
LINK_WAIT_S = 30.0
LIVE_VAD = VadSettings()
OFFLINE_VAD: VadSettings = Profile.model_fields["offline_vad_settings"].default


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


@dataclass(frozen=True, slots=True)
class _RunEnd:
    """The run has closed: decode what is buffered, then mark it complete."""

    run: str


@dataclass
class _Decoded:
    """A decoded window not yet linked to the live finals it replaces."""

    run: str
    start: float  # stream time the window began at
    end: float  # stream time the next window begins at (where this one's text stops)
    language: str | None
    text: str  # "": dropped (silence, a loop): its finals keep their live text
    cues: list
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class _Gaps:
    """How the offline composition is rebuilt from the utterances another VAD setting cut."""

    keep_s: float  # a pause shorter than this stays inside the speech (one offline chunk)
    tail_s: float  # silence that ends an offline chunk beyond what an utterance holds
    lead_s: float  # padding that starts an offline chunk beyond an utterance's own

    @classmethod
    def between(cls, source: VadSettings, offline: VadSettings) -> "_Gaps":
        # The offline VAD keeps pauses under its minimum silence; an utterance of the source VAD already
        # holds its own trailing silence and leading padding, so the gap between two is that much shorter.
        return cls(max(0.0, offline.min_silence_s - source.min_silence_s - source.pad_s),
                   max(0.0, offline.min_silence_s - source.min_silence_s), max(0.0, offline.pad_s - source.pad_s))


@dataclass
class _RunState:
    """One run's speech on its way into windows (touched by the worker thread only)."""

    stream: str
    gaps: _Gaps
    packer: WindowPacker = field(default_factory=WindowPacker)
    last_end: float | None = None  # stream time the last utterance handed over ended
    languages: deque = field(default_factory=deque)  # (stream end, language) of the buffered speech
    previous: list[int] = field(default_factory=list)  # the run's text so far, the next window's prompt


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
        live_vad: VadSettings = LIVE_VAD,
        offline_vad: VadSettings = OFFLINE_VAD,
        priority: Priority = Priority.TAGGING,
    ) -> None:
        self._current: str | None = None  # the run of the speech being decoded now
        self._stopped = False
        self._store = store
        self._engine = engine
        self._settings = settings
        self._glossary_for = glossary_for or (lambda stream: None)
        self._bias_for = bias_for or (lambda stream: None)
        self._max_backlog_s = max_backlog_s
        # A live run's utterances were cut by the live VAD; a run that is not live (a file) already hands
        # over the offline VAD's chunks, which are laid end to end as they are.
        self._gaps = {True: _Gaps.between(live_vad, offline_vad), False: _Gaps.between(offline_vad, offline_vad)}
        self._priority = priority
        self._queue: deque[ClosedSpeech | _RunEnd] = deque()
        self._state: dict[str, _RunState] = {}
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
            self._runs.add(speech.run)
            self._queue.append(speech)
            self._shed()
            self._cv.notify_all()

    def finish_run(self, run_id: str) -> None:
        """The run has closed: polish what is left of it, then mark it complete."""
        with self._cv:
            self._end(run_id)

    def _end(self, run_id: str) -> None:
        self._runs.discard(run_id)
        self._queue.append(_RunEnd(run_id))
        self._cv.notify_all()

    # -- the worker ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        close = getattr(self._engine, "close", None)
        if close is not None:  # a background process of its own: stopped now, not after the window it decodes
            close()
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
            return (run_id in self._runs or run_id in self._state or self._current == run_id
                    or any(item.run == run_id for item in self._queue) or any(d.run == run_id for d in self._waiting))

    def drain(self, timeout: float = 120.0) -> bool:
        """Wait until every closed run's speech is polished and the rest decoded as far as it can be."""
        deadline = time.monotonic() + timeout
        with self._cv:
            for run_id in list(self._runs):
                if self._closed(run_id):
                    self._end(run_id)
            while self._queue or self._busy or self._waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._queue:
                    self._finish_closed()
                    if self._queue or (self._waiting and time.monotonic() - self._tried >= 1.0):
                        break
                    self._cv.wait(1.0)
                if self._stop:
                    return
                item = self._queue.popleft() if self._queue else None
                self._busy = True
                self._current = item.run if item is not None else None
            try:
                if isinstance(item, ClosedSpeech):
                    self.feed(item)
                elif isinstance(item, _RunEnd):
                    self.close(item.run)
                else:
                    self._link_waiting()
            except Exception:  # one bad window must not stop polishing; its live text stays
                self.errors += 1
                log.exception("%s: polishing run %s failed; its live captions stay", self.name,
                              item.run if item is not None else "(linking)")
            finally:
                with self._cv:
                    self._busy = False
                    self._current = None
                    self._cv.notify_all()

    def _live(self, run_id: str) -> bool:
        try:
            return self._store.records.run(run_id).live
        except KeyError:
            return True

    def _closed(self, run_id: str) -> bool:
        try:
            return self._store.records.run(run_id).closed_at is not None
        except KeyError:
            return True

    def _finish_closed(self) -> None:
        """A run that has closed gets its last windows and its completion mark."""
        now = time.monotonic()
        if now - self._checked < 2.0:
            return
        self._checked = now
        for run_id in list(self._runs):
            if self._closed(run_id):
                self._end(run_id)

    def _shed(self) -> None:
        speech = [s for s in self._queue if isinstance(s, ClosedSpeech)]
        backlog = sum(len(s.audio) for s in speech) / SAMPLE_RATE
        if backlog <= self._max_backlog_s:
            return
        dropped = 0.0
        for s in speech:
            if backlog <= self._max_backlog_s:
                break
            self._queue.remove(s)
            backlog -= len(s.audio) / SAMPLE_RATE
            dropped += len(s.audio) / SAMPLE_RATE
        self.skipped_s += dropped
        log.warning("%s is %.0f s behind: %.0f s of speech are skipped (their live text stays)",
                    self.name, backlog, dropped)

    # -- composing and decoding a run's speech (the worker thread) ---------------------

    def feed(self, speech: ClosedSpeech) -> list[Record]:
        """Lay one closed utterance into its run's windows, decoding each window that is full.

        As the offline caption stream does (`CaptionStream._pack`): a window is
        decoded when 30 s are buffered and more speech comes. Returns the
        records stored now (linking waits for the live finals).
        """
        state = self._state.get(speech.run)
        if state is None:
            state = self._state[speech.run] = _RunState(speech.stream, self._gaps[self._live(speech.run)])
        gaps = state.gaps
        pieces: list[tuple[np.ndarray, float]] = []
        if state.last_end is not None:
            gap = max(0.0, speech.start - state.last_end)
            if gap < gaps.keep_s:  # one offline chunk: the pause is kept
                pieces.append((_silence(gap), state.last_end))
            else:  # a new chunk: the last one's trailing silence, then this one's extra padding
                lead = min(max(0.0, gap - gaps.tail_s), gaps.lead_s)
                pieces.append((_silence(min(gap, gaps.tail_s)), state.last_end))
                pieces.append((_silence(lead), speech.start - lead))
        else:
            lead = min(speech.start, gaps.lead_s)
            pieces.append((_silence(lead), speech.start - lead))
        decoded: list[_Decoded] = []
        # Terminates: every decoded window drops at least MIN_SEEK_S of the buffer (edge/asr/offline.py).
        while state.packer and not state.packer.fits(speech.audio):
            decoded.append(self._decode(speech.run, state))
        for samples, start in pieces:
            state.packer.add(samples, start)
        state.packer.add(speech.audio, speech.start)
        state.languages.append((speech.end, speech.language))
        state.last_end = speech.end
        return self._queue_decoded(decoded)

    def close(self, run_id: str) -> list[Record]:
        """The run has closed: decode the rest (its last window ends with its closed segment) and mark it done."""
        state = self._state.pop(run_id, None)
        decoded = []
        if state is not None:
            if state.packer:
                state.packer.add(_silence(state.gaps.tail_s), state.last_end or 0.0)
            while state.packer:
                decoded.append(self._decode(run_id, state, last=True))
        with self._cv:
            self._waiting.extend(decoded)
        stored = self._link_waiting(force_run=run_id)
        self._store.set_cursor(done_cursor(run_id, self.name), 1)
        self._linked.pop(run_id, None)
        return stored

    def _queue_decoded(self, decoded: list[_Decoded]) -> list[Record]:
        if not decoded:
            return []
        with self._cv:
            self._waiting.extend(decoded)
        return self._link_waiting()

    def _decode(self, run_id: str, state: _RunState, *, last: bool = False) -> _Decoded:
        packer = state.packer
        audio = packer.audio()
        start = packer.to_stream(0.0)
        buffered_end = packer.pieces[-1].start + packer.pieces[-1].duration
        while len(state.languages) > 1 and state.languages[0][0] <= start:
            state.languages.popleft()
        language = state.languages[0][1] if state.languages else None
        try:
            language = self.language_for(language, audio)
            if not self.decodes(language):
                result = None
            else:
                sot = self._engine.sot_sequence(language, self.task)[:-1] if language else None
                previous = state.previous if self._settings.condition_on_previous else None
                result = self._engine.decode_window(audio, self._settings, previous=previous,
                                                    context=self._bias_for(state.stream), sot_sequence=sot,
                                                    priority=self._priority)
        except ModelError as exc:  # the background process failed (edge/asr/background.py): skip this window
            result = None
            if not self._stop:  # stopping kills an in-flight decode on purpose
                self.errors += 1
                log.warning("%s: a %.0f s window of run %s keeps its live text: %s", self.name,
                            len(audio) / SAMPLE_RATE, run_id, exc)
        if result is None:
            packer.settle([], last_window=last)  # the window is dropped whole: these finals keep their live text
            return _Decoded(run_id, start, packer.to_stream(0.0) if packer else buffered_end, language, "", [])
        spans = packer.settle(result.segments, last_window=last)
        state.previous = (state.previous + list(result.sequence))[-MAX_WINDOW_PREVIOUS:]
        glossary = self._glossary_for(state.stream)
        cues = []
        for begin, end, piece in spans:
            piece = piece.strip()
            if piece and glossary is not None:
                piece = glossary.correct(piece)
            if piece:
                cues.append([round(begin, 3), round(end, 3), piece])
        text = ""
        for _, _, piece in cues:
            text = join_text(text, piece)
        return _Decoded(run_id, start, packer.to_stream(0.0) if packer else buffered_end, language, text, cues)

    # -- linking to the live finals ---------------------------------------------------

    def _link_waiting(self, *, force_run: str | None = None, force: bool = False) -> list[Record]:
        """Store the decoded windows whose live finals are all stored, in order per run."""
        self._tried = time.monotonic()
        stored: list[Record] = []
        blocked: set[str] = set()
        keep: deque[_Decoded] = deque()
        carried: dict[str, _Decoded] = {}
        with self._cv:
            waiting = list(self._waiting)
        for d in waiting:
            if d.run in carried:  # text of a window that had no final of its own comes along
                before = carried.pop(d.run)
                d = _Decoded(d.run, before.start, d.end, d.language or before.language,
                             join_text(before.text, d.text), before.cues + d.cues, before.at)
            captions = None if d.run in blocked else self._linkable(d, force or d.run == force_run)
            if captions is None:
                blocked.add(d.run)  # a later window of the run waits for this one
                keep.append(d)
                continue
            if not captions and d.text:
                carried[d.run] = d  # no final ends in it: its text joins the next window's record
                continue
            if captions:
                self._linked[d.run] = captions[-1].seq
            if d.text and captions:
                stored.append(self._store_decoded(d, captions))
        for d in carried.values():
            if force or d.run == force_run:  # the run is over and no final is left for it
                log.warning("%s: %.1f s of run %s were decoded after its last live final; left out",
                            self.name, d.end - d.start, d.run)
            else:
                keep.append(d)
        with self._cv:
            self._waiting = keep
            self._cv.notify_all()
        return stored

    def _linkable(self, d: _Decoded, force: bool) -> list[Record] | None:
        """The live finals a decoded window replaces, or None while more of them may still come.

        A final belongs to the window its end falls in: a window's text stops
        where the next window begins, so a final across the seam is heard
        partly in each, and the later one replaces it.
        """
        later = self._store.records.read(run=d.run, after=self._linked.get(d.run, 0), limit=None)
        done = force or any(r.start >= d.end for r in later) or time.monotonic() - d.at >= LINK_WAIT_S
        if not done:
            done = self._closed(d.run)
        if not done:
            return None
        # Finals of speech before this window (skipped while the box was behind) are not this window's.
        return [r for r in later if r.end <= d.end + LINK_SLACK_S and r.end > d.start - LINK_SLACK_S]

    def _store_decoded(self, d: _Decoded, captions: list[Record]) -> Record:
        run = self._store.records.run(d.run)
        data = self.record_data([r.seq for r in captions], d.language or captions[0].data.get("language"))
        data["cues"] = d.cues
        row = (self.record_type, run.id, run.stream, captions[0].start, max(c.end for c in captions),
               run.wall(captions[0].start), run.wall(max(c.end for c in captions)), d.text,
               json.dumps({k: v for k, v in data.items() if v is not None}))
        (record,) = self._store.records.append([row])
        self.polished += 1
        return record

    def language_for(self, language: str | None, audio: np.ndarray) -> str | None:
        """The language to decode a window in: the stream's, as its live captions had it.

        A file captioned in packed windows hands its speech over before the
        language is known; a multilingual model then detects it on the window
        (decoding it as English would replace good live text with nonsense).
        """
        if language in (None, AUTO) and getattr(self._engine, "multilingual", False):
            return self._engine.detect_language(audio)[0][0]
        return language

    def decodes(self, language: str | None) -> bool:
        return True

    def record_data(self, seqs: list[int], language: str | None) -> dict:
        return {"replaces": seqs, "language": language}


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32)


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
