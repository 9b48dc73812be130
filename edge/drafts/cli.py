"""`edge draft`: a grounded first draft from a transcript file or from a box's store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.errors import ConfigError

MAX_TRANSCRIPT_BYTES = 64 * 1024 * 1024  # a two-hour transcript is ~1-2 MB of JSON lines


def register(sub: argparse._SubParsersAction, command) -> None:
    d = command("draft", _draft, "Write a first draft (headline, body, quotes) from a transcript or the store; "
                "every sentence is checked against what was said.")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--transcript", type=Path, help="JSON lines of 'edge transcribe --json' (finals are used)")
    src.add_argument("--data", type=Path, help="a box's data directory: draft from its stored captions")
    d.add_argument("--stream", help="with --data: the stream to draft")
    d.add_argument("--since", type=float, metavar="MINUTES", help="with --data: only the last MINUTES of captions")
    d.add_argument("--event-name", help="the event's name (a source the draft may cite)")
    d.add_argument("--event-place", help="where the event is (a source the draft may cite)")
    d.add_argument("--box-id", default="edge-box", help="box id in the document (default: edge-box)")
    d.add_argument("--no-model", action="store_true", help="extractive draft only (the speakers' own words)")
    d.add_argument("--json", action="store_true", help="print the ninjs 2.2 document")


def read_transcript(path: Path) -> list:
    """Finals of `edge transcribe --json` as draft segments; a bad line is named with its number."""
    from edge.drafts.extract import Segment

    if not path.is_file():
        raise ConfigError(f"transcript {path} not found", "pass the file 'edge transcribe FILE --json > FILE' wrote")
    if path.stat().st_size > MAX_TRANSCRIPT_BYTES:
        raise ConfigError(f"transcript {path} is over {MAX_TRANSCRIPT_BYTES >> 20} MB",
                          "draft a part of it (split the file), or draft from the store with --since")
    segments = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
                if not isinstance(ev, dict):
                    raise ValueError("not an object")
                if ev.get("type", "final") != "final":
                    continue
                text = str(ev.get("text", ""))
                start, end = float(ev.get("start", 0.0)), float(ev.get("end", ev.get("start", 0.0)))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{path} line {n} is not a caption event of 'edge transcribe --json' ({exc})",
                                  "make the file with: edge transcribe MEDIA --json > FILE") from None
            stream = str(ev.get("stream") or "main")[:64]
            # A file has no wall clock: stream seconds stand in for it.
            segments.append(Segment(n, "transcript", stream, start, end, start, end, text))
    return segments


def _draft(args: argparse.Namespace) -> int:
    from edge.drafts.model import load_llm
    from edge.drafts.pipeline import EventInfo, draft_from_segments
    from edge.drafts.store import document_for, unsaved
    from edge.profiles import load_profile

    marked: frozenset[int] = frozenset()
    if args.transcript is not None:
        if args.stream or args.since is not None:
            raise ConfigError("--stream and --since go with --data", "drop them, or draft from the store with --data")
        segments = read_transcript(args.transcript)
        stream = segments[0].stream if segments else None
    else:
        if not args.stream:
            raise ConfigError("--data needs --stream NAME", "name the stream to draft (edge run shows them)")
        segments, marked, _last = _from_store(args.data, args.stream, args.since)
        stream = args.stream
    profile = load_profile(args.profile)
    model, error, info = (None, "--no-model given", None) if args.no_model else load_llm(profile.llm)
    if error and not args.no_model:
        print(f"edge: warning: {error}; the draft uses the speakers' own words only", file=sys.stderr)
    draft = draft_from_segments(segments, event=EventInfo(args.event_name, args.event_place), model=model,
                                model_error=error, marked_seqs=marked, max_new_tokens=profile.llm.max_new_tokens,
                                max_prompt_chars=profile.llm.max_prompt_chars, model_info=info)
    row = unsaved(draft, stream=stream)
    if args.json:
        print(json.dumps(document_for(row, args.box_id), ensure_ascii=False, indent=1))
        return 0
    print(draft.headline.text)
    print()
    for c in draft.body:
        print(c.text)
    if draft.quotes:
        print("\nQuotes:")
        for q in draft.quotes:
            print(f"  {q.text}  [{q.support.start:.1f}-{q.support.end:.1f} s]" if q.support else f"  {q.text}")
    if draft.facts:
        print("\nKey facts: " + "; ".join(f.text for f in draft.facts))
    print(f"\n({draft.mode} draft" + (f": {draft.fallback_reason}" if draft.fallback_reason else "") + ")")
    if draft.removed:
        print(f"\nRemoved by the verifier ({len(draft.removed)}):")
        for r in draft.removed:
            print(f"  - {r.text}\n      why: {'; '.join(r.reasons)}")
    return 0


def _from_store(data: Path, stream: str, since: float | None):
    from edge.drafts.postprocess import segments_for
    from edge.store import StoreError
    from edge.store.db import DB_NAME, ReadOnlyDatabase
    from edge.store.records import RecordStore

    path = Path(data) / "store" / DB_NAME
    if not path.is_file():
        raise StoreError(f"no box store in {data}", "point --data at a box's data directory (edge init makes one)")
    db = ReadOnlyDatabase(path)  # a running box holds the writer lock; reading is safe beside it

    class _View:
        pass

    view = _View()
    view.db = db
    view.records = RecordStore(db, check_space=lambda _n: None)
    if stream not in view.records.streams():
        known = ", ".join(view.records.streams()) or "none yet"
        raise ConfigError(f"no stream '{stream}' in {data} (streams: {known})", "pick one of those with --stream")
    return segments_for(view, stream, since_minutes=since)
