"""Live captions: VAD-gated utterances, local agreement for early commits.

Commit policy, per utterance (speech between two VAD pauses):
- every `partial_interval_s` of new speech the uncommitted audio is re-decoded
  cheaply, *continuing after the committed tokens*; that hypothesis is shown
  as a `partial`;
- words on which the last `agreement` hypotheses agree are committed and
  emitted as a `final` at once (LocalAgreement), so a long sentence does not
  wait for its pause;
- when the VAD hears the pause, the rest is decoded once more with the
  accurate settings, again continuing after the committed tokens, and emitted
  as the utterance's last `final`.
With audio context (`final_context_s`, `partial_context_s`), the decode
window starts with the stream's previous utterances (whole ones, up to that
many seconds, in the same language) and their committed text is forced
before the utterance's own prefix: the model hears each word with its
neighbours, as in the offline 30 s window, yet only the utterance's new
tokens are generated (the prefix is teacher-forced, as in whisper_streaming's
buffer). Alignment for commits still uses the utterance alone.
Committed tokens are the decoder's forced prefix, so finals are never revised
and never repeated. Without `live`, only the accurate offline pass runs: one
decode per utterance, or, when the offline settings ask for Whisper's full
window (`context_pad_s: null`), speech laid end to end in full 30 s windows
that seek as faster-whisper's do (edge/asr/offline.py), which is what wins on
speech the settings were not tuned on.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edge.asr.offline import WindowPacker
from edge.asr.options import CaptionOptions, StreamOptions
from edge.asr.vad import FRAME_S, SileroVad, SpeechSegmenter, VadFrame
from edge.asr.whisper import (MAX_LENGTH, MAX_PREVIOUS_TOKENS, MAX_SAMPLES, MAX_WINDOW_PREVIOUS, Decoded, WhisperEngine,
                              Word)
from edge.events import SAMPLE_RATE, AudioChunk, CaptionEvent
from edge.profiles import AsrSettings, DecodeSettings, VadSettings

_WORD = re.compile(r"[^\w']+")


def _norm(word: Word) -> str:
    # Case and punctuation differences are not disagreement; a bare comma still has to match itself.
    return _WORD.sub("", word.text.lower()) or word.text.strip()


class StreamClock:
    """Stream time now: how far into the stream a live listener would be."""

    def __init__(self) -> None:
        self._anchor: float | None = None

    def anchor(self, stream_time: float) -> None:
        if self._anchor is None:
            self._anchor = time.monotonic() - stream_time

    def now(self) -> float:
        return 0.0 if self._anchor is None else time.monotonic() - self._anchor


def pace_realtime(chunks: Iterable[AudioChunk], clock: StreamClock, slice_s: float = FRAME_S) -> Iterator[AudioChunk]:
    """Release audio no faster than real time, in small slices, like a microphone would."""
    step = max(1, int(slice_s * SAMPLE_RATE))
    for chunk in chunks:
        clock.anchor(chunk.start)
        for i in range(0, len(chunk.samples), step):
            piece = AudioChunk(chunk.stream, chunk.start + i / SAMPLE_RATE, chunk.samples[i : i + step])
            delay = piece.end - clock.now()
            if delay > 0:
                time.sleep(delay)
            yield piece


@dataclass(frozen=True, slots=True)
class _Heard:
    """A closed utterance kept as context: its audio and the tokens committed for it."""

    audio: np.ndarray
    tokens: tuple[int, ...]
    language: str | None


@dataclass(frozen=True, slots=True)
class _Window:
    """What one decode gets: audio, forced prefix and earlier text."""

    audio: np.ndarray
    prefix: list[int]
    previous: list[int] | None


@dataclass
class _Utterance:
    start_index: int  # VAD frame index of the first buffered frame (pre-roll included)
    frames: list[np.ndarray] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    speech_start: float = 0.0
    committed: list[int] = field(default_factory=list)
    committed_until: float | None = None
    history: deque = field(default_factory=deque)
    decoded_frames: int = 0
    language: str | None = None  # what this utterance is decoded in (edge/asr/options.py)
    pause_frames: int = 0  # frames of the pause under way, counted as the VAD counts them
    early: Decoded | None = None  # the final decoded ahead in this pause (StreamingSettings.early_final_s)

    @property
    def start(self) -> float:
        return self.start_index * FRAME_S

    @property
    def end(self) -> float:
        return (self.start_index + len(self.frames)) * FRAME_S

    def audio(self, frames: int | None = None) -> np.ndarray:
        return np.concatenate(self.frames[:frames]) if self.frames else np.zeros(0, np.float32)


class CaptionStream:
    """Audio chunks of one stream in, caption events out."""

    def __init__(
        self,
        engine: WhisperEngine,
        vad: SileroVad,
        asr: AsrSettings,
        vad_settings: VadSettings,
        *,
        stream: str = "main",
        live: bool = False,
        clock: Callable[[], float] | None = None,
        options: CaptionOptions | None = None,
    ) -> None:
        self._engine = engine
        # Language, task, glossary and polishing hand-off (edge/asr/options.py).
        self._opts = StreamOptions(options or CaptionOptions(), engine)
        self._segmenter = SpeechSegmenter(vad, vad_settings)
        self._asr = asr
        self._vad = vad_settings
        self._stream = stream
        self._live = live
        self._clock = clock
        self._position = 0.0  # stream time of the audio consumed so far
        self._preroll: deque[VadFrame] = deque(maxlen=max(1, round(vad_settings.pad_s / FRAME_S)))
        self._utt: _Utterance | None = None
        self._history: list[int] = []  # tokens of this stream's recent finals
        self._heard: deque[_Heard] = deque()  # recent utterances, newest last, for audio context
        self._partial_every = max(1, round(asr.streaming.partial_interval_s / FRAME_S))
        self._max_frames = round(vad_settings.max_utterance_s / FRAME_S)
        self._min_silence_frames = max(1, round(vad_settings.min_silence_s / FRAME_S))
        early = asr.streaming.early_final_s
        self._early_frames = None if early is None or not live else max(1, round(early / FRAME_S))
        self._packer = WindowPacker() if not live and asr.offline.context_pad_s is None else None

    def run(self, chunks: Iterable[AudioChunk]) -> Iterator[CaptionEvent]:
        for chunk in chunks:
            yield from self.feed(chunk)
        yield from self.flush()

    # -- realtime processor interface (edge/runtime/processors.py) -----------------

    def feed(self, chunk: AudioChunk) -> Iterator[CaptionEvent]:
        self._position = chunk.end
        for frame in self._segmenter.feed(chunk.samples):
            yield from self._on_frame(frame)

    def flush(self) -> Iterator[CaptionEvent]:
        """The end of the audio: close the utterance in progress."""
        for frame in self._segmenter.flush():
            yield from self._on_frame(frame)
        while self._packer:
            yield from self._decode_window(last=True)

    # -- VAD-driven state machine -------------------------------------------------

    def _on_frame(self, frame: VadFrame) -> Iterator[CaptionEvent]:
        if frame.event == "silence":
            self._preroll.append(frame)
            return
        if frame.event == "start":
            pre = list(self._preroll)
            self._preroll.clear()
            self._utt = _Utterance(start_index=pre[0].index if pre else frame.index, speech_start=frame.start)
            for p in pre:
                self._append(p)
        utt = self._utt
        if utt is None:  # "end" of a burst that flush() closed without frames
            return
        if len(frame.samples):
            self._append(frame)
        if frame.event == "end":
            speech_end = max(utt.speech_start, frame.end - self._min_silence_frames * FRAME_S + self._vad.pad_s)
            yield from self._finish(utt, min(speech_end, utt.end))
            self._utt = None
            self._preroll.append(frame)
        elif len(utt.frames) >= self._max_frames:
            yield from self._force_cut(utt)
        elif self._pause(utt, frame.prob) and not self._behind():
            yield from self._early_final(utt)
        elif (self._live and len(utt.frames) - utt.decoded_frames >= self._partial_every and not self._behind()
              and frame.prob >= self._vad.neg_threshold):
            # Not in a pause: a pause is where a final is likely due within min_silence_s, and a partial
            # started there (a few hundred ms of CTranslate2 that nothing interrupts) would hold it up.
            # The partial runs at the next speech frame instead if the speech goes on.
            yield from self._partial(utt)

    def _pause(self, utt: _Utterance, prob: float) -> bool:
        """Follows the pause under way; True when its final should be decoded ahead now.

        The VAD closes an utterance after min_silence_s of pause and only then
        would the final be decoded. Decoding it early_final_s into the pause
        instead overlaps the decode with that wait; if the speech goes on, the
        decode is dropped (its text shown as a partial meanwhile).
        """
        if prob >= self._vad.threshold:
            utt.pause_frames, utt.early = 0, None
        elif prob < self._vad.neg_threshold:
            utt.pause_frames += 1
        return utt.pause_frames == self._early_frames and utt.early is None

    def _append(self, frame: VadFrame) -> None:
        assert self._utt is not None
        self._utt.frames.append(frame.samples)
        self._utt.probs.append(frame.prob)

    def _behind(self) -> bool:
        # Skip optional work when the stream has run ahead of us: finals matter more.
        return self._clock is not None and self._clock() - self._position > 2 * self._asr.streaming.partial_interval_s

    def _emitted_at(self) -> float:
        return self._clock() if self._clock else self._position

    def _event(self, kind: str, text: str, start: float, end: float) -> CaptionEvent:
        return CaptionEvent(kind, self._stream, self._opts.text(text.strip()), start, max(end, start), self._emitted_at(),
                            language=self._opts.language)

    # -- decoding -----------------------------------------------------------------

    def _previous(self, settings: DecodeSettings) -> list[int] | None:
        return self._history if settings.condition_on_previous else None

    def _window(self, utt: _Utterance, audio: np.ndarray, settings: DecodeSettings, context_s: float) -> _Window:
        """The utterance's decode window, led by as many whole previous utterances as fit in `context_s`."""
        previous = self._previous(settings)
        pad = settings.context_pad_s or 0.0
        # The encoder sees at most 30 s: context gives way to the utterance and its padding.
        budget = min(context_s * SAMPLE_RATE, MAX_SAMPLES - len(audio) - pad * SAMPLE_RATE)
        used: list[_Heard] = []
        total = 0
        for heard in reversed(self._heard):
            if heard.language != utt.language or total + len(heard.audio) > budget:
                break
            used.append(heard)
            total += len(heard.audio)
        if not used:
            return _Window(audio, list(utt.committed), previous)
        used.reverse()
        forced = [t for h in used for t in h.tokens]
        if previous is not None:
            # The context's text is the tail of the history: given once, as the prefix.
            if previous[len(previous) - len(forced):] == forced:
                previous = previous[: len(previous) - len(forced)]
            elif forced[len(forced) - len(previous):] == previous:
                previous = []
            duration = (total + len(audio)) / SAMPLE_RATE
            prompt = 4 + len(forced) + len(utt.committed) + int(duration * settings.max_tokens_per_s) + 6
            room = max(0, MAX_LENGTH - prompt - len(self._opts.bias or []) - 1)
            previous = previous[len(previous) - min(room, MAX_PREVIOUS_TOKENS, len(previous)):]
        return _Window(np.concatenate([h.audio for h in used] + [audio]), forced + list(utt.committed), previous)

    def _partial(self, utt: _Utterance) -> Iterator[CaptionEvent]:
        streaming = self._asr.streaming
        audio = utt.audio()
        utt.decoded_frames = len(utt.frames)
        args = self._opts.decode_args(utt)
        window = self._window(utt, audio, streaming.partial, streaming.partial_context_s)
        decoded = self._engine.decode(window.audio, streaming.partial, prefix=window.prefix,
                                      previous=window.previous, urgent=False, **args)
        self._opts.observe(utt, decoded)
        words = self._engine.words(decoded.tokens)
        utt.history.append(words)
        while len(utt.history) > streaming.agreement:
            utt.history.popleft()
        agreed = self._agreed(utt)
        if agreed and len(audio) / SAMPLE_RATE >= streaming.min_commit_audio_s:
            committed = yield from self._commit(utt, words[:agreed], audio)
            words = words[committed:]
            utt.history = deque(h[committed:] for h in utt.history)
        if words:
            start = utt.committed_until if utt.committed_until is not None else utt.speech_start
            yield self._event("partial", "".join(w.text for w in words), start, utt.end)

    def _agreed(self, utt: _Utterance) -> int:
        if len(utt.history) < self._asr.streaming.agreement:
            return 0
        n = 0
        for column in zip(*utt.history):
            if len({_norm(w) for w in column}) != 1:
                break
            n += 1
        return n

    def _commit(self, utt: _Utterance, words: list[Word], audio: np.ndarray) -> Generator[CaptionEvent, None, int]:
        """Commit the agreed words that end safely before the audio does; returns how many."""
        tokens = [t for w in words for t in w.tokens]
        ends = self._engine.word_ends(audio, utt.committed + tokens, self._asr.streaming.partial,
                                      language=utt.language)[-len(words):]
        limit = len(audio) / SAMPLE_RATE - self._asr.streaming.commit_margin_s
        n = 0
        while n < len(words) and n < len(ends) and ends[n] <= limit:
            n += 1
        if n == 0:
            return 0
        tokens = [t for w in words[:n] for t in w.tokens]
        start = utt.committed_until if utt.committed_until is not None else utt.speech_start
        end = max(start, utt.start + ends[n - 1])
        utt.committed.extend(tokens)
        utt.committed_until = end
        utt.early = None  # decoded after the old committed words: it would repeat these
        yield self._event("final", "".join(w.text for w in words[:n]), start, end)
        return n

    def _final_decode(self, utt: _Utterance, audio: np.ndarray) -> Decoded:
        settings = self._asr.streaming.final if self._live else self._asr.offline
        args = self._opts.decode_args(utt)
        context_s = self._asr.streaming.final_context_s if self._live else 0.0
        window = self._window(utt, audio, settings, context_s)
        return self._engine.decode(window.audio, settings, prefix=window.prefix, previous=window.previous, **args)

    def _early_final(self, utt: _Utterance) -> Iterator[CaptionEvent]:
        utt.early = self._final_decode(utt, utt.audio())
        utt.decoded_frames = len(utt.frames)  # it stands in for the partial due now
        if utt.early.text.strip():
            start = utt.committed_until if utt.committed_until is not None else utt.speech_start
            yield self._event("partial", utt.early.text, start, utt.end)

    def _finish(self, utt: _Utterance, speech_end: float, frames: int | None = None) -> Iterator[CaptionEvent]:
        self._opts.closed(utt.start, utt.audio(frames), utt.language)  # for the polished transcript
        if self._packer is not None:
            yield from self._pack(utt.audio(frames), utt.start)
            return
        audio = utt.audio(frames)
        # What follows the early decode is the pause (frames under the VAD's threshold): nothing to add.
        decoded = utt.early if utt.early is not None and frames is None else self._final_decode(utt, audio)
        self._opts.observe(utt, decoded)
        start = utt.committed_until if utt.committed_until is not None else utt.speech_start
        self._history = (self._history + utt.committed + decoded.tokens)[-MAX_PREVIOUS_TOKENS:]
        self._remember(audio, utt.committed + decoded.tokens, utt.language)
        if decoded.text.strip():
            yield self._event("final", decoded.text, start, max(start, speech_end))

    def _remember(self, audio: np.ndarray, tokens: list[int], language: str | None) -> None:
        streaming = self._asr.streaming
        keep = max(streaming.final_context_s, streaming.partial_context_s) * SAMPLE_RATE
        if not keep or not self._live:
            return
        if not tokens:
            # Audio without committed text cannot be forced as a prefix; it is left out of the context.
            return
        self._heard.append(_Heard(audio, tuple(tokens), language))
        while sum(len(h.audio) for h in self._heard) > keep:
            self._heard.popleft()

    def _pack(self, audio: np.ndarray, start: float) -> Iterator[CaptionEvent]:
        assert self._packer is not None
        # Terminates: every decoded window drops at least MIN_SEEK_S of the buffer (edge/asr/offline.py).
        while self._packer and not self._packer.fits(audio):
            yield from self._decode_window()
        self._packer.add(audio, start)

    def _decode_window(self, *, last: bool = False) -> Iterator[CaptionEvent]:
        if not self._packer:
            return
        settings = self._asr.offline
        audio = self._packer.audio()
        result = self._engine.decode_window(audio, settings, previous=self._previous(settings),
                                            **self._opts.window_args(audio, self._packer.to_stream(0.0), self._position))
        spans = self._packer.settle(result.segments, last_window=last)
        self._history = (self._history + list(result.sequence))[-MAX_WINDOW_PREVIOUS:]
        for start, end, text in spans:
            yield self._event("final", text, start, end)

    def _force_cut(self, utt: _Utterance) -> Iterator[CaptionEvent]:
        """An utterance with no pause: cut at the quietest frame after the committed words."""
        probs = np.asarray(utt.probs)
        lo = len(probs) // 2
        if utt.committed_until is not None:
            lo = max(lo, int((utt.committed_until - utt.start) / FRAME_S) + 1)
        lo = min(lo, len(probs) - 1)
        cut = lo + int(np.argmin(probs[lo:]))
        cut = max(cut, 1)
        yield from self._finish(utt, utt.start + cut * FRAME_S, frames=cut)
        rest = _Utterance(start_index=utt.start_index + cut, speech_start=utt.start + cut * FRAME_S)
        rest.frames, rest.probs = utt.frames[cut:], utt.probs[cut:]
        self._utt = rest
