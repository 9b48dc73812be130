"""Glossary benchmark: the event's names with and without a glossary, and speech without them.

    python -m bench.glossary                 # the reported HELD-OUT set, offline and live (about 20 min)
    python -m bench.glossary --set tuning    # the set the glossary's settings were chosen on
    python -m bench.glossary --set all       # both, one table each
    python -m bench.glossary --realtime      # live at real-time pace: final latency with and without
                                             # the glossary (timing: run it on a quiet machine)
    python -m bench.glossary --text-only     # the correction alone on finals decoded once without a
                                             # glossary (cached; --cache decodes again), per final ms

Two sets, never mixed:
- tuning: `glossary_event.txt` (32 names) in `glossary_sentences.txt` (26
  sentences), espeak-ng en-us/en-gb at 165 wpm; no-name speech: the first 24
  of `news_sentences.txt`, same voices. THRESHOLD, CAPITAL_BONUS and the
  matcher in edge/asr/glossary.py were chosen on this set.
- held-out (reported): `glossary_heldout.txt` (34 other names of people,
  places and organisations) in `glossary_heldout_sentences.txt` (32 new
  sentences), five voices the tuning set does not use at three speeds;
  no-name speech: the first 24 of `test_sentences.txt`, same voices. Nothing
  was tuned on it.

Offline rows are the real entry point, `edge transcribe FILE --json`, once
per glossary mode, and faster-whisper's `transcribe` on the same model with
and without `hotwords`. Live rows run the live caption stream with the box's
glossary options, fed 0.1 s chunks as fast as it takes them (bench.asr's
`run_live_fast` idea): every commit decision a real-time run makes when it
keeps up, so the figures do not depend on how loaded the machine is.
`--realtime` runs `edge transcribe --live` instead and reports latency.

`--text-only` is how the matcher (edge/asr/glossary.py `Matcher`) was chosen:
the correction is text-only and runs on each final, so each set's clips are
decoded once without a glossary (offline and live, kept in
out/glossary/hypotheses-<set>.json) and a matcher is scored on those finals in
seconds. It also counts false names: terms written that the reference does
not hold.

Term recall: glossary terms written exactly (case and accents folded) in the
transcript, over the terms in the reference. WER as bench.asr measures it.
The no-name speech is transcribed with the same glossary active: its WER
must not rise by more than 0.5 points (issue 10).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.corpus import RATE, _speak_16k, wer
from edge.asr.glossary import MAX_TERMS, Glossary
from edge.demo.clip import write_wav

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "glossary"
MODES = ("none", "correct", "prompt", "both")
LIVE_MODES = ("none", "correct")  # correct is the default a crew gets (DEFAULT_MODE)


@dataclass(frozen=True)
class NameSet:
    label: str
    glossary: Path
    named: Path
    plain: Path
    plain_count: int
    voices: tuple[str, ...]
    speeds: tuple[int, ...]


SETS = {
    "tuning": NameSet("tuning", HERE / "glossary_event.txt", HERE / "glossary_sentences.txt",
                      HERE / "news_sentences.txt", 24, ("en-us", "en-gb"), (165,)),
    # Voices and speeds rotate with coprime periods (5 and 3), so each voice is heard at each speed.
    "held-out": NameSet("held-out", HERE / "glossary_heldout.txt", HERE / "glossary_heldout_sentences.txt",
                        HERE / "test_sentences.txt", 24,
                        ("en-gb-scotland", "en-us+f3", "en-029", "en-gb-x-rp", "en-gb-x-gbcwmd"), (155, 165, 175)),
}


def sentences(path: Path, limit: int | None = None) -> list[str]:
    lines = [s.strip() for s in path.read_text().splitlines() if s.strip() and not s.startswith("#")]
    return lines[:limit]


def build_clip(name: str, texts: list[str], voices: tuple[str, ...], speeds: tuple[int, ...]) -> Path:
    path = OUT / f"{name}.wav"
    meta = path.with_suffix(".json")
    spec = {"texts": texts, "voices": list(voices), "speeds": list(speeds)}
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == spec:
        return path
    silence = np.zeros(RATE, np.int16)
    parts = [silence]
    for i, text in enumerate(texts):
        parts += [_speak_16k((text, voices[i % len(voices)], speeds[i % len(speeds)])), silence]
    write_wav(path, np.concatenate(parts), RATE)
    meta.write_text(json.dumps(spec))
    return path


def joined(finals: list[dict]) -> str:
    return " ".join(f["text"].strip() for f in finals if f["type"] == "final" and f["text"].strip())


def ours(wav: Path, glossary: Path, mode: str, *, live: bool = False) -> dict:
    cmd = [sys.executable, "-m", "edge.cli", "transcribe", str(wav), "--json", "--profile", "x86-cpu"]
    if live:
        cmd.append("--live")
    if mode != "none":
        cmd += ["--glossary", str(glossary), "--glossary-mode", mode]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"edge transcribe failed ({mode}):\n{proc.stderr[-2000:]}")
    finals = [e for e in (json.loads(line) for line in proc.stdout.splitlines() if line.strip()) if e["type"] == "final"]
    return {"text": joined(finals), "finals": finals, "wall": time.monotonic() - t0}


def live_fast(clips: list[Path], glossary: Path, modes: tuple[str, ...]) -> dict[tuple[str, str], dict]:
    """Each clip through the live caption stream once per mode, in this process, with no clock."""
    from edge.asr.models import SpeechModels
    from edge.asr.options import caption_options
    from edge.demo.clip import read_wav
    from edge.events import SAMPLE_RATE, AudioChunk
    from edge.profiles import load_profile

    models = SpeechModels.load(load_profile("x86-cpu"))
    out = {}
    for wav in clips:
        samples, rate = read_wav(wav)
        assert rate == SAMPLE_RATE, f"{wav}: {rate} Hz"
        audio = samples.astype(np.float32) / 32768.0
        step = SAMPLE_RATE // 10

        def chunks():
            for i in range(0, len(audio), step):
                yield AudioChunk("s0", i / SAMPLE_RATE, audio[i : i + step])

        for mode in modes:
            options = None if mode == "none" else caption_options(models.whisper, glossary=glossary,
                                                                   glossary_mode=mode)
            stream = models.caption_stream("s0", live=True, options=options)
            t0 = time.monotonic()
            finals = [ev.to_json() for ev in stream.run(chunks()) if ev.type == "final"]
            out[(str(wav), mode)] = {"text": joined(finals), "finals": finals, "wall": time.monotonic() - t0}
    return out


def reference(wav: Path, hotwords: str | None) -> dict:
    from faster_whisper import WhisperModel

    from edge.registry import Registry

    _, model_dir = Registry().resolve("whisper-tiny-en")
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    t0 = time.monotonic()
    segments, _ = model.transcribe(str(wav), language="en", beam_size=5, vad_filter=True, hotwords=hotwords)
    text = " ".join(s.text.strip() for s in segments)
    return {"text": text, "wall": time.monotonic() - t0}


def recall(glossary: Glossary, reference_text: str, text: str) -> tuple[int, int]:
    wanted = glossary.found(reference_text)
    got = {t.text for t in glossary.found(text)}
    return sum(t.text in got for t in wanted), len(wanted)


def latency(finals: list[dict]) -> tuple[float, float]:
    lags = sorted(f["emitted_at"] - f["end"] for f in finals)
    return float(np.median(lags)), float(np.percentile(lags, 90))


def run_set(s: NameSet, *, live: bool, realtime: bool) -> list[dict]:
    glossary = Glossary.load(s.glossary)
    named, plain = sentences(s.named), sentences(s.plain, s.plain_count)
    tag = s.label.replace("-", "")
    clips = {"names": (build_clip(f"{tag}-names", named, s.voices, s.speeds), " ".join(named)),
             "no names": (build_clip(f"{tag}-plain", plain, s.voices, s.speeds), " ".join(plain))}
    hotwords = ", ".join(t.text for t in glossary.terms)
    live_runs = live_fast([wav for wav, _ in clips.values()], s.glossary, LIVE_MODES) if live else {}
    rows = []
    for speech, (wav, ref) in clips.items():
        if realtime:
            runs = [(f"edge transcribe --live (real time), glossary {m}", ours(wav, s.glossary, m, live=True))
                    for m in LIVE_MODES]
        else:
            runs = [(f"edge transcribe, glossary {m}", ours(wav, s.glossary, m)) for m in MODES]
            runs += [(f"edge live, glossary {m}", live_runs[(str(wav), m)]) for m in LIVE_MODES if live]
            runs += [("faster-whisper", reference(wav, None)),
                     ("faster-whisper, hotwords", reference(wav, hotwords))]
        for system, r in runs:
            hit, total = recall(glossary, ref, r["text"])
            row = {"set": s.label, "speech": speech, "system": system, "wer": wer(ref, r["text"]), "terms": total,
                   "recall": hit / total if total else None, "hits": hit, "wall_s": r["wall"], "text": r["text"]}
            if realtime:
                row["latency_median_s"], row["latency_p90_s"] = latency(r["finals"])
            rows.append(row)
    return rows


def clips_for(s: NameSet) -> dict[str, tuple[Path, str]]:
    named, plain = sentences(s.named), sentences(s.plain, s.plain_count)
    tag = s.label.replace("-", "")
    return {"names": (build_clip(f"{tag}-names", named, s.voices, s.speeds), " ".join(named)),
            "no names": (build_clip(f"{tag}-plain", plain, s.voices, s.speeds), " ".join(plain))}


def cache_path(s: NameSet) -> Path:
    return OUT / f"hypotheses-{s.label.replace('-', '')}.json"


def cache_hypotheses(s: NameSet, *, live: bool) -> Path:
    """Decode each clip once WITHOUT a glossary and keep every final's text.

    The correction is text-only and runs per final, so a matcher can be tried
    on these finals (`--text-only`) without decoding again.
    """
    clips = clips_for(s)
    paths = {"offline": {}, "live": {}}
    runs = live_fast([wav for wav, _ in clips.values()], s.glossary, ("none",)) if live else {}
    for speech, (wav, ref) in clips.items():
        r = ours(wav, s.glossary, "none")
        paths["offline"][speech] = {"reference": ref, "finals": [f["text"] for f in r["finals"]]}
        if live:
            paths["live"][speech] = {"reference": ref,
                                     "finals": [f["text"] for f in runs[(str(wav), "none")]["finals"]]}
    path = cache_path(s)
    path.write_text(json.dumps(paths, indent=1, ensure_ascii=False))
    return path


def text_only(s: NameSet, correctors: dict[str, Callable[[Glossary, str], str]]) -> list[dict]:
    """Each corrector applied to every cached final (as the box applies it), scored like the decoded rows.

    `false` counts terms written in the output that the reference does not hold:
    names put where none was said.
    """
    glossary = Glossary.load(s.glossary)
    cached = json.loads(cache_path(s).read_text())
    rows = []
    for path, speeches in cached.items():
        for speech, c in speeches.items():
            ref = c["reference"]
            said = {t.text for t in glossary.found(ref)}
            for name, fix in correctors.items():
                t0 = time.perf_counter()
                text = " ".join(fix(glossary, f).strip() for f in c["finals"] if f.strip())
                ms = 1000 * (time.perf_counter() - t0) / max(1, len(c["finals"]))
                hit, total = recall(glossary, ref, text)
                wrote = glossary.found(text)
                rows.append({"set": s.label, "path": path, "speech": speech, "variant": name, "wer": wer(ref, text),
                             "hits": hit, "terms": total, "false": sum(t.text not in said for t in wrote),
                             "ms_per_final": ms, "text": text})
    return rows


def worst_case_ms(repeats: int = 30) -> float:
    """The correction's cost per final with a glossary as large as one may be (invented names)."""
    import random

    rng = random.Random(1)

    def word() -> str:
        return "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))

    glossary = Glossary.parse("".join(f"{word().title()} {word().title()}{i} | {word()} {word()} {word()}\n"
                                      for i in range(MAX_TERMS)))
    final = (" The council voted to approve the new harbour wall after a long debate on Monday night,"
             " said Shivon nee vreen of the port.")
    glossary.correct(final)  # keys the spellings once, as a stream's first final does
    t0 = time.perf_counter()
    for _ in range(repeats):
        glossary.correct(final)
    return 1000 * (time.perf_counter() - t0) / repeats


