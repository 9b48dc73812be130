"""Polished transcript and translation track benchmarks.

    python -m bench.polish [--streams N] [--json]        # live: N streams at real-time pace (timing: quiet machine)
    python -m bench.polish --quality [--file] [--json]   # polished WER on the test set (no pacing: quality only)
    python -m bench.polish --translate [--json]          # the English track of es/de/fr speech (whisper-base)

Live (default): the test set of `bench.corpus` (clean and noisy, six voices,
plus beckett) is captioned by N streams side by side at real-time pace, as
`edge run` does: finals stored in a real store, each closed utterance handed
to the polisher, which re-decodes in an idle-class child process (as the box
does: edge/asr/background.py) while the streams run. Reported per item: live WER, polished WER
(edge.asr.polish.best_text), offline `edge transcribe` WER on the same file,
live final latency (emitted_at - end) with polishing running, how long
polishing lagged behind the end of the streams, the box process's CPU over
the item (process time / wall time, in cores), the polisher child's CPU over
the same interval (from /proc) and the child's peak RSS. `--item beckett` runs the
short item alone (a quick check that the live path works).

--quality: the same items read as fast as the machine decodes, cut by the
live VAD settings (the utterances a camera's run hands over), every closed
utterance handed to the same polisher of a live run; polished WER against
offline `edge transcribe` on the same file. What the polisher hears is the
live VAD's utterances either way; only the pacing differs, so the figures do
not depend on machine load.

--translate: bench.languages' Spanish, German and French sentences (espeak-ng)
captioned by whisper-base with their language set, the closed speech handed
to the Translator (Whisper's translate task, packed windows, idle-class
child process), its English scored against the English the sentences were written
from: WER, and BLEU-4 (corpus, one reference, brevity penalty) on the same
normalised words. Both are rough proxies for translation quality.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.corpus import TEST, build_set, normalize_text, word_errors

OUT = Path(__file__).resolve().parent / "out" / "polish"


def offline(wav: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "transcribe", str(wav), "--json", "--profile", "x86-cpu"],
                          capture_output=True, text=True, check=True)
    return " ".join(json.loads(line)["text"] for line in proc.stdout.splitlines() if line.strip())


def pooled(pairs: list[tuple[str, str]]) -> float:
    """WER pooled over items: all errors over all reference words."""
    errors = words = 0
    for ref, hyp in pairs:
        e, n = word_errors(ref, hyp)
        errors, words = errors + e, words + n
    return errors / max(words, 1)


def bleu(refs: list[str], hyps: list[str], n: int = 4) -> float:
    """Corpus BLEU-n with one reference per sentence and the usual brevity penalty, on normalised words."""
    matched, total = [0] * n, [0] * n
    ref_len = hyp_len = 0
    for ref, hyp in zip(refs, hyps):
        r, h = normalize_text(ref), normalize_text(hyp)
        ref_len, hyp_len = ref_len + len(r), hyp_len + len(h)
        for k in range(1, n + 1):
            rc = Counter(tuple(r[i:i + k]) for i in range(len(r) - k + 1))
            hc = Counter(tuple(h[i:i + k]) for i in range(len(h) - k + 1))
            matched[k - 1] += sum(min(c, rc[g]) for g, c in hc.items())
            total[k - 1] += max(len(h) - k + 1, 0)
    if hyp_len == 0 or min(matched) == 0:
        return 0.0
    precision = sum(math.log(m / t) for m, t in zip(matched, total)) / n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(precision)


def audio_of(wav: Path) -> np.ndarray:
    from edge.demo.clip import read_wav

    samples, rate = read_wav(wav)
    assert rate == 16000, f"{wav} is {rate} Hz; the benchmark clips are 16 kHz"
    return samples.astype(np.float32) / 32768


def _items(args):
    items = build_set(TEST)
    if args.item:
        items = [i for i in items if i.name in args.item]
    return items[:args.limit] if args.limit else items


# -- live, at real-time pace ----------------------------------------------------------------------


def live(args) -> dict:
    from edge.asr.background import BackgroundWhisper
    from edge.asr.models import SpeechModels
    from edge.asr.options import CaptionOptions
    from edge.asr.polish import ClosedSpeech, Polisher, best_text
    from edge.profiles import load_profile
    from edge.runtime.streams import caption_media
    from edge.store import AssetStore

    models = SpeechModels.load(load_profile("x86-cpu"))
    rows = []
    for item in _items(args):
        offline_text = offline(item.wav)
        with tempfile.TemporaryDirectory() as tmp:
            store = AssetStore(Path(tmp) / "store")
            # As the box polishes: in an idle-class child process (edge/asr/background.py), no scheduler slot.
            background = BackgroundWhisper.for_models(models)
            polisher = Polisher(store, background, models.profile.asr.offline,
                                live_vad=models.profile.vad_settings, offline_vad=models.profile.offline_vad_settings)
            background.start()  # loaded before the streams, as in a box that has polished before: lag is decoding
            polisher.start()
            finals: dict[str, list] = {}
            runs = {}

            def one(name: str) -> None:
                run = runs[name] = store.records.open_run(name, str(item.wav), live=True)

                def closed(start, audio, language):
                    polisher.submit(ClosedSpeech(run.id, name, start, audio, language))

                got = finals[name] = []
                for ev in caption_media(models, str(item.wav), stream=name, live=True,
                                        options=CaptionOptions(on_utterance=closed)):
                    if ev.type == "final":
                        store.records.append_captions(run, [ev])
                        got.append(ev)
                store.records.close_run(run.id, "ended")

            # The box's CPU while it captions and polishes: process time over wall time, in cores.
            cpu0, wall0 = time.process_time(), time.monotonic()
            child0 = _cpu_s(background.pid)
            threads = [threading.Thread(target=one, args=(f"s{i}",)) for i in range(args.streams)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            ended = time.monotonic()
            polisher.drain(timeout=1800)
            lag = time.monotonic() - ended
            wall = max(time.monotonic() - wall0, 1e-9)
            cpu = (time.process_time() - cpu0) / wall
            # The polisher's child: idle-class CPU the streams left over, same interval.
            child_cpu = (_cpu_s(background.pid) - child0) / wall
            child = peak_rss_mb(background)
            polisher.stop()
            for name, evs in finals.items():
                records = store.records.read(run=runs[name].id, type=None, limit=None)
                lat = [e.emitted_at - e.end for e in evs]
                rows.append({"item": item.name, "stream": name, "reference": item.reference,
                             "live": " ".join(e.text for e in evs), "polished": best_text(records),
                             "offline": offline_text, "polish_lag_s": round(lag, 1),
                             "skipped_s": polisher.skipped_s,
                             "latency_median_s": float(np.median(lat)) if lat else None,
                             "latency_p90_s": float(np.percentile(lat, 90)) if lat else None,
                             "cpu_cores": round(cpu, 2), "child_cpu_cores": round(child_cpu, 2),
                             "polish_errors": polisher.errors,
                             "child_peak_rss_mb": child})
            store.close()
    return {"mode": "live", "streams": args.streams, "rows": rows}


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc; 0 when it is not running."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(background) -> float | None:
    """Peak RSS of a BackgroundWhisper's child process in MB (None when none runs)."""
    memory = background.memory()
    return round(memory["peak"] / 2**20, 1) if memory and "peak" in memory else None


