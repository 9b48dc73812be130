"""Which language a stream speaks: set by the crew, or detected and then held.

A stream's language is either given (`es`) or `auto`. With `auto`, each
utterance is decoded in the language Whisper detects on it until one
detection is confident; from then on the stream is locked to that language,
so a short or noisy utterance cannot flip the captions into another language
mid-event. After a long pause (a new speaker at the podium, a break), the
next utterance is detected afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

# Whisper's language codes (the multilingual vocabulary's <|xx|> tokens), as faster-whisper lists them.
from faster_whisper.tokenizer import _LANGUAGE_CODES as WHISPER_LANGUAGES

from edge.errors import ConfigError

AUTO = "auto"

# Measured on espeak-ng sentences with whisper-base (30 s detection window):
# right languages came out at p 0.67-0.94, a wrong first guess at <= 0.48.
CONFIDENT_P = 0.6
# A pause this long may mean someone else speaks now.
REDETECT_AFTER_S = 30.0


def check_language(code: str | None, *, multilingual: bool, where: str = "language") -> str | None:
    """`code` if the model can caption it; a ConfigError naming `where` and the fix otherwise."""
    if code is None:
        return None
    code = code.strip().lower()
    if code != AUTO and code not in WHISPER_LANGUAGES:
        raise ConfigError(f"{where}: '{code}' is not a Whisper language code",
                          "use 'auto' or a code such as en, es, de, fr")
    if not multilingual and code not in ("en", AUTO):
        raise ConfigError(f"{where}: '{code}' needs a multilingual model; this profile's model is English-only",
                          "select the multilingual model (--model whisper-base, or a profile that uses it)")
    return code


@dataclass
class LanguageLock:
    """Per stream: the language to decode the next utterance in, held after a confident detection."""

    setting: str | None = None  # None (model default: English), a code, or "auto"
    confident_p: float = CONFIDENT_P
    redetect_after_s: float = REDETECT_AFTER_S
    locked: str | None = None
    last_end: float | None = None
    detections: int = 0

    def for_utterance(self, start: float) -> str | None:
        """What to ask the decoder for: a code, or "auto" to detect on this utterance."""
        if self.setting != AUTO:
            return self.setting
        if self.locked is not None and self.last_end is not None and start - self.last_end > self.redetect_after_s:
            self.locked = None
        return self.locked or AUTO

    def observe(self, language: str, probability: float, end: float) -> None:
        """What the decoder used on an utterance that ended at `end` (stream seconds)."""
        self.last_end = end if self.last_end is None else max(self.last_end, end)
        if self.setting == AUTO and self.locked is None:
            self.detections += 1
            if probability >= self.confident_p:
                self.locked = language

    @property
    def current(self) -> str | None:
        """The language captions are in now, when known."""
        if self.setting not in (None, AUTO):
            return self.setting
        return self.locked
