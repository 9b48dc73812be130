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

from edge.asr.glossary import DEFAULT_MODE, Glossary, GlossaryMode
from edge.asr.language import AUTO, LanguageLock

Task = Literal["transcribe", "translate"]
# Closed speech for the polisher: (start in stream seconds, audio, language).
OnUtterance = Callable[[float, np.ndarray, "str | None"], None]


@dataclass(frozen=True)
class CaptionOptions:
    language: str | None = None  # None: the model's default (English); a code; or "auto"
    task: Task = "transcribe"
    # A glossary, or a function returning the current one (edited on the dashboard while the stream runs).
    glossary: Glossary | Callable[[], Glossary | None] | None = None
    glossary_mode: GlossaryMode = DEFAULT_MODE
    on_utterance: OnUtterance | None = None


class StreamOptions:
    def __init__(self, options: CaptionOptions, engine: Any) -> None:
        self.options = options
        self.lock = LanguageLock(options.language)
        self._multilingual = bool(getattr(engine, "multilingual", False))
        self._engine = engine
        self._prompt = options.glossary_mode in ("prompt", "both")
        self._correct = options.glossary_mode in ("correct", "both")
        self._bias: tuple[Glossary | None, list[int] | None] = (None, None)
        self.last_language: str | None = None if self._multilingual else "en"

    # -- per utterance --------------------------------------------------------------

    def decode_args(self, utt: Any) -> dict:
        if getattr(utt, "language", None) is None:
            utt.language = self.lock.for_utterance(utt.start)
        return {"language": utt.language, "task": self.options.task, "bias": self.bias}

    def glossary(self) -> Glossary | None:
        g = self.options.glossary
        return g() if callable(g) else g

    @property
    def bias(self) -> list[int] | None:
        """The glossary's prompt tokens (prompt modes only), recomputed when the glossary changes."""
        if not self._prompt:
            return None
        glossary = self.glossary()
        if glossary is not self._bias[0]:
            tokens = glossary.prompt_tokens(self._engine.tokenizer.encode) if glossary is not None else None
            self._bias = (glossary, tokens)
        return self._bias[1]

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
        glossary = self.glossary() if self._correct else None
        return glossary.correct(text) if glossary is not None else text

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
    glossary: Glossary | Callable[[], Glossary | None] | Path | str | None = None,
    glossary_mode: GlossaryMode = DEFAULT_MODE,
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
    if isinstance(glossary, (str, Path)):
        glossary = Glossary.load(glossary)
    return CaptionOptions(language=language, task=task, glossary=glossary, glossary_mode=glossary_mode,
                          on_utterance=on_utterance)


class BoxCaptions:
    """The box's caption settings from its config file, checked at start-up; the polisher, when on.

    `options_for(stream, run)` is what the supervisor asks for each run of a stream.
    """

    def __init__(self, config: Any, data_dir: Path, models: Any, store: Any) -> None:
        from edge.asr.glossary import GlossaryBook
        from edge.asr.language import check_language
        from edge.asr.polish import Polisher

        captions = config.captions
        multilingual = bool(getattr(models.whisper, "multilingual", False))
        self.default_language = check_language(captions.language, multilingual=multilingual,
                                               where="captions.language")
        self.languages = {s.name: check_language(s.language, multilingual=multilingual,
                                                 where=f"streams.{i}.language")
                          for i, s in enumerate(config.streams) if s.language is not None}
        # Named files that are missing or unusable stop the box at start, naming the file and line.
        for path in [captions.glossary, *(s.glossary for s in config.streams)]:
            if path is not None:
                Glossary.load(path)
        self.mode: GlossaryMode = captions.glossary_mode
        self.book = GlossaryBook(data_dir, box_file=captions.glossary,
                                 stream_files={s.name: s.glossary for s in config.streams if s.glossary is not None})
        self.polisher = None
        if captions.polish:
            from edge.asr.background import BackgroundWhisper

            engine = models.whisper
            # Windows decode in an idle-class child process, so live finals never wait behind one; it
            # loads its model at the first window, so a box with nothing to polish never pays for it.
            self.polisher = Polisher(
                store, BackgroundWhisper.for_models(models), models.profile.asr.offline,
                glossary_for=self.book.for_stream,
                live_vad=models.profile.vad_settings, offline_vad=models.profile.offline_vad_settings,
                bias_for=(lambda stream: self._bias(engine, stream)) if self.mode in ("prompt", "both") else None)

    def _bias(self, engine: Any, stream: str) -> list[int] | None:
        glossary = self.book.for_stream(stream)
        return glossary.prompt_tokens(engine.tokenizer.encode) if glossary is not None else None

    def options_for(self, stream: str, run: Any = None) -> CaptionOptions:
        on_utterance = None
        if self.polisher is not None and run is not None:
            from edge.asr.polish import ClosedSpeech

            polisher, run_id = self.polisher, run.id

            def on_utterance(start: float, audio: np.ndarray, language: str | None) -> None:
                polisher.submit(ClosedSpeech(run_id, stream, start, audio, language))

        return CaptionOptions(language=self.languages.get(stream, self.default_language),
                              glossary=self.book.provider(stream), glossary_mode=self.mode,
                              on_utterance=on_utterance)

    def start(self) -> None:
        if self.polisher is not None:
            self.polisher.start()

    def stop(self) -> None:
        if self.polisher is not None:
            self.polisher.stop()
