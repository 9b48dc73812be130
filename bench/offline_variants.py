"""Offline WER of `edge transcribe`'s path under variants of its settings, one set at a time.

How the offline settings were chosen (on the tuning set only) and how the
decoder was checked against faster-whisper's on the same audio:

    python -m bench.offline_variants --set tune                       # the profile as it is
    python -m bench.offline_variants --set tune --vad live            # files cut at the live VAD's 0.3 s pauses
    python -m bench.offline_variants --set tune --vad pad_s=0.3       # any offline_vad_settings field
    python -m bench.offline_variants --set tune --no-fallback         # without the temperature fallback
    python -m bench.offline_variants --set tune --fw-chunks           # faster-whisper's VAD chunks, our decoder

WER only: timings are in `python -m bench.asr` (same run as the reference).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.corpus import SETS, build_set, word_errors
from edge.asr.captions import join_text
from edge.asr.models import SpeechModels
from edge.demo.clip import read_wav
from edge.events import SAMPLE_RATE
from edge.profiles import Profile, VadSettings, load_profile
from edge.runtime.streams import caption_media


def _variant(profile: Profile, vad: list[str], fallback: bool) -> Profile:
    update: dict = {}
    if vad == ["live"]:
        update["offline_vad_settings"] = profile.vad_settings
    elif vad:
        fields = dict(v.split("=", 1) for v in vad)
        update["offline_vad_settings"] = VadSettings(**{**profile.offline_vad_settings.model_dump(), **fields})
    if not fallback:
        offline = profile.asr.offline.model_copy(update={"fallback_temperatures": ()})
        update["asr"] = profile.asr.model_copy(update={"offline": offline})
    return profile.model_copy(update=update)


def _edge_text(models: SpeechModels, wav) -> str:
    text = ""
    for event in caption_media(models, str(wav), live=False):
        if event.type == "final":
            text = join_text(text, event.text)
    return text


def _fw_chunks_text(models: SpeechModels, wav) -> str:
    """faster-whisper's own VAD chunking and seek rule, with our WhisperEngine decoding each window."""
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    engine, settings = models.whisper, models.profile.asr.offline
    samples, _ = read_wav(wav)
    audio = samples.astype(np.float32) / 32768.0
    parts, _ = collect_chunks(audio, get_speech_timestamps(audio, VadOptions()))
    audio = np.concatenate(parts)
    begin = engine.tokenizer.timestamp_begin
    seek, previous, texts = 0, [], []
    window = 30 * SAMPLE_RATE
    while seek < len(audio) - SAMPLE_RATE // 10:
        piece = audio[seek : seek + window]
        result = engine.decode_window(piece, settings, previous=previous)
        sequence = list(result.sequence)
        texts += [s.text for s in result.segments]
        previous = (previous + sequence)[-223:]
        stamps = [t >= begin for t in sequence]
        if not any(stamps) or (len(stamps) >= 2 and stamps[-1] and not stamps[-2]):
            seek += len(piece)
        else:
            last = max(i for i, s in enumerate(stamps) if s)
            t = (sequence[last] - begin) * 0.02
            seek += len(piece) if t <= 0.5 else int(t * SAMPLE_RATE)
    return " ".join(texts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=sorted(SETS), default="tune")
    ap.add_argument("--profile", default="x86-cpu")
    ap.add_argument("--vad", nargs="*", default=[], help="'live', or offline_vad_settings field=value pairs")
    ap.add_argument("--no-fallback", action="store_true")
    ap.add_argument("--fw-chunks", action="store_true", help="faster-whisper's VAD chunks and seek, our decoder")
    args = ap.parse_args(argv)
    profile = _variant(load_profile(args.profile), args.vad, not args.no_fallback)
    models = SpeechModels.load(profile)
    total = [0, 0]
    rows = []
    for item in build_set(SETS[args.set]):
        text = _fw_chunks_text(models, item.wav) if args.fw_chunks else _edge_text(models, item.wav)
        errors, words = word_errors(item.reference, text)
        total[0] += errors
        total[1] += words
        rows.append((item.name, errors, words))
        print(f"  {item.name:8s} {100 * errors / words:5.1f}% ({errors}/{words})", file=sys.stderr, flush=True)
    label = "fw-chunks" if args.fw_chunks else f"vad={args.vad or 'profile'} fallback={not args.no_fallback}"
    print(f"| {args.set} | {label} | " + " | ".join(f"{n} {100 * e / w:.1f}" for n, e, w in rows)
          + f" | all {100 * total[0] / total[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
