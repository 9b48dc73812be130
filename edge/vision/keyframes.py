"""Scene changes in a low-rate frame stream, with hysteresis: one keyframe per scene.

Frames arrive at about one a second (the profile's `vision.fps`), so
shot-boundary detectors tuned for 25 fps (PySceneDetect's content detector
compares neighbouring frames of a continuous shot) see every frame as a cut
when the camera pans. Here each frame is reduced to a signature (a 32x18 luma
thumbnail and colour histograms) and compared with the *last keyframe*, not
the previous frame:

- a new scene starts when the distance to the last keyframe exceeds
  `cut_threshold`;
- its keyframe is taken once the picture has settled (two consecutive frames
  closer than `settle_threshold`), so a dissolve or a whip pan is not what is
  stored, and only if it still differs from the last keyframe (a cutaway that
  comes straight back is not a new scene);
- never two keyframes closer than `min_interval_s`.

Small changes inside a shot (a lower third fading in, a moving ball, a
presenter's gestures) stay under the cut threshold: on-screen text is OCR's
job (see processor.py), not a reason for another still.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.settings import KeyframeSettings

_THUMB = (32, 18)  # 16:9 at a size where sensor noise and compression artefacts average out
_BINS = 16


@dataclass(frozen=True, slots=True)
class Signature:
    luma: np.ndarray  # 18x32 float32 in [0, 1]
    hist: np.ndarray  # 3 x _BINS, each row sums to 1


def signature(rgb: np.ndarray) -> Signature:
    small = cv2.resize(rgb, _THUMB, interpolation=cv2.INTER_AREA)
    luma = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    # Histograms of a 4x-reduced picture: as discriminating as the full one at 1/16 of the cost.
    reduced = rgb[::4, ::4]
    hist = np.stack([np.bincount(reduced[..., c].ravel() >> 4, minlength=_BINS) for c in range(3)]).astype(np.float32)
    hist /= max(1.0, float(hist[0].sum()))
    return Signature(luma, hist)


def frame_distance(a: Signature, b: Signature) -> float:
    """0 for the same picture, 1 for opposite ones: half layout (luma), half colour (histograms)."""
    layout = float(np.abs(a.luma - b.luma).mean())
    colour = float(np.abs(a.hist - b.hist).sum()) / 6.0  # each row's L1 distance is at most 2; three rows
    return 0.5 * layout + 0.5 * colour


@dataclass(frozen=True, slots=True)
class Cut:
    """A keyframe decision: take the frame at `pts` as the keyframe of scene `scene`."""

    pts: float
    scene: int
    distance: float  # from the previous keyframe (1.0 for the first)


class SceneDetector:
    """Feed frames in time order; `update` says when a frame is a scene's keyframe."""

    def __init__(self, settings: KeyframeSettings | None = None) -> None:
        self.settings = settings or KeyframeSettings()
        self._keyframe: Signature | None = None
        self._keyframe_pts: float | None = None
        self._previous: Signature | None = None
        self._pending = False  # a cut was seen; waiting for the picture to settle
        self.scene = -1

    def update(self, rgb: np.ndarray, pts: float) -> Cut | None:
        sig = signature(rgb)
        previous, self._previous = self._previous, sig
        if self._keyframe is None:
            return self._take(sig, pts, 1.0)
        s = self.settings
        from_keyframe = frame_distance(sig, self._keyframe)
        if from_keyframe > s.cut_threshold:
            self._pending = True
        if not self._pending or previous is None:
            return None
        settled = frame_distance(sig, previous) < s.settle_threshold
        if not settled:
            return None
        if from_keyframe <= s.cut_threshold:
            self._pending = False  # back to the scene we already have
            return None
        assert self._keyframe_pts is not None
        if pts - self._keyframe_pts < s.min_interval_s:
            return None  # stays pending: taken once the interval has passed, if the new scene lasts
        return self._take(sig, pts, from_keyframe)

    @property
    def pending(self) -> bool:
        """A cut was seen and its keyframe is not taken yet (the picture is still changing)."""
        return self._pending

    def _take(self, sig: Signature, pts: float, distance: float) -> Cut:
        self._keyframe, self._keyframe_pts, self._pending = sig, pts, False
        self.scene += 1
        return Cut(pts, self.scene, distance)
