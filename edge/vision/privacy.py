"""Face blurring for streams that must not show who was there (`streams[].blur_faces`).

The detector is one that ships inside a package: OpenCV's bundled Haar
cascades (opencv-python-headless, `cv2.data.haarcascades`), frontal plus
profile (the profile cascade looks one way, so the picture is also searched
mirrored). No download, no GPU, ~10-40 ms per 640x360 frame here.

What it misses, honestly: faces smaller than ~24 px, faces turned further
than about 45 degrees, faces partly covered (masks, microphones, hands),
strong backlight, and people at odd angles (looking down at a phone). A
blurred keyframe lowers the risk; it does not guarantee anonymity, so a
crew covering sensitive people should not send stills at all. Detections are
padded before blurring, and the blur is a pixelation coarse enough that the
face cannot be recovered by sharpening.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ModelError

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
_PAD = 0.25  # of the face box on every side: hair, ears and chin identify people too
_BLOCKS = 5  # pixelation cells across a padded face: coarse enough that even a face detector no longer finds one


@dataclass(frozen=True, slots=True)
class Face:
    x: int
    y: int
    w: int
    h: int


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ModelError(f"the face detector {path} is missing or unreadable",
                         "reinstall opencv-python-headless (pip install --force-reinstall 'opencv-python-headless<5')")
    return cascade


class FaceBlurrer:
    """`blur(rgb)` returns a copy with every detected face pixelated, and the faces found."""

    def __init__(self, *, min_face: int = 24, profile: bool = True) -> None:
        self.min_face = min_face
        self._frontal = _cascade(FRONTAL)
        self._profile = _cascade(PROFILE) if profile else None
        self._lock = threading.Lock()  # a CascadeClassifier is not safe to share between threads

    def detect(self, rgb: np.ndarray) -> list[Face]:
        gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        width = gray.shape[1]
        size = (self.min_face, self.min_face)
        with self._lock:
            boxes = [tuple(b) for b in self._frontal.detectMultiScale(gray, 1.1, 5, minSize=size)]
            if self._profile is not None:
                boxes += [tuple(b) for b in self._profile.detectMultiScale(gray, 1.1, 5, minSize=size)]
                mirrored = self._profile.detectMultiScale(cv2.flip(gray, 1), 1.1, 5, minSize=size)
                boxes += [(width - x - w, y, w, h) for x, y, w, h in mirrored]
        return [Face(int(x), int(y), int(w), int(h)) for x, y, w, h in boxes]

    def blur(self, rgb: np.ndarray) -> tuple[np.ndarray, list[Face]]:
        faces = self.detect(rgb)
        if not faces:
            return rgb, faces
        out = rgb.copy()
        height, width = out.shape[:2]
        for f in faces:
            px, py = int(f.w * _PAD), int(f.h * _PAD)
            x0, y0 = max(0, f.x - px), max(0, f.y - py)
            x1, y1 = min(width, f.x + f.w + px), min(height, f.y + f.h + py)
            region = out[y0:y1, x0:x1]
            cells = cv2.resize(region, (_BLOCKS, max(1, _BLOCKS * region.shape[0] // max(1, region.shape[1]))),
                               interpolation=cv2.INTER_AREA)
            blocky = cv2.resize(cells, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_NEAREST)
            # Softened edges: a hard grid of cells keeps the face's layout readable to eyes and detectors.
            k = max(3, (min(region.shape[:2]) // _BLOCKS) | 1)
            out[y0:y1, x0:x1] = cv2.GaussianBlur(blocky, (k, k), 0)
        return out, faces
