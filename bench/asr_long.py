"""Hours, not minutes: live caption latency and memory over a long run.

    python -m bench.asr_long               # 3 h of stream time (about 5-10 minutes on 2 cores)
    python -m bench.asr_long --hours 0.5 --every-min 5

The same speech (the first sentences of the test set's clean recording) is
heard again every `--every-min` minutes of stream time, with silence between,
so each copy's captions can be compared with the first: if context, queues or
state grew with stream time, later copies would be slower, less accurate or
use more memory.

Compressed time, stated: the source is not paced. Instead a real-time source
with an unbounded queue is simulated from measured processing times: chunk i
arrives at its stream time, its processing starts at max(arrival, end of the
previous chunk's processing) and takes as long as it really took, and an event
is stamped with that simulated clock. So backlog (a queue growing behind the
source) shows up exactly as it would live, while the silence between copies
costs only the VAD. What this does not cover: a live source's own clock
drifting from the box's (a real camera), and the GStreamer ingest.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import psutil

from bench.corpus import SETS, build_set, wer
from edge.demo.clip import read_wav
from edge.events import SAMPLE_RATE, AudioChunk

CHUNK_S = 0.25


class SimulatedSource:
    """The clock a live listener would have, for a source fed as fast as we can process it."""

    def __init__(self) -> None:
        self.busy_until = 0.0  # simulated time at which processing of the last chunk ended
        self.max_backlog = 0.0
        self._start = 0.0
        self._real = time.monotonic()

    def begin(self, arrival: float) -> None:
        self._start = max(self.busy_until, arrival)
        self.max_backlog = max(self.max_backlog, self._start - arrival)
        self._real = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._real)

    def end(self) -> None:
        self.busy_until = self.now()


def probe_audio(sentences: int) -> tuple[np.ndarray, str]:
    item = next(i for i in build_set(SETS["test"]) if i.name == "clean")
    samples, _ = read_wav(item.wav)
    segs = item.segments[:sentences]
    end = min(len(samples), int((segs[-1][1] + 0.6) * SAMPLE_RATE))
    return samples[:end].astype(np.float32) / 32768, " ".join(t for _, _, t in segs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=3.0, help="stream time to cover (default 3)")
    ap.add_argument("--every-min", type=float, default=15.0, help="minutes of stream time between copies of the speech")
    ap.add_argument("--sentences", type=int, default=10, help="test-set sentences in each copy")
    args = ap.parse_args(argv)
    if args.hours <= 0 or args.every_min <= 0:
        ap.error("--hours and --every-min must be positive")

    from edge.asr.models import SpeechModels
    from edge.profiles import load_profile

    speech, reference = probe_audio(args.sentences)
    period = max(args.every_min * 60, len(speech) / SAMPLE_RATE + 5)
    copies = max(2, int(args.hours * 3600 // period) + 1)
    models = SpeechModels.load(load_profile("x86-cpu"))
    source = SimulatedSource()
    stream = models.caption_stream("long", live=True, clock=source.now)
    proc = psutil.Process()
    step = int(CHUNK_S * SAMPLE_RATE)
    silence = np.zeros(step, np.float32)

    print(f"bench.asr_long: {copies} copies of {len(speech) / SAMPLE_RATE:.0f} s of speech, one every "
          f"{period / 60:.0f} min of stream time ({(copies - 1) * period / 3600 + len(speech) / SAMPLE_RATE / 3600:.2f} h),"
          f" live captions, profile x86-cpu", file=sys.stderr, flush=True)
    print("| copy | stream time h:mm | WER % | finals | final lat. med/p90 s | max backlog s | context tokens | RSS MB |")
    print("|-----:|-----------------:|------:|-------:|---------------------:|--------------:|---------------:|-------:|")
    position = 0.0
    rows = []
    wall0 = time.monotonic()

    def feed(samples: np.ndarray) -> list:
        nonlocal position
        chunk = AudioChunk("long", position, samples)
        position = chunk.end
        source.begin(chunk.end)
        out = list(stream.feed(chunk))
        source.end()
        return out

    for k in range(copies):
        start = k * period
        while position < start - 1e-9:
            feed(silence[: max(1, min(step, int(round((start - position) * SAMPLE_RATE))))])
        source.max_backlog = 0.0
        finals = []
        for i in range(0, len(speech), step):
            finals += [e for e in feed(speech[i : i + step]) if e.type == "final"]
        # The pause after the copy closes its last utterance.
        for _ in range(int(2.0 / CHUNK_S)):
            finals += [e for e in feed(silence) if e.type == "final"]
        lat = [e.emitted_at - e.end for e in finals]
        rss = proc.memory_info().rss / 2**20
        history = len(getattr(stream, "_history", []))
        row = (k + 1, start, 100 * wer(reference, " ".join(e.text for e in finals)), len(finals),
               float(np.percentile(lat, 50)) if lat else float("nan"),
               float(np.percentile(lat, 90)) if lat else float("nan"), source.max_backlog, history, rss)
        rows.append(row)
        if k == 0:
            print("first copy: " + " | ".join(e.text for e in finals), file=sys.stderr, flush=True)
        print(f"| {row[0]:4d} | {int(start // 3600)}:{int(start % 3600 // 60):02d} | {row[2]:5.1f} | {row[3]:6d} | "
              f"{row[4]:9.2f} / {row[5]:8.2f} | {row[6]:13.2f} | {row[7]:14d} | {row[8]:6.0f} |", flush=True)
    first, last = rows[0], rows[-1]
    half = len(rows) // 2
    early = np.median([r[4] for r in rows[:half]])
    late = np.median([r[4] for r in rows[half:]])
    print(f"\nFirst copy vs last: final latency median {first[4]:.2f} -> {last[4]:.2f} s, p90 {first[5]:.2f} -> "
          f"{last[5]:.2f} s; medians of the first and second half of the copies {early:.2f} / {late:.2f} s; "
          f"RSS {first[8]:.0f} -> {last[8]:.0f} MB; WER {first[2]:.1f}% -> {last[2]:.1f}%. "
          f"{position / 3600:.2f} h of stream time in {(time.monotonic() - wall0) / 60:.1f} min of wall time "
          f"({os.cpu_count()} CPUs).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
