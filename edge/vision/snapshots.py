"""The latest decoded frame of each stream, kept in memory for the live page's camera snapshot.

Frames are stored raw and encoded only when someone asks (at most once per
frame), so a stream nobody looks at costs no JPEG encoding. A stream that
blurs faces gets its snapshot blurred too: the snapshot leaves the box.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from edge.vision.images import encode_jpeg
from edge.vision.privacy import FaceBlurrer


@dataclass(frozen=True, slots=True)
class Snapshot:
    stream: str
    pts: float  # stream seconds
    taken_at: float  # wall-clock time the frame arrived
    width: int
    height: int
    jpeg: bytes


class _Latest:
    __slots__ = ("rgb", "pts", "taken_at", "blurrer", "encoded")

    def __init__(self, rgb: np.ndarray, pts: float, blurrer: FaceBlurrer | None) -> None:
        self.rgb, self.pts, self.taken_at, self.blurrer = rgb, pts, time.time(), blurrer
        self.encoded: Snapshot | None = None


class SnapshotBoard:
    """Box-wide: vision processors `put` frames, the dashboard `get`s JPEGs."""

    def __init__(self, quality: int = 80) -> None:
        self.quality = quality
        self._latest: dict[str, _Latest] = {}
        self._lock = threading.Lock()

    def put(self, stream: str, rgb: np.ndarray, pts: float, blurrer: FaceBlurrer | None = None) -> None:
        with self._lock:
            self._latest[stream] = _Latest(rgb, pts, blurrer)

    def forget(self, stream: str) -> None:
        """The stream stopped: its last picture is no longer live."""
        with self._lock:
            self._latest.pop(stream, None)

    def streams(self) -> list[str]:
        with self._lock:
            return sorted(self._latest)

    def get(self, stream: str) -> Snapshot | None:
        """The newest frame as JPEG (faces blurred if the stream blurs), or None when there is none."""
        with self._lock:
            latest = self._latest.get(stream)
        if latest is None:
            return None
        if latest.encoded is None:
            rgb = latest.rgb
            if latest.blurrer is not None:
                rgb, _faces = latest.blurrer.blur(rgb)
            height, width = rgb.shape[:2]
            # Two readers may both encode the same frame once; cheaper than holding the lock while encoding.
            latest.encoded = Snapshot(stream, latest.pts, latest.taken_at, width, height,
                                      encode_jpeg(rgb, self.quality))
        return latest.encoded
