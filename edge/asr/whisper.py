"""Whisper decoding on CTranslate2, with guards against its known failure modes.

Two things differ from a plain faster-whisper call:
- The encoder sees the utterance plus `context_pad_s` of silence instead of a
  fixed 30 s window. Whisper tiny.en's encoder cost scales with that length
  (measured: 30 s 0.24 s, 10 s 0.03 s on 2 cores), which is what lets a live
  stream re-decode twice a second inside half of a 2-core box.
- Decoding can continue after a `prefix` of already committed tokens, so
  committed captions are never revised and the model stays consistent with them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers
from faster_whisper.feature_extractor import FeatureExtractor
from faster_whisper.tokenizer import Tokenizer

from edge.backends.base import get_backend
from edge.events import SAMPLE_RATE
from edge.profiles import DecodeSettings, ModelChoice
from edge.registry import Registry
from edge.runtime.scheduler import Priority, Scheduler

HOP = 160
MAX_SAMPLES = 30 * SAMPLE_RATE
TOKENS_PER_SECOND = SAMPLE_RATE / (HOP * 2)
COMPRESSION_LIMIT = 2.4  # text compressing better than this is a repetition loop
MAX_PREVIOUS_TOKENS = 96  # earlier captions given to the live decoder as context
# Whisper's decoder holds 448 positions; half of them may be earlier text (as in
# OpenAI's and faster-whisper's transcribe), the rest is the window's own text.
MAX_LENGTH = 448
MAX_WINDOW_PREVIOUS = MAX_LENGTH // 2 - 1
TIMESTAMP_S = 0.02


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    tokens: tuple[int, ...]
    end: float | None = None  # seconds from the start of the decoded audio


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of text between two of Whisper's timestamp tokens."""

    start: float  # seconds from the start of the decoded audio
    end: float
    tokens: tuple[int, ...]
    text: str
    closed: bool = True  # False: the window ended before its closing timestamp


@dataclass(frozen=True, slots=True)
class WindowResult:
    segments: list[Segment]
    avg_logprob: float
    no_speech_prob: float
    dropped: str = ""  # why the window's text was discarded ("" = kept)
    # The generated text and timestamp tokens: the next window's `previous`.
    # Without the timestamps the next window learns to leave them out and
    # comes back as one segment spanning 30 s (seen on the test set).
    sequence: tuple[int, ...] = ()

    @property
    def tokens(self) -> list[int]:
        return [t for s in self.segments for t in s.tokens]


@dataclass(frozen=True, slots=True)
class Decoded:
    tokens: list[int]
    text: str
    avg_logprob: float
    no_speech_prob: float
    dropped: str = ""  # why the text was discarded ("" = kept)
    language: str = "en"  # the language decoded in (detected when asked for "auto")
    language_prob: float = 1.0  # the detector's confidence; 1.0 when the language was given


