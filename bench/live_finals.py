"""How live finals read: the share of single-word finals and of lone punctuation, before and after
the punctuation join (edge.asr.captions.PunctuationJoin), and how many cues the one cue rule makes.

    python -m bench.live_finals [MEDIA]     # default: the demo clip, built under var/demo

The live commit policy runs without a wall clock (every partial decoded, as
on an idle box), so the figures do not depend on how loaded the machine is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.asr.captions import PunctuationJoin
from edge.asr.cues import build_cues
from edge.asr.models import SpeechModels
from edge.events import AudioChunk, CaptionEvent
from edge.ingest.gstreamer import open_media
from edge.profiles import load_profile


def shares(finals: list[CaptionEvent]) -> str:
    single = sum(len(f.text.split()) == 1 for f in finals)
    lone = sum(bool(f.text.strip()) and not any(c.isalnum() for c in f.text) for f in finals)
    return (f"{len(finals)} finals, {single} single-word ({100 * single / max(1, len(finals)):.0f}%), "
            f"{lone} lone punctuation")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("media", nargs="?", help="audio/video file (default: the demo clip)")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    if args.media is None:
        from edge.demo.clip import demo_clip_path

        args.media = str(demo_clip_path(Path("var/demo")))
    models = SpeechModels.load(load_profile(args.profile))
    stream = models.caption_stream("main", live=True)
    audio = (item for item in open_media(args.media) if isinstance(item, AudioChunk))
    raw = [ev for ev in stream.run(audio) if ev.type == "final"]
    join = PunctuationJoin()
    joined = [out for ev in raw for out in join.feed(ev)]
    print(f"media: {args.media}")
    print(f"before (raw live finals): {shares(raw)}")
    print(f"after (punctuation join): {shares(joined)}")
    cues = build_cues(joined)
    one = sum(len(c.text.split()) == 1 for c in cues)
    short = sum(len(c.text.split()) < 3 for c in cues)
    brief = sum(c.end - c.start < 1.0 for c in cues)
    print(f"cues from the live finals: {len(cues)}, {one} one-word, {short} under 3 words, {brief} under 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
