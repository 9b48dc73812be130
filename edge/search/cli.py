"""`edge search`: the dashboard's search, from the command line (read-only; works beside a running box)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edge.errors import ConfigError


def register(sub: argparse._SubParsersAction, command) -> None:
    s = command("search", _search, "Search what a box heard, saw and was told (captions, on-screen text, "
                "tags, notes, drafts).")
    s.add_argument("query", help="words or a phrase")
    s.add_argument("--data", type=Path, required=True, help="the box's data directory")
    s.add_argument("--limit", type=int, default=10)
    s.add_argument("--stream", help="only this stream")
    s.add_argument("--text-only", action="store_true", help="full-text only (no embedding model needed)")
    s.add_argument("--json", action="store_true", help="print {\"results\": [...]}")


def _search(args: argparse.Namespace) -> int:
    from cloud_sync.boxfiles import BoxFiles
    from edge.search.hybrid import HybridSearch, QueryError, check_query
    from edge.store.db import DB_NAME, ReadOnlyDatabase

    try:
        check_query(args.query)
    except QueryError as exc:
        raise ConfigError(str(exc), "run: edge search 'flood wall' --data DIR") from None
    db = ReadOnlyDatabase(BoxFiles(args.data).store / DB_NAME)
    try:
        embedder = None if args.text_only else _embedder(args.profile)
        hits = HybridSearch(db, embedder).search(args.query, args.limit, stream=args.stream)
    finally:
        db.close()
    if args.json:
        print(json.dumps({"results": [h.to_json() for h in hits]}, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for h in hits:
        where = f"{h.stream} {_clock(h.wall_start)} (+{h.start:.1f} s)" if h.start is not None and h.stream else (h.kind or "")
        print(f"{h.type:8} {where:32} {h.text[:100]}")
    return 0


def _embedder(profile: str | None):
    from edge.profiles import load_profile
    from edge.tagging.embeddings import Embedder

    return Embedder.from_profile(load_profile(profile))


def _clock(wall: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(wall)) if wall else ""
