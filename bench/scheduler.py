"""Scheduler benchmark: does a background job running flat out slow live captions?

    python -m bench.scheduler            # table (about 2.5 minutes: four real-time runs)
    python -m bench.scheduler --json     # the same figures as one JSON object

The same clip (the first sentences of the ASR corpus, espeak-ng speech with
pauses) is captioned live, at real-time pace, through the real models: alone,
and while a CPU-burning stand-in for an LLM (element-wise numpy on every core, one step
of ~20-50 ms at a time, GENERATION priority) steps through the same scheduler
as fast as it is let. Runs alternate A B B A (`--rounds` pairs) so that load
from other processes on a shared machine falls on both rows alike; finals are
pooled per row. Latency per final = emitted_at - end (stream seconds).
Target: the median moves by at most 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.corpus import build_corpus, wer

OUT = Path(__file__).resolve().parent / "out"
TARGET_S = 0.2
ELEMENTS = 1 << 17  # per burning thread: ~1 ms of tanh, so a step overshoots its length by little


def _burn_steps(stop: threading.Event, step_s: float, threads: int, took: list[float]) -> Iterator[None]:
    """Each step keeps `threads` cores busy for `step_s`, then a step boundary: one "token" of an LLM.

    Element-wise numpy (single-threaded, releases the GIL) on one thread per
    core rather than a multi-threaded BLAS product: OpenBLAS's spinning workers
    measured 14x slower on an oversubscribed 2-core machine, which would
    measure OpenBLAS, not the scheduler.
    """
    arrays = [np.random.default_rng(i).standard_normal(ELEMENTS, dtype=np.float32) for i in range(threads)]

    def work(x: np.ndarray, deadline: float) -> None:
        while time.perf_counter() < deadline:
            np.tanh(x, out=x)
            x *= 2.0  # keeps tanh away from its saturated (cheap) range

    with ThreadPoolExecutor(threads, thread_name_prefix="burn") as pool:
        while not stop.is_set():
            t0 = time.perf_counter()
            # Timed rather than counted: the step holds the cores as long as asked
            # whatever else loads the machine.
            list(pool.map(work, arrays, [t0 + step_s] * threads))
            took.append(time.perf_counter() - t0)
            yield


def caption_live(models, samples: np.ndarray, stream: str) -> list:
    from edge.asr.streaming import StreamClock, pace_realtime
    from edge.events import SAMPLE_RATE, AudioChunk

    clock = StreamClock()
    # 0.1 s chunks, as an ingest pipeline delivers them; pace_realtime slices them further.
    step = SAMPLE_RATE // 10
    chunks = (AudioChunk(stream, i / SAMPLE_RATE, samples[i : i + step]) for i in range(0, len(samples), step))
    captions = models.caption_stream(stream, live=True, clock=clock.now)
    return list(captions.run(pace_realtime(chunks, clock)))


def run_once(models, samples: np.ndarray, reference: str, *, step_s: float | None, threads: int = 2) -> dict:
    """One live run; with `step_s`, beside a background job stepping that long each time."""
    from edge.asr.captions import join_text
    from edge.runtime.scheduler import Priority, Scheduler

    # A fresh scheduler per run, so its counters (and maximum waits) are this run's alone.
    scheduler = models.whisper.scheduler = Scheduler()
    stop = threading.Event()
    took: list[float] = []
    thread = None
    if step_s is not None:

        def background() -> None:
            for _ in scheduler.steps(Priority.GENERATION, _burn_steps(stop, step_s, threads, took)):
                pass

        thread = threading.Thread(target=background, name="generation-stand-in", daemon=True)
        thread.start()
        time.sleep(0.5)  # the job is running flat out before the first word
    t0 = time.monotonic()
    try:
        events = caption_live(models, samples, stream="bench")
    finally:
        stop.set()
        if thread is not None:
            thread.join(30)
    wall = time.monotonic() - t0
    stats = scheduler.stats().classes

    finals = [e for e in events if e.type == "final"]
    latencies = [round(e.emitted_at - e.end, 4) for e in finals]
    text = ""
    for f in finals:
        text = join_text(text, f.text)

    captions = [stats[Priority.CAPTION_FINAL], stats[Priority.CAPTION_PARTIAL]]
    caption_grants = sum(c.granted for c in captions)
    caption_wait = sum(c.wait_s for c in captions)
    caption_busy = sum(c.busy_s for c in captions)
    generation = stats[Priority.GENERATION]
    return {
        "latencies": latencies,
        "caption_wait_s": caption_wait,
        "caption_busy_s": caption_busy,
        "step_s": took,
        "audio_s": round(len(samples) / 16_000, 2),
        "wall_s": round(wall, 2),
        "finals": len(finals),
        "partials": len(events) - len(finals),
        "wer": round(wer(reference, text), 4),
        "latency_median_s": round(float(np.median(latencies)), 3) if latencies else None,
        "latency_p90_s": round(float(np.percentile(latencies, 90)), 3) if latencies else None,
        "caption_model_calls": caption_grants,
        "caption_wait_mean_ms": round(1000 * caption_wait / caption_grants, 2) if caption_grants else 0.0,
        "caption_wait_max_ms": round(1000 * max(c.max_wait_s for c in captions), 1),
        "background_busy_share": round(generation.busy_s / wall, 3),
        # Steps that queued because caption work held the cores.
        "background_steps_held_back": generation.waited,
    }


def pool(runs: list[dict]) -> dict:
    """One row from several runs of the same condition: finals pooled, counts summed."""
    latencies = [lat for r in runs for lat in r["latencies"]]
    steps = [s for r in runs for s in r["step_s"]]
    grants = sum(r["caption_model_calls"] for r in runs)
    wall = sum(r["wall_s"] for r in runs)
    return {
        "runs": len(runs),
        "audio_s": sum(r["audio_s"] for r in runs),
        "finals": len(latencies),
        "partials": sum(r["partials"] for r in runs),
        "wer": round(float(np.mean([r["wer"] for r in runs])), 4),
        "latency_median_s": round(float(np.median(latencies)), 3) if latencies else None,
        "latency_p90_s": round(float(np.percentile(latencies, 90)), 3) if latencies else None,
        "latency_median_per_run_s": [r["latency_median_s"] for r in runs],
        "caption_model_calls": grants,
        "caption_wait_mean_ms": round(1000 * sum(r["caption_wait_s"] for r in runs) / grants, 2) if grants else 0.0,
        "caption_wait_max_ms": max(r["caption_wait_max_ms"] for r in runs),
        # Time per model call with the cores granted: grows if something unscheduled competes.
        "caption_call_mean_ms": round(1000 * sum(r["caption_busy_s"] for r in runs) / grants, 1) if grants else 0.0,
        "background_steps": len(steps),
        "background_step_median_ms": round(1000 * float(np.median(steps)), 1) if steps else None,
        "background_busy_share": round(sum(r["background_busy_share"] * r["wall_s"] for r in runs) / wall, 3),
        "background_steps_held_back": sum(r["background_steps_held_back"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=5, help="corpus sentences in the clip (default 5, ~30 s)")
    ap.add_argument("--rounds", type=int, default=2, help="alone/background pairs, run A B B A ... (default 2)")
    ap.add_argument("--step-ms", type=float, default=35.0, help="background step length (default 35 ms)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="cores the background job burns in each step (default: all)")
    ap.add_argument("--profile", default="x86-cpu")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)

    from edge.asr.models import SpeechModels
    from edge.demo.clip import read_wav
    from edge.profiles import load_profile
    # Its own corpus directory: a shortened corpus must not replace bench.asr's cached full one.
    item = next(i for i in build_corpus(OUT / "scheduler-corpus", limit=args.sentences) if i.name == "clean")
    pcm, rate = read_wav(item.wav)
    assert rate == 16_000, rate
    samples = pcm.astype(np.float32) / 32768.0
    models = SpeechModels.load(load_profile(args.profile))
    models.whisper.decode(samples[: 3 * rate], models.profile.asr.streaming.final)  # warm-up, not measured

    runs: dict[bool, list[dict]] = {False: [], True: []}
    for i in range(args.rounds):
        for background in ((False, True) if i % 2 == 0 else (True, False)):
            runs[background].append(run_once(models, samples, item.reference,
                                                step_s=args.step_ms / 1000 if background else None,
                                                threads=args.threads))
            print(f"... {'with background' if background else 'alone'} done", file=sys.stderr, flush=True)
    alone, busy = pool(runs[False]), pool(runs[True])
    moved = (busy["latency_median_s"] or 0.0) - (alone["latency_median_s"] or 0.0)
    result = {
        "clip": {"name": f"clean, first {args.sentences} sentences", "seconds": round(len(samples) / rate, 2)},
        "rounds": args.rounds,
        "profile": args.profile,
        "cpus": os.cpu_count(),
        "alone": alone,
        "with_background": busy,
        "median_moved_s": round(moved, 3),
        "p90_moved_s": round((busy["latency_p90_s"] or 0.0) - (alone["latency_p90_s"] or 0.0), 3),
        "target_s": TARGET_S,
        "ok": moved <= TARGET_S,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0 if result["ok"] else 1


def print_table(r: dict) -> None:
    print(f"\nlive caption latency beside a background job ({r['clip']['name']}, {r['clip']['seconds']} s, "
          f"{r['rounds']} runs per row, profile {r['profile']}, {r['cpus']} CPUs)\n")
    header = ("| run | finals | WER % | final lat. median s | p90 s | caption wait mean / max ms "
              "| caption call ms | background steps (median ms) | background share of wall |")
    print(header)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in (("alone", r["alone"]), ("with GENERATION job flat out", r["with_background"])):
        steps = f"{row['background_steps']} ({row['background_step_median_ms']})" if row["background_steps"] else "-"
        share = f"{100 * row['background_busy_share']:.0f}%" if row["background_steps"] else "-"
        print(f"| {name} | {row['finals']} | {100 * row['wer']:.1f} | {row['latency_median_s']:.2f} | "
              f"{row['latency_p90_s']:.2f} | {row['caption_wait_mean_ms']:.1f} / {row['caption_wait_max_ms']:.0f} "
              f"| {row['caption_call_mean_ms']:.0f} | {steps} | {share} |")
    verdict = "ok" if r["ok"] else "OVER TARGET"
    print(f"| delta | | | {r['median_moved_s']:+.2f} | {r['p90_moved_s']:+.2f} | | | | |")
    print(f"\nmedian moved {r['median_moved_s']:+.2f} s (target <= {r['target_s']:.1f} s): {verdict}")
    print("caption wait = time a Whisper call queued for the cores; caption call = time it held them "
          "(grows only if something unscheduled competes). Per-run medians: alone "
          f"{r['alone']['latency_median_per_run_s']}, with background {r['with_background']['latency_median_per_run_s']}.")


if __name__ == "__main__":
    sys.exit(main())
