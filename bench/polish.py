"""Polished transcript benchmark: live finals, their background re-decode, and offline `edge transcribe`.

    python -m bench.polish [--streams N] [--limit SENTENCES]

The no-name news speech of bench.glossary (24 sentences, en-us/en-gb) is
captioned live at real-time pace by N streams side by side, as `edge run`
does: finals stored in a real store, each closed utterance handed to the
polisher, which re-decodes in the scheduler's background class while the
streams run. Reported: live WER, polished WER (edge.asr.polish.best_text),
offline `edge transcribe` WER on the same file, live final latency
(emitted_at - end) with polishing running, and how far polishing lagged.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.corpus import wer
from bench.glossary import PLAIN, build_clip, sentences

OUT = Path(__file__).resolve().parent / "out" / "polish"


def offline(wav: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "transcribe", str(wav), "--json", "--profile", "x86-cpu"],
                          capture_output=True, text=True, check=True)
    return " ".join(json.loads(line)["text"] for line in proc.stdout.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2)
    parser.add_argument("--limit", type=int, default=24)
    args = parser.parse_args(argv)

    from edge.asr.models import SpeechModels
    from edge.asr.options import CaptionOptions
    from edge.asr.polish import ClosedSpeech, Polisher, best_text
    from edge.profiles import load_profile
    from edge.runtime.streams import caption_media
    from edge.store import AssetStore

    OUT.mkdir(parents=True, exist_ok=True)
    texts = sentences(PLAIN, args.limit)
    wav = build_clip(f"plain-{args.limit}", texts)
    ref = " ".join(texts)
    offline_text = offline(wav)

    models = SpeechModels.load(load_profile("x86-cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        store = AssetStore(Path(tmp) / "store")
        polisher = Polisher(store, models.whisper, models.profile.asr.offline)
        polisher.start()
        finals: dict[str, list] = {}
        runs = {}

        def one(name: str) -> None:
            run = runs[name] = store.records.open_run(name, str(wav), live=True)

            def closed(start, audio, language):
                polisher.submit(ClosedSpeech(run.id, name, start, audio, language))

            got = finals[name] = []
            for ev in caption_media(models, str(wav), stream=name, live=True,
                                    options=CaptionOptions(on_utterance=closed)):
                if ev.type == "final":
                    store.records.append_captions(run, [ev])
                    got.append(ev)
            store.records.close_run(run.id, "ended")

        threads = [threading.Thread(target=one, args=(f"s{i}",)) for i in range(args.streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ended = time.monotonic()
        polisher.drain(timeout=1800)
        lag = time.monotonic() - ended
        polisher.stop()
        rows = []
        for name, evs in finals.items():
            records = store.records.read(run=runs[name].id, type=None, limit=None)
            lat = [e.emitted_at - e.end for e in evs]
            rows.append({"stream": name, "live_wer": wer(ref, " ".join(e.text for e in evs)),
                         "polished_wer": wer(ref, best_text(records)), "offline_wer": wer(ref, offline_text),
                         "latency_median_s": float(np.median(lat)), "latency_p90_s": float(np.percentile(lat, 90))})
        store.close()
    (OUT / "results.json").write_text(json.dumps({"rows": rows, "polish_lag_s": lag}, indent=1))
    print(f"\nPolished transcript: {len(texts)} news sentences, {args.streams} live streams at real-time pace, "
          "tiny.en (x86-cpu); polishing in the background class while they run")
    print("| stream | live WER | polished WER | offline edge transcribe WER | live final latency median / p90 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stream']} | {100 * r['live_wer']:.1f}% | {100 * r['polished_wer']:.1f}% "
              f"| {100 * r['offline_wer']:.1f}% | {r['latency_median_s']:.2f} s / {r['latency_p90_s']:.2f} s |")
    print(f"polishing finished {lag:.1f} s after the streams ended (skipped: {polisher.skipped_s:.0f} s of speech)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