# -- quality only, no pacing ----------------------------------------------------------------------


def quality(args) -> dict:
    from edge.asr.background import BackgroundWhisper
    from edge.asr.models import SpeechModels
    from edge.asr.options import CaptionOptions
    from edge.asr.polish import ClosedSpeech, Polisher, best_text
    from edge.asr.streaming import CaptionStream
    from edge.asr.vad import SileroVad
    from edge.events import AudioChunk
    from edge.profiles import load_profile
    from edge.store import AssetStore

    models = SpeechModels.load(load_profile("x86-cpu"))
    rows = []
    for item in _items(args):
        offline_text = offline(item.wav)
        with tempfile.TemporaryDirectory() as tmp, AssetStore(Path(tmp) / "store") as store:
            run = store.records.open_run("cam", str(item.wav), live=not args.file)
            background = BackgroundWhisper.for_models(models)
            polisher = Polisher(store, background, models.profile.asr.offline,
                                live_vad=models.profile.vad_settings, offline_vad=models.profile.offline_vad_settings)
            polisher.start()

            def closed(start, audio, language):
                polisher.submit(ClosedSpeech(run.id, "cam", start, audio, language))

            # The live VAD's utterances, as a camera's run hands them over (--file: a file's run, cut by the
            # offline VAD); decoded here without pacing.
            stream = CaptionStream(models.whisper, SileroVad(models.vad_session), models.profile.asr,
                                   models.profile.offline_vad_settings if args.file else models.profile.vad_settings,
                                   stream="cam", options=CaptionOptions(on_utterance=closed))
            finals = [e for e in stream.run([AudioChunk("cam", 0.0, audio_of(item.wav))]) if e.type == "final"]
            store.records.append_captions(run, finals)
            store.records.close_run(run.id, "ended")
            polisher.finish_run(run.id)
            polisher.drain(timeout=1800)
            child = peak_rss_mb(background)
            polisher.stop()
            records = store.records.read(run=run.id, type=None, limit=None)
            rows.append({"item": item.name, "reference": item.reference, "offline": offline_text,
                         "finals": " ".join(e.text for e in finals), "polished": best_text(records),
                         "polished_records": sum(r.type == "polished" for r in records),
                         "errors": polisher.errors, "skipped_s": polisher.skipped_s, "child_peak_rss_mb": child})
    return {"mode": "quality", "source": "file" if args.file else "live", "rows": rows}


