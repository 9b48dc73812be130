"""ASR benchmark: our offline and live captions against an offline faster-whisper pass.

    python -m bench.asr            # full table (about 8 minutes: live runs are real time)
    python -m bench.asr --quick    # clean + beckett only

Every system runs in its own subprocess on the same 16 kHz WAV files, so CPU
share and peak memory are its own. The reference is faster-whisper's
`transcribe` (30 s windows, beam 5, int8, 2 threads) on the same tiny.en model.
Latency per word: each word of our finals is matched to the reference pass's
word timestamps; latency = emitted_at of the final carrying it - the word's end.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.corpus import build_corpus, normalize_text, wer

OUT = Path(__file__).resolve().parent / "out"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_reference(wav: Path) -> dict:
    from faster_whisper import WhisperModel

    from edge.profiles import load_profile
    from edge.registry import Registry

    profile = load_profile("x86-cpu")
    _, model_dir = Registry().resolve(profile.asr.engine.model)
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    t0, c0 = time.monotonic(), _cpu()
    segments, _ = model.transcribe(str(wav), language="en", beam_size=5, word_timestamps=False)
    text = " ".join(s.text.strip() for s in segments)
    wall, cpu = time.monotonic() - t0, _cpu() - c0
    # Word times for the latency metric come from a separate aligned pass (not timed).
    words = []
    for s in model.transcribe(str(wav), language="en", beam_size=5, word_timestamps=True)[0]:
        words += [(w.word, w.end) for w in (s.words or [])]
    return {"text": text, "wall": wall, "cpu": cpu, "words": words}


def run_ours(wavs: list[Path], live: bool) -> list[dict]:
    from edge.asr.captions import join_text
    from edge.asr.models import SpeechModels
    from edge.runtime.streams import caption_media
    from edge.profiles import load_profile

    models = SpeechModels.load(load_profile("x86-cpu"))
    results: list[dict] = [{} for _ in wavs]

    def one(i: int, wav: Path) -> None:
        finals, partials = [], 0
        t0 = time.monotonic()
        for ev in caption_media(models, str(wav), stream=f"s{i}", live=live):
            if ev.type == "final":
                finals.append(ev.to_json())
            else:
                partials += 1
        results[i] = {"finals": finals, "partials": partials, "wall": time.monotonic() - t0}

    c0 = _cpu()
    threads = [threading.Thread(target=one, args=(i, w)) for i, w in enumerate(wavs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = _cpu() - c0
    for r in results:
        r["cpu"] = cpu / len(wavs)  # per stream
        r["text"] = ""
        for f in r["finals"]:
            r["text"] = join_text(r["text"], f["text"])
    return results


def _child(args: argparse.Namespace) -> None:
    wavs = [Path(w) for w in args.wav]
    if args.system == "reference":
        out = [run_reference(wavs[0])]
    else:
        out = run_ours(wavs, live=args.system.startswith("live"))
    for r in out:
        r["peak_mb"] = _peak_mb()
    print(json.dumps(out))


def _spawn(system: str, wavs: list[Path]) -> list[dict]:
    cmd = [sys.executable, "-m", "bench.asr", "--child", system] + sum((["--wav", str(w)] for w in wavs), [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench child {system} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def word_latencies(finals: list[dict], ref_words: list[tuple[str, float]]) -> list[float]:
    ours: list[tuple[str, float]] = []
    for f in finals:
        ours += [(w, f["emitted_at"]) for w in normalize_text(f["text"])]
    ref: list[tuple[str, float]] = []
    for word, end in ref_words:
        ref += [(w, end) for w in normalize_text(word)]
    sm = difflib.SequenceMatcher(a=[w for w, _ in ours], b=[w for w, _ in ref], autojunk=False)
    lat = []
    for block in sm.get_matching_blocks():
        for k in range(block.size):
            lat.append(ours[block.a + k][1] - ref[block.b + k][1])
    return lat


def _pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.2f}" if values else "-"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=["reference", "offline", "live", "live2"])
    ap.add_argument("--wav", action="append", default=[])
    ap.add_argument("--quick", action="store_true", help="clean speech and beckett only")
    args = ap.parse_args()
    if args.child:
        args.system = args.child
        return _child(args)

    items = build_corpus(OUT / "corpus")
    if args.quick:
        items = [i for i in items if i.name != "noisy"]
    rows = []
    for item in items:
        ref = _spawn("reference", [item.wav])[0]
        off = _spawn("offline", [item.wav])[0]
        live = _spawn("live", [item.wav])[0]
        ref_wer = wer(item.reference, ref["text"])
        rows.append((item.name, "reference faster-whisper (offline)", ref_wer, ref["wall"] / item.duration,
                     ref["cpu"] / item.duration / os.cpu_count(), [], [], ref["peak_mb"]))
        rows.append((item.name, "edge transcribe (offline)", wer(item.reference, off["text"]), off["wall"] / item.duration,
                     off["cpu"] / item.duration / os.cpu_count(), [], [], off["peak_mb"]))
        ev_lat = [f["emitted_at"] - f["end"] for f in live["finals"]]
        rows.append((item.name, "edge transcribe --live", wer(item.reference, live["text"]), live["wall"] / item.duration,
                     live["cpu"] / item.duration / os.cpu_count(), ev_lat, word_latencies(live["finals"], ref["words"]),
                     live["peak_mb"]))
        print(f"... {item.name} done", file=sys.stderr, flush=True)
    two = [i for i in items if i.name in {"clean", "noisy"}]
    if len(two) == 2:
        both = _spawn("live2", [i.wav for i in two])
        for item, r in zip(two, both):
            rows.append((item.name, "edge --live, 2 streams at once", wer(item.reference, r["text"]), r["wall"] / item.duration,
                         r["cpu"] / item.duration / os.cpu_count(), [f["emitted_at"] - f["end"] for f in r["finals"]], [],
                         r["peak_mb"]))

    header = f"| {'audio':8} | {'system':34} | {'WER %':>6} | {'RTF':>5} | {'CPU % of box':>12} | {'final lat. med/p90 s':>20} | {'word lat. med/p90 s':>19} | {'peak MB':>7} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, system, w, rtf, cpu, ev, wl, mem in rows:
        lat = f"{_pct(ev, 50)} / {_pct(ev, 90)}" if ev else "-"
        wlat = f"{_pct(wl, 50)} / {_pct(wl, 90)}" if wl else "-"
        print(f"| {name:8} | {system:34} | {100 * w:6.1f} | {rtf:5.3f} | {100 * cpu:12.1f} | {lat:>20} | {wlat:>19} | {mem:7.0f} |")
    print("\nRTF = processing wall time / audio duration (live runs are paced, so ~1.0). CPU % of box = CPU seconds per audio"
          " second / cores. Final latency = emitted_at - end of each final event; word latency = emitted_at of the final"
          " carrying a word - that word's end in the reference pass's word timestamps.")


if __name__ == "__main__":
    main()
