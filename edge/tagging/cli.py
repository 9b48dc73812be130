"""`edge tag`: topics, keywords and entities of a text, as the box tags its captions."""

from __future__ import annotations

import argparse
import json
import sys

from edge.errors import ConfigError

MAX_INPUT_BYTES = 1_000_000


def register(sub: argparse._SubParsersAction, command) -> None:
    t = command("tag", _tag, "Tag a text: IPTC topics, keywords, people, organisations, places, times.")
    t.add_argument("--text", required=True, help="the text to tag ('-' reads standard input)")
    t.add_argument("--json", action="store_true", help="print JSON: {topics, keywords, entities}")


def _tag(args: argparse.Namespace) -> int:
    from edge.profiles import load_profile
    from edge.tagging.embeddings import Embedder
    from edge.tagging.tagger import Tagger

    text = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1).decode("utf-8", "replace") if args.text == "-" else args.text
    if len(text.encode()) > MAX_INPUT_BYTES:
        raise ConfigError(f"the text is over {MAX_INPUT_BYTES // 1000} kB", "tag a shorter text (the first "
                          "part of a long transcript says what it is about)")
    if not text.strip():
        raise ConfigError("the text is empty", "pass the text to tag with --text, or '-' to read standard input")
    tags = Tagger(Embedder.from_profile(load_profile(args.profile))).tag(text)
    if args.json:
        print(json.dumps(tags.to_json(), ensure_ascii=False))
        return 0
    for t in tags.topics:
        print(f"topic   {t.label} ({t.code}, {t.score:.2f})")
    for e in tags.entities:
        print(f"{e.type:13}{e.text}")
    if tags.keywords:
        print("keywords " + ", ".join(tags.keywords))
    return 0
