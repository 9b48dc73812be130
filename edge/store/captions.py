"""Per-stream append-only caption logs: `captions/<stream>.jsonl`, one event a line.

A live stream emits a final every few seconds; a TinyDB document each would
rewrite the whole index every few seconds. Appending a line and fsyncing it
costs one small write however long the day has been.

Only the tail of an append-only file can be torn (power cut mid-write), so at
open the last line is checked and cut away if it is incomplete; a line is
acknowledged once `append` has returned, i.e. after its fsync.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from edge.events import CaptionEvent
from edge.store import StoreError
from edge.durable import fsync_dir

log = logging.getLogger(__name__)

STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CaptionTypes = tuple[str, ...]


def validate_stream(stream: str) -> str:
    if not isinstance(stream, str) or not STREAM_NAME.fullmatch(stream):
        raise StoreError(
            f"stream name {stream!r} cannot name a caption log",
            "use 1 to 64 letters, digits, '_', '.' or '-'",
        )
    return stream


def _no_space_check(nbytes: int) -> None:
    pass


class CaptionLog:
    def __init__(self, root: str | os.PathLike[str], *, check_space: Callable[[int], None] = _no_space_check) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._check_space = check_space
        self._lock = threading.Lock()
        self._records: dict[str, list[dict[str, Any]]] = {}
        self._next: dict[str, int] = {}
        self._files: dict[str, BinaryIO] = {}
        self._closed = False
        for path in sorted(self.root.glob("*.jsonl")):
            if STREAM_NAME.fullmatch(path.stem):
                self._load(path.stem)

    def append(self, events: Iterable[CaptionEvent], *, keep_partials: bool = False) -> int:
        """Write events durably; returns how many were stored (partials are skipped unless kept)."""
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for ev in events:
            if ev.type == "final" or keep_partials:
                by_stream.setdefault(validate_stream(ev.stream), []).append(ev.to_json())
        if not by_stream:
            return 0
        # Checked before taking our lock: the check may evict media under the
        # asset store's lock, and holding both locks invites a deadlock.
        self._check_space(sum(len(json.dumps(r)) + 48 for rs in by_stream.values() for r in rs))
        with self._lock:
            self._check_open()
            for stream, records in by_stream.items():
                self._append_stream(stream, records)
        return sum(len(rs) for rs in by_stream.values())

    def read(
        self,
        stream: str | None = None,
        since: float | None = None,
        types: CaptionTypes = ("final", "partial"),
    ) -> list[dict[str, Any]]:
        """Events in stream-time order; `since` keeps those ending after that stream second."""
        with self._lock:
            if stream is not None:
                pools = [self._records.get(validate_stream(stream), [])]
            else:
                pools = list(self._records.values())
            out = [
                dict(r)
                for pool in pools
                for r in pool
                if r["type"] in types and (since is None or r["end"] > since)
            ]
        if stream is None and len(pools) > 1:
            out.sort(key=lambda r: (r["start"], r["stream"], _seq(r["id"])))
        return out

    def search(self, q: str, stream: str | None = None) -> list[dict[str, Any]]:
        """Finals whose text contains `q` (case-insensitive)."""
        needle = q.casefold()
        return [r for r in self.read(stream, types=("final",)) if needle in r["text"].casefold()]

    def streams(self) -> list[str]:
        with self._lock:
            return sorted(self._records)

    def last_id(self, stream: str) -> str | None:
        with self._lock:
            records = self._records.get(validate_stream(stream))
            return records[-1]["id"] if records else None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for f in self._files.values():
                f.close()
            self._files.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"caption log {self.root} is closed", "open the store again")

    def _append_stream(self, stream: str, records: list[dict[str, Any]]) -> None:
        n = self._next.get(stream, 1)
        stored = [{"id": f"{stream}:{n + i}", **r} for i, r in enumerate(records)]
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in stored).encode()
        f = self._file(stream)
        offset = f.tell()
        try:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            # Cut the half-written lines now: later appends must not follow garbage.
            self._files.pop(stream, None)
            try:
                f.truncate(offset)
                os.fsync(f.fileno())
            finally:
                f.close()
            raise
        self._records.setdefault(stream, []).extend(stored)
        self._next[stream] = n + len(stored)

    def _file(self, stream: str) -> BinaryIO:
        f = self._files.get(stream)
        if f is None:
            path = self.root / f"{stream}.jsonl"
            is_new = not path.exists()
            f = open(path, "ab")
            if is_new:
                fsync_dir(self.root)
            self._files[stream] = f
        return f

    def _load(self, stream: str) -> None:
        path = self.root / f"{stream}.jsonl"
        data = path.read_bytes()
        records: list[dict[str, Any]] = []
        good_end = 0  # byte offset just past the last line that parsed
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            line_end = len(data) if nl < 0 else nl + 1
            record = _parse_line(data[pos:line_end], stream) if nl >= 0 else None
            if record is not None:
                records.append(record)
                good_end = line_end
            elif nl >= 0 and data.find(b"\n", line_end) >= 0:
                # Not the tail, so not a torn write: keep the bytes, skip the line.
                log.warning("caption log %s: skipping damaged line at byte %d", path, pos)
                good_end = line_end
            pos = line_end
        if good_end < len(data):
            log.warning("caption log %s: cutting %d bytes of a torn last write", path, len(data) - good_end)
            with open(path, "r+b") as f:
                f.truncate(good_end)
                os.fsync(f.fileno())
        self._records[stream] = records
        self._next[stream] = max((_seq(r["id"]) for r in records), default=0) + 1


def _parse_line(line: bytes, stream: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not re.fullmatch(re.escape(stream) + r":[0-9]+", str(record.get("id"))):
        return None
    if not {"type", "text", "start", "end", "emitted_at"} <= record.keys():
        return None
    return record


def _seq(caption_id: str) -> int:
    return int(caption_id.rsplit(":", 1)[1])