class WhisperEngine:
    """One loaded Whisper model, shared by every stream in the process."""

    def __init__(self, model: ctranslate2.models.Whisper, model_dir: Path, scheduler: Scheduler | None = None) -> None:
        self._model = model
        self._fe = FeatureExtractor(feature_size=model.n_mels)
        self.tokenizer = Tokenizer(
            tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json")),
            model.is_multilingual,
            task="transcribe",
            language="en",
        )
        self._prompt = list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
        self.multilingual = bool(model.is_multilingual)
        # Every model call goes through the box's scheduler: finals and the
        # alignments that commit words before partials, and both before vision,
        # tagging or generation. A private one still orders this model's streams.
        self.scheduler = scheduler or Scheduler()

    @classmethod
    def load(
        cls, choice: ModelChoice, registry: Registry | None = None, scheduler: Scheduler | None = None
    ) -> "WhisperEngine":
        _, directory = (registry or Registry()).resolve(choice.model)
        model = get_backend(choice.backend).load(directory, choice.runtime())
        return cls(model, directory, scheduler)

    def features(self, audio: np.ndarray, context_pad_s: float | None, min_window_s: float = 10.0) -> tuple[np.ndarray, int]:
        """Log-mel features of `audio` plus silence padding, and the audio's own frame count."""
        audio = audio[:MAX_SAMPLES]
        # Whisper misreads very short windows (measured: "Ever tried." alone in 2.5 s
        # came out wrong, in 10 s right), so the window never shrinks below min_window_s.
        total = MAX_SAMPLES if context_pad_s is None else min(
            MAX_SAMPLES, max(len(audio) + int(context_pad_s * SAMPLE_RATE), int(min_window_s * SAMPLE_RATE))
        )
        padded = np.zeros(total, dtype=np.float32)
        padded[: len(audio)] = audio
        feats = self._fe(padded, padding=0)
        frames = feats.shape[1] - feats.shape[1] % 2  # the encoder halves the frame count
        return np.ascontiguousarray(feats[:, :frames][None]), min(frames, len(audio) // HOP)

    def decode(
        self,
        audio: np.ndarray,
        settings: DecodeSettings,
        prefix: list[int] | None = None,
        previous: list[int] | None = None,
        urgent: bool = True,
        language: str | None = None,
        task: str = "transcribe",
        bias: list[int] | None = None,
    ) -> Decoded:
        """Decode `audio`, continuing after `prefix`; `previous` is earlier text given as context.

        `language` is a code ("es"), "auto" (detected on this audio) or None (the
        model's default: English); `bias` are tokens of terms to expect (a
        glossary), given as context before `previous`, as faster-whisper's hotwords.
        """
        prefix = list(prefix or [])
        duration = len(audio) / SAMPLE_RATE
        # A cap on new tokens per second of audio stops runaway loops early
        # instead of letting them burn seconds of CPU.
        max_new = int(duration * settings.max_tokens_per_s) + 6
        context = list(bias or []) + list(previous or [])[-MAX_PREVIOUS_TOKENS:]
        with self.scheduler.slot(Priority.CAPTION_FINAL if urgent else Priority.CAPTION_PARTIAL):
            # The mel spectrogram (~15 ms of numpy) is model work too: outside the
            # slot it ran at a third of a core beside a background job.
            feats, _ = self.features(audio, settings.context_pad_s, settings.min_window_s)
            encoded = self._model.encode(ctranslate2.StorageView.from_array(feats))
            language, language_prob = self._language(audio, feats, encoded, language)
            prompt = self.sot_sequence(language, task) + prefix
            if context:
                # Earlier captions as context, as Whisper was trained: it keeps names,
                # spelling and style consistent across utterances.
                prompt = [self.tokenizer.sot_prev] + context + prompt
            result = self._generate(encoded, prompt, settings, max_new, repetition_penalty=1.0)
            tokens = self._text_tokens(result, prefix)
            text = self.tokenizer.decode(tokens)
            if _compression_ratio(text) > COMPRESSION_LIMIT:
                result = self._generate(encoded, prompt, settings, max_new, repetition_penalty=1.3)
                tokens = self._text_tokens(result, prefix)
                text = self.tokenizer.decode(tokens)
        avg_logprob = float(result.scores[0]) if result.scores else 0.0
        no_speech = float(result.no_speech_prob)
        dropped = ""
        if _compression_ratio(text) > COMPRESSION_LIMIT:
            dropped = "repetition loop"
        elif no_speech > settings.no_speech_threshold and avg_logprob < settings.logprob_threshold:
            dropped = "no speech"
        if dropped:
            return Decoded([], "", avg_logprob, no_speech, dropped, language, language_prob)
        return Decoded(tokens, text, avg_logprob, no_speech, "", language, language_prob)

    def sot_sequence(self, language: str | None = None, task: str = "transcribe") -> list[int]:
        """The decoder's start: start-of-transcript, language and task (multilingual models), no timestamps."""
        if not self.multilingual:
            return list(self._prompt)
        return [self.tokenizer.sot, self.language_token(language or "en"),
                self.tokenizer.translate if task == "translate" else self.tokenizer.transcribe,
                self.tokenizer.no_timestamps]

    def language_token(self, code: str) -> int:
        token = self.tokenizer.tokenizer.token_to_id(f"<|{code}|>")
        if token is None:
            raise ValueError(f"language '{code}' is not one this Whisper model knows")
        return token

    def _language(self, audio: np.ndarray, feats: np.ndarray, encoded, language: str | None) -> tuple[str, float]:
        if not self.multilingual:
            return "en", 1.0
        if language != "auto":
            return language or "en", 1.0
        # Whisper detects languages on its full 30 s window: on a short window
        # German espeak speech read as English (p 0.48), on 30 s as German (p 0.67).
        # An extra encoder pass, paid only until a stream's language is locked.
        if feats.shape[-1] < MAX_SAMPLES // HOP:
            full, _ = self.features(audio, None)
            encoded = self._model.encode(ctranslate2.StorageView.from_array(full))
        best, prob = self._model.detect_language(encoded)[0][0]
        return best.strip("<|>"), float(prob)

    def detect_language(self, audio: np.ndarray) -> list[tuple[str, float]]:
        """Languages Whisper hears in `audio`, most likely first (multilingual models only)."""
        if not self.multilingual:
            return [("en", 1.0)]
        with self.scheduler.slot(Priority.CAPTION_FINAL):
            feats, _ = self.features(audio, None)
            encoded = self._model.encode(ctranslate2.StorageView.from_array(feats))
            found = self._model.detect_language(encoded)[0]
        return [(code.strip("<|>"), float(p)) for code, p in found]

    def decode_window(
        self,
        audio: np.ndarray,
        settings: DecodeSettings,
        *,
        previous: list[int] | None = None,
        context: list[int] | None = None,
        sot_sequence: list[int] | None = None,
        priority: Priority = Priority.CAPTION_FINAL,
    ) -> WindowResult:
        """Offline decode of up to 30 s of audio in one full window, with timestamps.

        This is how Whisper was trained: a 30 s window holding several
        utterances, the text before it as `previous` (conditioning keeps names
        and style consistent), timestamp tokens splitting it into segments.
        `context` is extra prompt text placed before `previous` (a glossary's
        terms, as faster-whisper's hotwords do); `sot_sequence` overrides the
        start-of-transcript tokens (another language or task); `priority` is
        the scheduler class (a background re-decode passes a lower one).
        """
        audio = audio[:MAX_SAMPLES]
        duration = len(audio) / SAMPLE_RATE
        prompt = list(sot_sequence or self.tokenizer.sot_sequence)
        earlier = list(context or []) + list(previous or [])[-MAX_WINDOW_PREVIOUS:]
        if earlier:
            prompt = [self.tokenizer.sot_prev] + earlier[-MAX_WINDOW_PREVIOUS:] + prompt
        # Timestamp tokens (about two per segment) come on top of the text cap.
        max_new = min(MAX_LENGTH - len(prompt), int(duration * (settings.max_tokens_per_s + 2)) + 8)
        with self.scheduler.slot(priority):
            feats, _ = self.features(audio, None)
            encoded = self._model.encode(ctranslate2.StorageView.from_array(feats))
            result = self._generate(encoded, prompt, settings, max_new, repetition_penalty=1.0, timestamps=True)
            segments = self._segments(result.sequences_ids[0], duration)
            text = "".join(seg.text for seg in segments)
            if _compression_ratio(text) > COMPRESSION_LIMIT:
                result = self._generate(encoded, prompt, settings, max_new, repetition_penalty=1.3, timestamps=True)
                segments = self._segments(result.sequences_ids[0], duration)
                text = "".join(seg.text for seg in segments)
            tried = [(result, segments, text)]
            for temperature in settings.fallback_temperatures:
                if not self._needs_fallback(result, text, settings):
                    break
                result = self._sample(encoded, prompt, settings, max_new, temperature)
                segments = self._segments(result.sequences_ids[0], duration)
                text = "".join(seg.text for seg in segments)
                tried.append((result, segments, text))
            if len(tried) > 1 and self._needs_fallback(result, text, settings):
                # None passed: keep the likeliest that at least does not loop (as faster-whisper).
                pool = [t for t in tried if _compression_ratio(t[2]) <= COMPRESSION_LIMIT] or tried
                result, segments, text = max(pool, key=lambda t: float(t[0].scores[0]) if t[0].scores else -1e9)
        avg_logprob = float(result.scores[0]) if result.scores else 0.0
        no_speech = float(result.no_speech_prob)
        dropped = ""
        if _compression_ratio(text) > COMPRESSION_LIMIT:
            dropped = "repetition loop"
        elif no_speech > settings.no_speech_threshold and avg_logprob < settings.logprob_threshold:
            dropped = "no speech"
        if dropped:
            return WindowResult([], avg_logprob, no_speech, dropped)
        sequence = tuple(t for t in result.sequences_ids[0] if t != self.tokenizer.eot)
        return WindowResult(segments, avg_logprob, no_speech, "", sequence)

    def _segments(self, tokens: list[int], duration: float) -> list[Segment]:
        """Split a timestamped sequence at its timestamp tokens; times are clamped to the audio."""
        begin = self.tokenizer.timestamp_begin
        out: list[Segment] = []
        text: list[int] = []
        start: float | None = None
        last_end = 0.0

        def close(end: float, closed: bool = True) -> None:
            nonlocal text, start, last_end
            if text:
                s = min(start if start is not None else last_end, duration)
                e = min(max(end, s), duration)
                out.append(Segment(s, e, tuple(text), self.tokenizer.decode(text), closed))
                last_end = e
            text, start = [], None

        for t in tokens:
            if t >= begin:
                when = (t - begin) * TIMESTAMP_S
                if text:
                    close(when)
                else:
                    start = when
            elif t < self.tokenizer.eot:
                text.append(t)
        # A window cut before its closing timestamp ends where the audio does.
        close(duration, closed=False)
        return out

    @staticmethod
    def _needs_fallback(result, text: str, settings: DecodeSettings) -> bool:
        avg_logprob = float(result.scores[0]) if result.scores else 0.0
        if float(result.no_speech_prob) > settings.no_speech_threshold and avg_logprob < settings.logprob_threshold:
            return False  # silence: dropped, not decoded again
        return _compression_ratio(text) > COMPRESSION_LIMIT or avg_logprob < settings.logprob_threshold

    def _sample(self, encoded, prompt: list[int], settings: DecodeSettings, max_new: int, temperature: float):
        """Five sampled candidates at `temperature`; the likeliest is returned first."""
        ctranslate2.set_random_seed(settings.fallback_seed)
        found = self._model.generate(
            encoded,
            [prompt],
            beam_size=1,
            num_hypotheses=5,
            sampling_temperature=temperature,
            sampling_topk=0,
            max_length=len(prompt) + max_new,
            max_initial_timestamp_index=50,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        best = max(range(len(found.sequences_ids)), key=lambda i: found.scores[i])
        return _Best(found.sequences_ids[best], found.scores[best], found.no_speech_prob)

    def _generate(self, encoded, prompt: list[int], settings: DecodeSettings, max_new: int, repetition_penalty: float,
                  timestamps: bool = False):
        return self._model.generate(
            encoded,
            [prompt],
            beam_size=settings.beam_size,
            max_length=len(prompt) + max_new,
            # Whisper's own limit on the first timestamp (1 s); only used with timestamps.
            max_initial_timestamp_index=50 if timestamps else 0,
            return_scores=True,
            return_no_speech_prob=True,
            no_repeat_ngram_size=settings.no_repeat_ngram_size,
            repetition_penalty=repetition_penalty,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]

    def _text_tokens(self, result, prefix: list[int]) -> list[int]:
        # CTranslate2 returns the forced prefix as part of the sequence; we want only what is new.
        seq = result.sequences_ids[0]
        if prefix and seq[: len(prefix)] == prefix:
            seq = seq[len(prefix) :]
        return [t for t in seq if t < self.tokenizer.eot]

    def words(self, tokens: list[int]) -> list[Word]:
        """Split tokens into words (a word starts at a token with a leading space)."""
        if not tokens:
            return []
        texts, groups = self.tokenizer.split_to_word_tokens(list(tokens))
        return [Word(t, tuple(g)) for t, g in zip(texts, groups) if g]

    def word_ends(self, audio: np.ndarray, tokens: list[int], settings: DecodeSettings,
                  language: str | None = None) -> list[float]:
        """End time (s from the start of `audio`) of each word in `tokens`, by cross-attention alignment."""
        words = self.words(tokens)
        if not words:
            return []
        # Alignment decides which words are committed as finals: as urgent as a final.
        with self.scheduler.slot(Priority.CAPTION_FINAL):
            feats, num_frames = self.features(audio, settings.context_pad_s, settings.min_window_s)
            encoded = self._model.encode(ctranslate2.StorageView.from_array(feats))
            result = self._model.align(
                encoded, self.sot_sequence(language)[:-1], [list(tokens) + [self.tokenizer.eot]], [num_frames],
                median_filter_width=7,
            )[0]
        text_idx = np.array([p[0] for p in result.alignments])
        time_idx = np.array([p[1] for p in result.alignments])
        jumps = np.pad(np.diff(text_idx), (1, 0), constant_values=1).astype(bool)
        jump_times = time_idx[jumps] / TOKENS_PER_SECOND
        boundaries = np.cumsum([len(w.tokens) for w in words])
        limit = len(audio) / SAMPLE_RATE
        return [float(min(jump_times[min(b, len(jump_times) - 1)], limit)) for b in boundaries]


@dataclass(frozen=True, slots=True)
class _Best:
    """One sampled candidate, shaped as CTranslate2's result (first sequence and score)."""

    sequence: list[int]
    score: float
    no_speech_prob: float

    @property
    def sequences_ids(self) -> list[list[int]]:
        return [self.sequence]

    @property
    def scores(self) -> list[float]:
        return [self.score]


def _compression_ratio(text: str) -> float:
    if not text:
        return 0.0
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw))
