"""The vision realtime processor: one per stream, fed low-rate frames by the ingest fan-out.

For each frame: keep it as the stream's snapshot; detect scene changes (one
keyframe per scene, keyframes.py); read on-screen text on every keyframe and,
while a scene lasts, on the newest frame every `ocr.interval_s` (a lower
third that fades in after the cut is still read); turn repeated text into
spans (text_track.py). Faces are blurred before a keyframe is encoded, so an
unblurred still of a blurring stream never exists outside this process's RAM.

This processor sits behind a dropping queue: when OCR is slower than the
frame rate, frames are skipped, never audio. A failure here (a broken OCR
install, a bug) is logged and costs the stream its vision, never its captions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from edge.events import AudioChunk, KeyframeEvent, OcrTextEvent, VideoFrame
from edge.vision.images import encode_jpeg, thumbnail_jpeg
from edge.vision.keyframes import SceneDetector, Signature, frame_distance, signature
from edge.vision.ocr import OcrLine, SharedOcr
from edge.vision.privacy import FaceBlurrer
from edge.vision.settings import VisionSettings
from edge.vision.snapshots import SnapshotBoard
from edge.vision.text_track import TextTracker

log = logging.getLogger(__name__)

VisionEvent = KeyframeEvent | OcrTextEvent
# Below this distance from the last picture read, the text on screen is taken to be the same:
# a static shot is read once per scene, not every interval (it saves most OCR on a steady camera).
_SAME_PICTURE = 0.01


class VisionProcessor:
    consumes = "video"

    def __init__(self, stream: str, settings: VisionSettings | None = None, *, ocr: SharedOcr | None = None,
                 blurrer: FaceBlurrer | None = None, snapshots: SnapshotBoard | None = None,
                 name: str = "vision") -> None:
        self.name = name
        self.stream = stream
        self.settings = settings or VisionSettings()
        self.ocr = ocr if self.settings.ocr.enabled else None
        self.blurrer = blurrer
        self.snapshots = snapshots
        self.scenes = SceneDetector(self.settings.keyframes)
        # Text unseen for a few reads has gone; reads may miss it on one frame (motion blur, a wipe).
        self.texts = TextTracker(stream, grace_s=2.5 * self.settings.ocr.interval_s)
        self.frames = 0
        self._last_read: tuple[float, Signature, list[OcrLine]] | None = None
        self._failures = 0

    def feed(self, item: AudioChunk | VideoFrame) -> Iterable[VisionEvent]:
        if not isinstance(item, VideoFrame):
            return []
        try:
            return self._frame(item)
        except Exception:  # vision is best-effort: never let it end the stream's captions
            self._failures += 1
            if self._failures <= 3 or self._failures % 100 == 0:
                log.exception("vision on stream %s failed on the frame at %.1f s (%d failures)", self.stream,
                              item.pts, self._failures)
            return []

    def flush(self) -> Iterable[VisionEvent]:
        if self.snapshots is not None:
            self.snapshots.forget(self.stream)
        return self.texts.close()

    def _frame(self, frame: VideoFrame) -> list[VisionEvent]:
        rgb, pts = frame.rgb, frame.pts
        self.frames += 1
        if self.snapshots is not None:
            self.snapshots.put(self.stream, rgb, pts, self.blurrer)
        events: list[VisionEvent] = []
        cut = self.scenes.update(rgb, pts)
        if cut is not None:
            lines = self._read(rgb, pts)
            picture, faces = self.blurrer.blur(rgb) if self.blurrer is not None else (rgb, [])
            k = self.settings.keyframes
            events.append(KeyframeEvent(
                self.stream, pts, cut.scene, frame.width, frame.height, encode_jpeg(picture, k.jpeg_quality),
                thumbnail_jpeg(picture, k.thumbnail_width), "\n".join(ln.text for ln in lines), len(faces)))
            events += self.texts.observe(pts, lines)
        elif self._read_due(pts) and not self.scenes.pending:  # mid-cut: the keyframe's read comes next
            events += self.texts.observe(pts, self._read(rgb, pts))
        return events

    def _read_due(self, pts: float) -> bool:
        if self.ocr is None:
            return False
        return self._last_read is None or pts - self._last_read[0] >= self.settings.ocr.interval_s

    def _read(self, rgb: np.ndarray, pts: float) -> list[OcrLine]:
        engine = self.ocr.get() if self.ocr is not None else None
        if engine is None:
            return []
        sig = signature(rgb)
        if self._last_read is not None and frame_distance(sig, self._last_read[1]) < _SAME_PICTURE:
            lines = self._last_read[2]
        else:
            lines = engine.read(rgb)
        self._last_read = (pts, sig, lines)
        return lines
