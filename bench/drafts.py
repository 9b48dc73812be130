"""bench.drafts: grounded drafts on three kinds of event, from text and from synthesized speech.

    python -m bench.drafts [--json] [--no-speech] [--max-new-tokens N]

Event transcripts written for this bench (a press conference, a sports result,
a weather emergency) are drafted twice: from their text, and from what the box
heard when espeak-ng spoke them (transcribed by the box's own caption
pipeline). For every draft: time, the share of the model's sentences the
verifier kept, whether the body fell back to extractive, quote fidelity (every
quoted span in the final draft found verbatim in the sources) and the numbers
and names in the final draft that are not in the sources. Those last two are
recounted here on the final text, not taken from the verifier's verdict.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

from edge.drafts.extract import Segment, names_in
from edge.drafts.numbers import numbers_in
from edge.drafts.pipeline import EventInfo, draft_from_segments
from edge.drafts.verify import Sources, _QUOTE

OUT = Path(__file__).parent / "out"

EVENTS: dict[str, tuple[EventInfo, list[str]]] = {
    "press conference": (EventInfo("City hall budget briefing", "Springfield"), [
        "Good afternoon, and thank you all for coming.",
        "The city council voted on Tuesday to approve a new budget for public transport.",
        "The plan adds forty new buses and two tram lines over the next three years.",
        "Mayor Helen Park said the budget of 120 million dollars is the largest in the city's history.",
        "We will hire three hundred drivers and mechanics before the end of next year.",
        "Fares will stay at two dollars for adults and will be free for children under twelve.",
        "Council member David Ortiz voted against the plan and called it too expensive.",
        "The first new buses are expected on the streets in March.",
    ]),
    "sports result": (EventInfo("Riverside United against Northgate City", "Riverside stadium"), [
        "Riverside United beat Northgate City three to one on Saturday night.",
        "Striker Marco Silva scored twice in the first half.",
        "Northgate pulled one back through Tom Baker after sixty minutes.",
        "Captain Anna Lee sealed the win with a header in the eighty-fifth minute.",
        "The crowd of twenty-two thousand was the biggest at the stadium this season.",
        "Coach Peter Brown said we played with real courage tonight and the fans carried us.",
        "The result moves Riverside up to second place in the league, four points behind the leaders.",
    ]),
    "weather emergency": (EventInfo("County storm briefing", "Lake County"), [
        "This is an update from the county emergency centre.",
        "The storm brought winds of up to one hundred and ten kilometres per hour overnight.",
        "About eight thousand homes in Lake County are without power this morning.",
        "Fire chief Maria Gomez said crews rescued fourteen people from flooded cars.",
        "Two shelters are open at the high school and at the community hall.",
        "The river is expected to peak at 5.2 metres on Thursday afternoon.",
        "We urge everyone to stay off the roads until the warning is lifted.",
        "No deaths have been reported so far.",
    ]),
}


def text_segments(kind: str, sentences: list[str]) -> list[Segment]:
    return [Segment(i + 1, f"text-{kind}", "bench", i * 5.0, i * 5.0 + 5, 1e9 + i * 5, 1e9 + i * 5 + 5, s)
            for i, s in enumerate(sentences)]


def speech_segments(kind: str, sentences: list[str], models, workdir: Path) -> list[Segment]:
    """What the box heard: espeak-ng speaks the event, the box's caption pipeline transcribes it."""
    from edge.runtime.streams import caption_media

    wav = workdir / (re.sub(r"\W+", "-", kind) + ".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "155", "-g", "8", "-w", str(wav), " ".join(sentences)],
                   check=True, capture_output=True)
    segs = []
    for ev in caption_media(models, str(wav), stream="bench", live=False):
        if ev.type == "final":
            segs.append(Segment(len(segs) + 1, f"speech-{kind}", "bench", ev.start, ev.end, 1e9 + ev.start,
                                1e9 + ev.end, ev.text))
    return segs


