"""Id and name formats, defined once: asset and run ids, stream names, box ids, content hashes.

Each pattern is matched whole (`fullmatch`). Anything that reaches a file
name or a path is checked against one of these first.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

# 16 hex digits of nanoseconds since the epoch + 10 hex digits of randomness:
# sorting ids sorts by creation time.
ASSET_ID = re.compile(r"[0-9a-f]{26}")
RUN_ID = ASSET_ID
STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
BOX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")


def is_match(pattern: re.Pattern[str], value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def created_at(time_id: str) -> float:
    """Unix time an asset or run was made, from its id."""
    return int(time_id[:16], 16) / 1e9


class IdClock:
    """Time-sortable ids that never go backwards.

    A box without a real-time clock boots in the past until NTP answers; ids
    continue from the newest stored one so sorting by id stays creation order.
    """

    def __init__(self, newest: str | None = None) -> None:
        self._last = int(newest[:16], 16) if newest else 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(time.time_ns(), self._last + 1)
            return f"{self._last:016x}{secrets.token_hex(5)}"
