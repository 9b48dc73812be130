"""What a stream asks of its captions beyond the device profile: language, task, glossary, polishing.

`CaptionOptions` is the stream's setting (from the box config, the dashboard
or the command line); `StreamOptions` is one caption stream's state for it
(the language lock, the glossary's prompt tokens) and is what
`edge/asr/streaming.py` calls at each decode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edge.asr.glossary import Glossary, GlossaryMode
from edge.asr.language import AUTO, LanguageLock

Task = Literal["transcribe", "translate"]
# Closed speech for the polisher: (start in stream seconds, audio, language).
OnUtterance = Callable[[float, np.ndarray, "str | None"], None]


@dataclass(frozen=True)
class CaptionOptions:
    language: str | None = None  # None: the model's default (English); a code; or "auto"
    task: Task = "transcribe"
    glossary: Glossary | None = None
    glossary_mode: GlossaryMode = "correct"
    on_utterance: OnUtterance | None = None


class StreamOptions:
    def __init__(self, options: CaptionOptions, engine: Any) -> None:
        self.options = options
        self.lock = LanguageLock(options.language)
        self._multilingual = bool(getattr(engine, "multilingual", False))
        self._engine = engine
        glossary = options.glossary
        self.bias = (glossary.prompt_tokens(engine.tokenizer.encode)
                     if glossary is not None and options.glossary_mode in ("prompt", "both") else None)
        self._correct = glossary is not None and options.glossary_mode in ("correct", "both")
        self.last_language: str | None = None if self._multilingual else "en"

    # -- per utterance --------------------------------------------------------------

    def decode_args(self, utt: Any) -> dict:
        if getattr(utt, "language", None) is None:
            utt.language = self.lock.for_utterance(utt.start)
        return {"language": utt.language, "task": self.options.task, "bias": self.bias}

    def observe(self, utt: Any, decoded: Any) -> None:
        if utt.language == AUTO:
            utt.language = decoded.language
            self.lock.observe(decoded.language, decoded.language_prob, utt.end)
        else:
            self.lock.observe(decoded.language, 1.0, utt.end)
        self.last_language = decoded.language

    def window_args(self, audio: np.ndarray, start: float, end: float) -> dict:
        """For a packed offline window: detect the language on it when still unknown."""
        language = self.lock.for_utterance(start)
        if language == AUTO:
            detected, p = self._engine.detect_language(audio)[0]
            self.lock.observe(detected, p, end)
            language = detected
        if language is not None:
            self.last_language = language
        sot = self._engine.sot_sequence(language, self.options.task)[:-1] if self._multilingual else None
        return {"context": self.bias, "sot_sequence": sot}

    def closed(self, start: float, audio: np.ndarray, language: str | None) -> None:
        if self.options.on_utterance is not None:
            self.options.on_utterance(start, audio, language if language != AUTO else self.last_language)

    # -- per event ------------------------------------------------------------------

    def text(self, text: str) -> str:
        return self.options.glossary.correct(text) if self._correct and self.options.glossary else text

    @property
    def language(self) -> str | None:
        if self.options.task == "translate":
            return "en"
        return self.lock.current or self.last_language


def with_model(profile: Any, model: str | None) -> Any:
    """`profile` with its ASR engine's model replaced (`--model`); the registry checks the name at load."""
    if not model:
        return profile
    engine = profile.asr.engine.model_copy(update={"model": model})
    return profile.model_copy(update={"asr": profile.asr.model_copy(update={"engine": engine})})


def caption_options(
    engine: Any,
    *,
    language: str | None = None,
    task: Task = "transcribe",
    glossary: Glossary | Path | str | None = None,
    glossary_mode: GlossaryMode = "correct",
    on_utterance: OnUtterance | None = None,
    where: str = "--language",
) -> CaptionOptions:
    """Options checked against the loaded model: a language or task it cannot do is refused here, by name."""
    from edge.asr.language import check_language
    from edge.errors import ConfigError

    multilingual = bool(getattr(engine, "multilingual", False))
    language = check_language(language, multilingual=multilingual, where=where)
    if task == "translate" and not multilingual:
        raise ConfigError("the translate task needs a multilingual model; this one is English-only",
                          "select the multilingual model (--model whisper-base)")
    if glossary is not None and not isinstance(glossary, Glossary):
        glossary = Glossary.load(glossary)
    return CaptionOptions(language=language, task=task, glossary=glossary, glossary_mode=glossary_mode,
                          on_utterance=on_utterance)