# -- the translation track ------------------------------------------------------------------------


def translate(args) -> dict:
    from bench.languages import ENGLISH, SENTENCES
    from bench.languages import build_clip as language_clip
    from edge.asr.background import BackgroundWhisper
    from edge.asr.models import SpeechModels
    from edge.asr.options import CaptionOptions
    from edge.asr.polish import ClosedSpeech
    from edge.asr.translation import Translator, translation_records
    from edge.events import AudioChunk
    from edge.profiles import load_profile
    from edge.store import AssetStore

    models = SpeechModels.load(load_profile("x86-cpu-multilingual"))
    rows = []
    for lang in SENTENCES:
        wav, _ = language_clip(lang)
        with tempfile.TemporaryDirectory() as tmp, AssetStore(Path(tmp) / "store") as store:
            run = store.records.open_run(lang, str(wav), live=False)
            translator = Translator(store, BackgroundWhisper.for_models(models), models.profile.asr.offline)
            translator.start()

            def closed(start, audio, language, run_id=run.id, stream=lang):
                translator.submit(ClosedSpeech(run_id, stream, start, audio, language))

            stream = models.caption_stream(lang, live=False, options=CaptionOptions(language=lang, on_utterance=closed))
            finals = [e for e in stream.run([AudioChunk(lang, 0.0, audio_of(wav))]) if e.type == "final"]
            store.records.append_captions(run, finals)
            store.records.close_run(run.id, "ended")
            translator.finish_run(run.id)
            translator.drain(timeout=1800)
            translator.stop()
            english = " ".join(r.text for r in translation_records(store.records.read(run=run.id, type=None,
                                                                                        limit=None)))
            reference = " ".join(ENGLISH)
            rows.append({"language": lang, "reference": reference, "translation": english,
                         "transcript": " ".join(e.text for e in finals), "source": " ".join(SENTENCES[lang]),
                         "wer": pooled([(reference, english)]), "bleu": bleu([reference], [english]),
                         "transcript_wer": pooled([(" ".join(SENTENCES[lang]), " ".join(e.text for e in finals))])})
    return {"mode": "translate", "rows": rows}