def audit(draft, segs: list[Segment], event: EventInfo) -> dict:
    """Recount on the final draft: quotes verbatim, numbers and names not in the sources."""
    ev = event.segment()
    src = Sources(segs + ([ev] if ev else []))
    final = [draft.headline, *draft.body, *draft.quotes, *draft.facts]
    quotes = [q for c in final for q in _QUOTE.findall(c.text)]
    verbatim = sum(1 for q in quotes if src.contains(q))
    bad_numbers = [n.text for c in final for n in numbers_in(c.text) if n.value not in src.values]
    bad_names = [n for c in final for n in names_in(c.text)
                 if (n[1:].lower() not in src.words if n.startswith("^") else not src.contains(n))]
    return {"quotes": len(quotes), "quotes_verbatim": verbatim, "numbers_not_in_sources": bad_numbers,
            "names_not_in_sources": bad_names}


def caption_latency_row(speech_models, model, info, max_prompt_chars: int) -> dict:
    """Live captions alone, then while the real model drafts back to back through the same scheduler."""
    import threading

    import numpy as np

    from bench.corpus import build_corpus
    from bench.scheduler import OUT as SCHED_OUT, caption_live
    from edge.demo.clip import read_wav
    from edge.runtime.scheduler import Priority, Scheduler

    item = next(i for i in build_corpus(SCHED_OUT / "scheduler-corpus", limit=5) if i.name == "clean")
    pcm, rate = read_wav(item.wav)
    samples = pcm.astype(np.float32) / 32768.0
    event, sentences = EVENTS["weather emergency"]
    out = {}
    for label in ("alone", "while drafting"):
        scheduler = speech_models.whisper.scheduler = Scheduler()
        stop, drafts = threading.Event(), [0]

        def drafting() -> None:
            while not stop.is_set():
                draft_from_segments(text_segments("weather emergency", sentences), event=event, model=model,
                                    model_info=info, max_new_tokens=96, scheduler=scheduler,
                                    max_prompt_chars=max_prompt_chars,
                                    cancel=stop.is_set)
                drafts[0] += 1

        thread = threading.Thread(target=drafting, daemon=True) if label != "alone" else None
        if thread:
            thread.start()
            time.sleep(1.0)
        try:
            finals = [e for e in caption_live(speech_models, samples, "bench") if e.type == "final"]
        finally:
            stop.set()
            if thread:
                thread.join(120)
        lat = [e.emitted_at - e.end for e in finals]
        gen = scheduler.stats().classes[Priority.GENERATION]
        out[label] = {"finals": len(finals), "latency_median_s": round(float(np.median(lat)), 3) if lat else None,
                      "latency_p90_s": round(float(np.percentile(lat, 90)), 3) if lat else None,
                      "drafts_written": drafts[0], "generation_yields": gen.yields,
                      "generation_busy_s": round(gen.busy_s, 1)}
    out["median_moved_s"] = round((out["while drafting"]["latency_median_s"] or 0)
                                  - (out["alone"]["latency_median_s"] or 0), 3)
    return out


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.drafts", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-speech", action="store_true", help="text transcripts only (no espeak-ng, no Whisper)")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--no-captions", action="store_true", help="skip the live-caption latency row")
    p.add_argument("--captions-only", action="store_true", help="only the live-caption latency row")
    args = p.parse_args()

    from edge.drafts.model import load_llm
    from edge.profiles import load_profile

    profile = load_profile("x86-cpu")
    t0 = time.monotonic()
    model, error, info = load_llm(profile.llm)
    load_s = time.monotonic() - t0
    if model is None:
        print(f"bench.drafts: the model is not available: {error}")
        return 1
    models = None
    if not args.no_speech:
        from edge.asr.models import SpeechModels

        models = SpeechModels.load(profile)
    if args.captions_only:
        print(json.dumps(caption_latency_row(models, model, info, profile.llm.max_prompt_chars)))
        return 0
    rows, examples = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, (event, sentences) in EVENTS.items():
            for mode in (["text"] if args.no_speech else ["text", "speech"]):
                segs = (text_segments(kind, sentences) if mode == "text"
                        else speech_segments(kind, sentences, models, Path(tmp)))
                t = time.monotonic()
                d = draft_from_segments(segs, event=event, model=model, model_info=info,
                                        max_new_tokens=args.max_new_tokens or profile.llm.max_new_tokens,
                                        max_prompt_chars=profile.llm.max_prompt_chars, deadline_s=None)
                took = time.monotonic() - t
                a = audit(d, segs, event)
                rows.append({"event": kind, "input": mode, "seconds": round(took, 2),
                             "tokens": d.model.get("tokens"), "tok_per_s": round(d.model["tokens"] / d.model["seconds"], 1)
                             if d.model.get("seconds") else None,
                             "model_sentences": d.model_sentences, "model_accepted": d.model_accepted,
                             "fallback": d.mode == "extractive", "fallback_reason": d.fallback_reason, **a})
                if mode == "text":
                    examples.append({"event": kind, "headline": d.headline.text, "body": [c.text for c in d.body],
                                     "quotes": [c.text for c in d.quotes], "facts": [c.text for c in d.facts],
                                     "model_text": d.model.get("raw", ""),
                                     "removed": [{"text": r.text, "why": list(r.reasons)} for r in d.removed]})
    written = sum(r["model_sentences"] for r in rows)
    kept = sum(r["model_accepted"] for r in rows)
    quotes = sum(r["quotes"] for r in rows)
    summary = {
        "model": info, "load_s": round(load_s, 1), "drafts": len(rows),
        "mean_seconds_per_draft": round(sum(r["seconds"] for r in rows) / len(rows), 2),
        "model_sentences_accepted_share": round(kept / written, 3) if written else None,
        "fallback_share": round(sum(r["fallback"] for r in rows) / len(rows), 3),
        "quote_fidelity": round(sum(r["quotes_verbatim"] for r in rows) / quotes, 3) if quotes else None,
        "numbers_not_in_sources": sum(len(r["numbers_not_in_sources"]) for r in rows),
        "names_not_in_sources": sum(len(r["names_not_in_sources"]) for r in rows),
    }
    captions_row = None
    if models is not None and not args.no_captions:
        captions_row = caption_latency_row(models, model, info, profile.llm.max_prompt_chars)
    result = {"summary": summary, "rows": rows, "examples": examples, "captions_while_drafting": captions_row}
    OUT.mkdir(exist_ok=True)
    (OUT / "drafts.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"drafts: {info['name']} ({info.get('quantization')}, {info['backend']}, {info['precision']}, "
              f"{info['threads']} threads), model load {load_s:.1f} s")
        print(f"{'event':20} {'input':7} {'s/draft':>8} {'tok/s':>6} {'model kept':>10} {'fallback':>8} "
              f"{'quotes ok':>9} {'bad nums':>8} {'bad names':>9}")
        for r in rows:
            print(f"{r['event']:20} {r['input']:7} {r['seconds']:8.1f} {r['tok_per_s'] or 0:6.1f} "
                  f"{r['model_accepted']:>4}/{r['model_sentences']:<5} {'yes' if r['fallback'] else 'no':>8} "
                  f"{r['quotes_verbatim']:>4}/{r['quotes']:<4} {len(r['numbers_not_in_sources']):8} "
                  f"{len(r['names_not_in_sources']):9}")
        print(json.dumps(summary))
        if captions_row:
            print("live captions (median / p90 latency, s): alone "
                  f"{captions_row['alone']['latency_median_s']} / {captions_row['alone']['latency_p90_s']}; "
                  f"while drafting {captions_row['while drafting']['latency_median_s']} / "
                  f"{captions_row['while drafting']['latency_p90_s']} "
                  f"({captions_row['while drafting']['drafts_written']} drafts, "
                  f"{captions_row['while drafting']['generation_yields']} yields to captions)")
        for ex in examples:
            print(f"\n== {ex['event']}: {ex['headline']}")
            for s in ex["body"]:
                print(f"   {s}")
            for r in ex["removed"]:
                print(f"   REMOVED: {r['text']}  ({'; '.join(r['why'])})")
    ok = summary["quote_fidelity"] in (None, 1.0) and not summary["numbers_not_in_sources"] \
        and not summary["names_not_in_sources"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