def report_text_only(rows: list[dict]) -> None:
    print("| set | path | variant | names: recall | names: WER | no names: WER | false names (names / no names) "
          "| ms per final |")
    print("|---|---|---|---|---|---|---|---|")
    by = {(r["set"], r["path"], r["variant"], r["speech"]): r for r in rows}
    for (set_, path, variant, speech), r in by.items():
        if speech != "names":
            continue
        p = by[(set_, path, variant, "no names")]
        print(f"| {set_} | {path} | {variant} | {r['hits']}/{r['terms']} | {100 * r['wer']:.1f}% | "
              f"{100 * p['wer']:.1f}% | {r['false']} / {p['false']} | {max(r['ms_per_final'], p['ms_per_final']):.2f} |")


def report(s: NameSet, rows: list[dict], realtime: bool) -> None:
    glossary = Glossary.load(s.glossary)
    named, plain = sentences(s.named), sentences(s.plain, s.plain_count)
    print(f"\nGlossary, {s.label} set{' (REPORTED)' if s.label == 'held-out' else ' (settings chosen here)'}: "
          f"{len(glossary.terms)} terms from {s.glossary.name}; names speech {len(named)} sentences, "
          f"no-name speech {len(plain)} sentences from {s.plain.name}; espeak-ng {'/'.join(s.voices)} "
          f"at {'/'.join(map(str, s.speeds))} wpm; tiny.en int8")
    if realtime:
        print("| speech | system | WER | term recall | final latency median s | p90 s |")
        print("|---|---|---|---|---|---|")
    else:
        print("| speech | system | WER | term recall | wall s |")
        print("|---|---|---|---|---|")
    for r in rows:
        rec = f"{r['hits']}/{r['terms']} ({100 * r['recall']:.0f}%)" if r["terms"] else "-"
        tail = (f"{r['latency_median_s']:.2f} | {r['latency_p90_s']:.2f}" if realtime else f"{r['wall_s']:.1f}")
        print(f"| {r['speech']} | {r['system']} | {100 * r['wer']:.1f}% | {rec} | {tail} |")
    # The no-name guard, per path: each glossary mode against the same path without one.
    by = {(r["speech"], r["system"]): r for r in rows}
    for system in sorted({r["system"] for r in rows}):
        if "glossary" not in system or system.endswith("glossary none"):
            continue
        base = by.get(("no names", system.rsplit(",", 1)[0] + ", glossary none"))
        r = by.get(("no names", system))
        if base is None or r is None:
            continue
        delta = 100 * (r["wer"] - base["wer"])
        print(f"no-name speech, {system}: WER {delta:+.1f} points ({'met' if delta <= 0.5 else 'MISSED'}: "
              "target <= +0.5)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=[*SETS, "all"], default="held-out",
                        help="held-out (reported, default), tuning (where settings were chosen) or all")
    parser.add_argument("--no-live", action="store_true", help="offline rows only")
    parser.add_argument("--realtime", action="store_true",
                        help="only `edge transcribe --live` at real-time pace, with final latency (timing)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--cache", action="store_true",
                        help="decode each clip once without a glossary (offline and live) and keep the finals")
    parser.add_argument("--text-only", action="store_true",
                        help="the correction alone on the cached finals: recall, WER, false names, ms per final")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = list(SETS.values()) if args.set == "all" else [SETS[args.set]]
    if args.cache or args.text_only:
        rows = []
        for s in chosen:
            if args.cache or not cache_path(s).is_file():
                print(f"decoding the {s.label} set once: {cache_hypotheses(s, live=not args.no_live)}")
            rows += text_only(s, {"none": lambda g, t: t, "correct": lambda g, t: g.correct(t)})
        report_text_only(rows)
        print(f"largest glossary ({MAX_TERMS} terms, each with a sounds-like spelling), one 22-word final: "
              f"{worst_case_ms():.1f} ms per final (an upper bound when the machine is busy)")
        return 0
    everything = []
    for s in chosen:
        rows = run_set(s, live=not args.no_live, realtime=args.realtime)
        everything += rows
        report(s, rows, args.realtime)
    name = "results-realtime.json" if args.realtime else "results.json"
    (OUT / name).write_text(json.dumps(everything, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "text"} for r in everything]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
