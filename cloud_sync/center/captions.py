"""A box's captions as the center holds them: caption segments merged per stream and run, in order.

Boxes sync committed captions while a stream runs as `caption_segment`
assets (JSON lines, one per final: {"run", "seq", "text", "start", "end",
"wall_start", "wall_end"}; the asset's meta says {"run", "first_seq",
"last_seq"}). Segments may overlap or arrive twice (a box resends after a
crash), so lines are deduplicated by (stream, run, seq). Runs sort by their
id, which sorts by creation time.

A line with `"replaces": [seqs]` is the box's polished text of those finals
(re-decoded in the background with the offline settings, sent a few seconds
after them): the newsroom's view shows it in their place, at the position of
the first final it replaces. `live=True` gives the finals as viewers saw
them instead.

Segment bodies come from the network: every line is checked, a bad line is
skipped and counted in the log, and nothing in a body can stop the listing.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from typing import Any

from cloud_sync.center.index import Index
from cloud_sync.center.storage import FileStorage
from edge import ids

log = logging.getLogger("cloud_sync.center.captions")

MAX_SEGMENT_BYTES = 4 << 20  # a segment holds at most ~30 s of text; anything bigger is not one
MAX_LINE_BYTES = 64 << 10
MAX_TEXT_CHARS = 10_000
MAX_REPLACES = 2000  # a polished window is at most ~30 s of speech: a few dozen finals


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def parse_line(raw: bytes, run: str | None) -> dict[str, Any] | None:
    """One caption final from a segment body, or None when the line is not one."""
    if len(raw) > MAX_LINE_BYTES:
        return None
    try:
        rec = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(rec, dict):
        return None
    if not ids.is_match(ids.RUN_ID, rec.get("run")) or (run is not None and rec["run"] != run):
        return None
    seq, text = rec.get("seq"), rec.get("text")
    if type(seq) is not int or seq < 0 or not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        return None
    if not (_number(rec.get("start")) and _number(rec.get("end")) and rec["end"] >= rec["start"]):
        return None
    wall = rec.get("wall_start")
    if wall is not None and not _number(wall):
        return None
    out = {"run": rec["run"], "seq": seq, "text": text, "start": float(rec["start"]), "end": float(rec["end"]),
           "wall_start": None if wall is None else float(wall)}
    if "replaces" in rec:
        replaces = rec["replaces"]
        # Only earlier finals of the same run can be replaced (a polished record is stored after them).
        if (not isinstance(replaces, list) or not 0 < len(replaces) <= MAX_REPLACES
                or any(type(r) is not int or not 0 <= r < seq for r in replaces)):
            return None
        out["replaces"] = sorted(set(replaces))
    return out


def caption_lines(index: Index, storage: FileStorage, box: str, stream: str | None = None, *,
                  live: bool = False) -> Iterator[dict[str, Any]]:
    """{"box", "stream", "run", "text", "start", "end", "wall_start"} per caption, by stream, run and seq.

    Polished text takes the place of the finals it replaces (its line also has
    "polished": true and "replaces"); with `live`, the finals as they were shown.
    """
    finals: dict[tuple[str, str, int], dict[str, Any]] = {}
    for a in index.assets():
        if a["box"] != box or a["kind"] != "caption_segment" or (stream is not None and a["stream"] != stream):
            continue
        where = f"{box}/{a['id']}"
        if not ids.is_match(ids.STREAM_NAME, a["stream"]):
            log.warning("caption segment %s has no usable stream name: skipped", where)
            continue
        run = (a.get("meta") or {}).get("run") if isinstance(a.get("meta"), dict) else None
        if run is not None and not ids.is_match(ids.RUN_ID, run):
            log.warning("caption segment %s names no usable run: skipped", where)
            continue
        if a["size"] > MAX_SEGMENT_BYTES:
            log.warning("caption segment %s is %d bytes, more than a segment can be: skipped", where, a["size"])
            continue
        try:
            body = storage.read_object(a["sha256"])
        except (OSError, ValueError) as e:
            log.warning("caption segment %s cannot be read: %s", where, e)
            continue
        bad = 0
        for raw in body.splitlines():
            if not raw.strip():
                continue
            rec = parse_line(raw, run)
            if rec is None:
                bad += 1
                continue
            finals.setdefault((a["stream"], rec["run"], rec["seq"]), rec)  # the first copy of a final wins
        if bad:
            log.warning("caption segment %s: %d lines are not caption finals and were skipped", where, bad)
    polished = {key: rec for key, rec in finals.items() if "replaces" in rec}
    for key in polished:
        del finals[key]
    if not live:
        for (s, run, _seq), rec in polished.items():
            if rec["text"].strip():  # a polished window that heard nothing leaves the live text
                for seq in rec["replaces"]:
                    finals.pop((s, run, seq), None)
                finals[(s, run, rec["replaces"][0])] = rec  # at the place of the first final it replaces
    for (s, run, _seq), rec in sorted(finals.items(), key=lambda kv: kv[0]):
        line = {"box": box, "stream": s, "run": run, "text": rec["text"], "start": rec["start"], "end": rec["end"],
                "wall_start": rec["wall_start"]}
        if "replaces" in rec:
            line.update(polished=True, replaces=rec["replaces"])
        yield line
