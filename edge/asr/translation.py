"""An English caption track for a non-English stream: Whisper's translate task, in the background.

Off by default (`streams[].translate: true` turns it on for one stream). It is
the polisher's machinery (edge/asr/polish.py) with the other task: the closed
utterances are laid out as the offline path lays out speech, decoded again in
full seeking Whisper windows in an idle-class child process
(edge/asr/background.py), and the English text is stored as a
`translation` record pointing at the live finals it translates
(`data.source`: their seqs). When the run closes, its caption track builder
writes it as a second track, `<stream>-<start>-captions.en.vtt`.

Only a multilingual model can translate, and only speech that is not English
is worth it: both are checked when the box starts, naming the setting.
How good the translation is on the packaged Whisper base is measured by
`python -m bench.polish --translate` (it is rough: see the README).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from edge.asr.polish import ClosedSpeech, Polisher, polish_complete
from edge.errors import ConfigError
from edge.store.records import TRANSLATION, Record

NAME = "translate"


class Translator(Polisher):
    """Re-decodes closed non-English speech as English and stores `translation` records."""

    name = NAME
    record_type = TRANSLATION
    task = "translate"

    def __init__(self, store, engine, settings, **kwargs: Any) -> None:
        if not getattr(engine, "multilingual", False):
            raise ConfigError("translation needs a multilingual model; this one is English-only",
                              "select the multilingual model (a profile with whisper-base)")
        super().__init__(store, engine, settings, **kwargs)

    def wants(self, speech: ClosedSpeech) -> bool:
        return speech.language != "en"  # English speech has nothing to translate: its live text is English

    def decodes(self, language: str | None) -> bool:
        return language not in (None, "en")

    def record_data(self, seqs: list[int], language: str | None) -> dict:
        return {"source": seqs, "language": "en", "from": language}


def translation_records(records: Iterable[Record]) -> list[Record]:
    """A run's translations with text, in stream order (records of other types are ignored)."""
    return sorted((r for r in records if r.type == TRANSLATION and r.text.strip()), key=lambda r: (r.start, r.seq))


def translation_complete(store, run_id: str) -> bool:
    return polish_complete(store, run_id, NAME)


def check_translate(config: Any, *, multilingual: bool) -> list[str]:
    """The names of the streams the config asks to translate; a ConfigError naming the field when it cannot.

    A stream can be translated only by a multilingual model, and only when its
    language is not English: set (`es`) or detected (`auto`), on the stream or
    box-wide (`captions.language`).
    """
    wanted = []
    for i, stream in enumerate(config.streams):
        if not stream.translate:
            continue
        where = f"streams.{i}.translate"
        if not multilingual:
            raise ConfigError(f"{where}: translation needs a multilingual model; this profile's model is English-only",
                              "use a profile with the multilingual model (e.g. --profile x86-cpu-multilingual), "
                              "or remove translate")
        language = (stream.language or config.captions.language or "en").strip().lower()
        if language == "en":
            raise ConfigError(f"{where}: stream {stream.name!r} is captioned in English, so there is nothing to "
                              "translate", f"set streams.{i}.language to the language spoken (e.g. es, or auto)")
        wanted.append(stream.name)
    return wanted


# -- wiring into a box -------------------------------------------------------------------------


def translator_for(config: Any, models: Any, store: Any) -> tuple[Translator | None, frozenset[str]]:
    """The box's translator and the streams it translates (None when no stream asks); checked at start-up."""
    streams = check_translate(config, multilingual=bool(getattr(models.whisper, "multilingual", False)))
    if not streams:
        return None, frozenset()
    from edge.asr.background import BackgroundWhisper

    # Its own idle-class child process, as the polisher's (edge/asr/background.py), loaded at its first window.
    translator = Translator(store, BackgroundWhisper.for_models(models), models.profile.asr.offline,
                            live_vad=models.profile.vad_settings, offline_vad=models.profile.offline_vad_settings)
    return translator, frozenset(streams)


def with_translation(options_for: Callable[..., Any], translator: Translator | None,
                     streams: frozenset[str]) -> Callable[..., Any]:
    """`options_for(stream, run)` whose closed speech also reaches the translator, for the streams it translates."""
    if translator is None:
        return options_for

    def options(stream: str, run: Any = None) -> Any:
        opts = options_for(stream, run)
        if stream not in streams or run is None:
            return opts
        earlier, run_id = opts.on_utterance, run.id

        def on_utterance(start: float, audio: Any, language: str | None) -> None:
            if earlier is not None:
                earlier(start, audio, language)  # the polisher first: it serves the run's main track
            translator.submit(ClosedSpeech(run_id, stream, start, audio, language))

        return dataclasses.replace(opts, on_utterance=on_utterance)

    return options