# -- tables ---------------------------------------------------------------------------------------


def print_table(result: dict) -> None:
    rows = result["rows"]
    if result["mode"] == "translate":
        print("\nTranslation track: whisper-base (x86-cpu-multilingual), translate task on packed windows, "
              "8 espeak-ng news sentences per language, scored against their English source")
        print("| language | transcript WER | translation WER | BLEU-4 |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {r['language']} | {100 * r['transcript_wer']:.1f}% | {100 * r['wer']:.1f}% "
                  f"| {100 * r['bleu']:.1f} |")
        return
    if result["mode"] == "quality":
        print(f"\nPolished transcript on the test set (tiny.en, x86-cpu), {result.get('source', 'live')} run's "
              "utterances, no pacing: quality only")
        print("| item | offline edge transcribe WER | polished WER | polished records |")
        print("|---|---|---|---|")
        for r in rows:
            print(f"| {r['item']} | {100 * pooled([(r['reference'], r['offline'])]):.1f}% "
                  f"| {100 * pooled([(r['reference'], r['polished'])]):.1f}% | {r['polished_records']} |")
        print(f"| all (pooled) | {100 * pooled([(r['reference'], r['offline']) for r in rows]):.1f}% "
              f"| {100 * pooled([(r['reference'], r['polished']) for r in rows]):.1f}% | |")
        print_child(rows)
        return
    print(f"\nPolished transcript on the test set: {result['streams']} live streams at real-time pace, tiny.en "
          "(x86-cpu); polishing in an idle-class child process while they run")
    print("| item | stream | live WER | polished WER | offline edge transcribe WER | live final latency median / p90 "
          "| polishing done after the end | box CPU (cores) | polisher CPU (cores) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        med = "n/a" if r["latency_median_s"] is None else f"{r['latency_median_s']:.2f} s"
        p90 = "n/a" if r["latency_p90_s"] is None else f"{r['latency_p90_s']:.2f} s"
        print(f"| {r['item']} | {r['stream']} | {100 * pooled([(r['reference'], r['live'])]):.1f}% "
              f"| {100 * pooled([(r['reference'], r['polished'])]):.1f}% "
              f"| {100 * pooled([(r['reference'], r['offline'])]):.1f}% | {med} / {p90} | {r['polish_lag_s']:.1f} s "
              f"| {r.get('cpu_cores', float('nan')):.2f} | {r.get('child_cpu_cores', float('nan')):.2f} |")
    print(f"| all (pooled) | | {100 * pooled([(r['reference'], r['live']) for r in rows]):.1f}% "
          f"| {100 * pooled([(r['reference'], r['polished']) for r in rows]):.1f}% "
          f"| {100 * pooled([(r['reference'], r['offline']) for r in rows]):.1f}% | | | | |")
    print_child(rows)


def print_child(rows: list[dict]) -> None:
    peaks = [r["child_peak_rss_mb"] for r in rows if r.get("child_peak_rss_mb") is not None]
    errors = sum(r.get("polish_errors", r.get("errors", 0)) for r in rows)
    print(f"\nPolisher's child process (idle class): peak RSS {max(peaks):.0f} MB; failed windows: {errors}"
          if peaks else "\nPolisher's child process never started")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.polish", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quality", action="store_true", help="polished WER on the test set, no pacing")
    mode.add_argument("--translate", action="store_true", help="the English track of es/de/fr speech")
    parser.add_argument("--streams", type=int, default=2, help="live streams side by side (live mode)")
    parser.add_argument("--file", action="store_true",
                        help="--quality on a file's run (the offline VAD's chunks) instead of a camera's")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test-set items")
    parser.add_argument("--item", action="append", choices=("clean", "noisy", "beckett"),
                        help="only this test-set item (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    result = translate(args) if args.translate else quality(args) if args.quality else live(args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{result['mode']}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
