"""ASR benchmark on the TEST set: our offline and live captions against faster-whisper.

    python -m bench.asr                 # offline table + live policy curve, 3 points (about 22 minutes)
    python -m bench.asr --set tune      # the same on the tuning set (settings are chosen there)
    python -m bench.asr --quick         # offline table and the profile's live policy only

Every system runs in its own subprocess on the same 16 kHz WAV files, so CPU
share and peak memory are its own. The reference is faster-whisper's
`transcribe` (beam 5, int8, 2 threads, VAD filter) on the same packaged
tiny.en. Latency per word: each word of our finals is matched to the
reference pass's word timestamps; latency = emitted_at of the final carrying
it - the word's end. The live curve replays the same audio at real-time pace
under several live policies: min_commit_audio_s, commit_margin_s, then any
streaming setting as field=value (e.g. final_context_s=20, the seconds of
earlier utterances a final is decoded after). `--fast` runs them unpaced to
choose a policy by WER on a busy machine (same finals as a run that keeps up).

    python -m bench.asr --set tune --live-only --fast --curve "2.5,0.5,final_context_s=20"
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

from bench.corpus import SETS, build_set, normalize_text, word_errors

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
    segments, _ = model.transcribe(str(wav), language="en", beam_size=5, vad_filter=True, word_timestamps=False)
    text = " ".join(s.text.strip() for s in segments)
    wall, cpu = time.monotonic() - t0, _cpu() - c0
    # Word times for the latency metric come from a separate aligned pass (not timed).
    words = []
    for s in model.transcribe(str(wav), language="en", beam_size=5, vad_filter=True, word_timestamps=True)[0]:
        words += [(w.word, w.end) for w in (s.words or [])]
    return {"text": text, "wall": wall, "cpu": cpu, "words": words}


def apply_policy(profile, policy: str | None):
    """The profile with a live policy applied: "MIN_AUDIO,MARGIN" then any "field=value" of its streaming settings.

    e.g. "2.5,0.5,final_context_s=20", "10,0.5,partial.beam_size=1" or "10,0.5,early_final_s=none"
    (edge/profiles.py StreamingSettings; a dotted key reaches the partial or final DecodeSettings; "none"
    unsets an optional one); checked by the settings model.
    """
    if not policy:
        return profile
    settings = profile.asr.streaming.model_dump()
    for i, part in enumerate(p.strip() for p in policy.split(",")):
        if "=" in part:
            key, value = part.split("=", 1)
            *path, leaf = key.strip().split(".")
            target = settings
            for name in path:
                target = target[name]
            target[leaf] = None if value.strip() == "none" else float(value)
        else:
            settings[("min_commit_audio_s", "commit_margin_s")[i]] = float(part)
    streaming = profile.asr.streaming.model_validate(settings)
    return profile.model_copy(update={"asr": profile.asr.model_copy(update={"streaming": streaming})})


def run_ours(wavs: list[Path], live: bool, policy: str | None = None) -> list[dict]:
    from edge.asr.captions import join_text
    from edge.asr.models import SpeechModels
    from edge.runtime.streams import caption_media
    from edge.profiles import load_profile

    models = SpeechModels.load(apply_policy(load_profile("x86-cpu"), policy))
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


def run_live_fast(wav: Path, policy: str | None = None) -> dict:
    """The live policy without real-time pacing: every decision a live run makes when it keeps up.

    Audio goes straight into the live caption stream in 0.1 s chunks with no
    clock, so no partial is ever skipped for being behind (a real-time run on
    a quiet box skips none either) and the events are the same; emitted_at is
    the stream position when the event came out, so latencies here are the
    policy's own (how much audio it waits for), not compute time.
    """
    from edge.asr.captions import join_text
    from edge.asr.models import SpeechModels
    from edge.demo.clip import read_wav
    from edge.events import SAMPLE_RATE, AudioChunk
    from edge.profiles import load_profile

    models = SpeechModels.load(apply_policy(load_profile("x86-cpu"), policy))
    samples, rate = read_wav(wav)
    assert rate == SAMPLE_RATE, f"{wav}: {rate} Hz"
    audio = samples.astype(np.float32) / 32768.0
    stream = models.caption_stream("s0", live=True)
    step = SAMPLE_RATE // 10
    finals, partials = [], 0
    t0, c0 = time.monotonic(), _cpu()

    def chunks():
        for i in range(0, len(audio), step):
            yield AudioChunk("s0", i / SAMPLE_RATE, audio[i : i + step])

    for ev in stream.run(chunks()):
        if ev.type == "final":
            finals.append(ev.to_json())
        else:
            partials += 1
    text = ""
    for f in finals:
        text = join_text(text, f["text"])
    return {"finals": finals, "partials": partials, "wall": time.monotonic() - t0, "cpu": _cpu() - c0, "text": text}


def _child(args: argparse.Namespace) -> None:
    wavs = [Path(w) for w in args.wav]
    if args.system == "reference":
        out = [run_reference(wavs[0])]
    elif args.system == "live-fast":
        out = [run_live_fast(wavs[0], args.policy)]
    else:
        out = run_ours(wavs, live=args.system.startswith("live"), policy=args.policy)
    for r in out:
        r["peak_mb"] = _peak_mb()
    print(json.dumps(out))


def _spawn(system: str, wavs: list[Path], policy: str | None = None) -> list[dict]:
    cmd = [sys.executable, "-m", "bench.asr", "--child", system] + sum((["--wav", str(w)] for w in wavs), [])
    if policy:
        cmd += ["--policy", policy]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench child {system} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _reference(wav: Path) -> dict:
    """The reference pass of one recording, kept beside the bench output while the WAV is unchanged."""
    stat = wav.stat()
    cache = OUT / "reference" / f"{wav.parent.name}-{wav.stem}.json"
    key = [str(wav), stat.st_size, stat.st_mtime_ns]
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["result"]
    result = _spawn("reference", [wav])[0]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "result": result}))
    return result


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


# Live policies on the curve (see apply_policy). Earlier commits show words
# sooner but lock in what a longer look would fix; audio context (seconds of
# earlier utterances before a final's own) costs encoder time on each final.
# Two points beside the profile (each a real-time pass over the test set, ~6 min): without audio context
# (what the context costs and buys) and with commits from 2.5 s of an utterance (sooner words, less accuracy).
CURVE = ("10.0,0.5,final_context_s=0", "2.5,0.5")


def _pooled(items, texts: list[str]) -> float:
    errors = words = 0
    for item, text in zip(items, texts):
        e, n = word_errors(item.reference, text)
        errors, words = errors + e, words + n
    return errors / max(words, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=["reference", "offline", "live", "live2", "live-fast"])
    ap.add_argument("--wav", action="append", default=[])
    ap.add_argument("--policy", help="a live policy for a live child (see apply_policy)")
    ap.add_argument("--set", choices=sorted(SETS), default="test", help="evaluation set (default: test)")
    ap.add_argument("--quick", action="store_true", help="only the profile's own live policy")
    ap.add_argument("--curve", help="live policies to run instead of the default curve, e.g. '2.5,0.5;5,1'")
    ap.add_argument("--live-only", action="store_true", help="skip the offline table (reference still runs)")
    ap.add_argument("--fast", action="store_true",
                    help="live policies without real-time pacing (same events as a live run that keeps up; "
                         "latencies are the policy's own, not compute time): for choosing policies by WER")
    args = ap.parse_args()
    if args.child:
        args.system = args.child
        return _child(args)

    from edge.profiles import load_profile

    streaming = load_profile("x86-cpu").asr.streaming
    default = f"{streaming.min_commit_audio_s:g},{streaming.commit_margin_s:g}"
    curve = args.curve.split(";") if args.curve else CURVE
    policies = [default] if args.quick else list(dict.fromkeys([default, *curve]))
    items = build_set(SETS[args.set])
    total = sum(i.duration for i in items)
    print(f"bench.asr on the {args.set} set: {len(items)} recordings, {total:.0f} s "
          f"({', '.join(i.name for i in items)})", file=sys.stderr, flush=True)

    # A fast run only needs the reference's text and word times: they are kept between runs.
    refs = [_reference(i.wav) if args.fast else _spawn("reference", [i.wav])[0] for i in items]
    offs = refs if args.live_only else [_spawn("offline", [i.wav])[0] for i in items]
    print("| audio    | system                              |  WER % | time s | RTF   | CPU % of box | peak MB |")
    print("|----------|-------------------------------------|--------|--------|-------|--------------|---------|")
    for name, runs in (("reference faster-whisper (offline)", refs), ("edge transcribe (offline)", offs)):
        for item, r in zip(items, runs):
            print(f"| {item.name:8} | {name:35} | {100 * _pooled([item], [r['text']]):6.1f} | {r['wall']:6.1f} | "
                  f"{r['wall'] / item.duration:.3f} | {100 * r['cpu'] / item.duration / os.cpu_count():12.1f} | "
                  f"{r['peak_mb']:7.0f} |")
        wall = sum(r["wall"] for r in runs)
        cpu = sum(r["cpu"] for r in runs)
        print(f"| {'all':8} | {name:35} | {100 * _pooled(items, [r['text'] for r in runs]):6.1f} | {wall:6.1f} | "
              f"{wall / total:.3f} | {100 * cpu / total / os.cpu_count():12.1f} | {max(r['peak_mb'] for r in runs):7.0f} |")
    ref_wer = _pooled(items, [r["text"] for r in refs])
    ratio = sum(r["wall"] for r in offs) / max(sum(r["wall"] for r in refs), 1e-9)
    cpu_ratio = sum(r["cpu"] for r in offs) / max(sum(r["cpu"] for r in refs), 1e-9)
    print(f"\nOffline: ours/reference wall time {ratio:.2f}x, CPU time {cpu_ratio:.2f}x (target <= 1.3x); "
          f"WER {100 * _pooled(items, [r['text'] for r in offs]):.1f}% vs {100 * ref_wer:.1f}%.\n")

    print(f"| {'live policy (min audio s, margin s, settings)':50} |  WER % | vs ref | final lat. med/p90 s |"
          " word lat. med/p90 s | CPU % of box | peak MB |")
    print(f"|{'-' * 52}|--------|--------|----------------------|---------------------|--------------|---------|")
    for policy in policies:
        lives = [_spawn("live-fast" if args.fast else "live", [i.wav], policy)[0] for i in items]
        ev_lat = [f["emitted_at"] - f["end"] for r in lives for f in r["finals"]]
        wl = [x for r, ref in zip(lives, refs) for x in word_latencies(r["finals"], ref["words"])]
        w = _pooled(items, [r["text"] for r in lives])
        cpu = sum(r["cpu"] for r in lives) / total / os.cpu_count()
        context = ",".join(f"{k}={getattr(streaming, k):g}"
                           for k in ("final_context_s", "partial_context_s", "early_final_s") if getattr(streaming, k))
        label = f"{policy}{f' (profile {context})' if context else ' (profile)'}" if policy == default else policy
        print(f"{policy}: " + ", ".join(f"{i.name} {100 * _pooled([i], [r['text']]):.1f}%" for i, r in zip(items, lives)),
              file=sys.stderr, flush=True)
        print(f"| {label:50} | {100 * w:6.1f} | {100 * (w - ref_wer):+6.1f} | {_pct(ev_lat, 50):>9} / {_pct(ev_lat, 90):>8} |"
              f" {_pct(wl, 50):>8} / {_pct(wl, 90):>8} | {100 * cpu:12.1f} | {max(r['peak_mb'] for r in lives):7.0f} |",
              flush=True)
    print("\nRTF = processing wall time / audio duration. CPU % of box = CPU seconds per audio second / cores."
          " Final latency = emitted_at - end of each final event; word latency = emitted_at of the final carrying a"
          " word - that word's end in the reference pass's word timestamps. Live runs are paced at real time."
          " Targets: offline WER <= reference at <= 1.3x its time; live WER <= reference + 2 points, final latency"
          " median <= 1.0 s, p90 <= 2.0 s, CPU <= 50% of the box.")


if __name__ == "__main__":
    main()
