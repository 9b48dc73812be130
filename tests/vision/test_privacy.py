"""Face blurring with OpenCV's bundled cascades, measured on faces that ship in scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vision.privacy import FaceBlurrer
from tests.vision.media import text_picture

import cv2  # noqa: E402  (make test installs both; a missing one must fail, not skip)
import skimage.data as skdata  # noqa: E402


@pytest.fixture(scope="module")
def blurrer() -> FaceBlurrer:
    return FaceBlurrer()


def test_the_astronauts_face_is_found_and_pixelated_and_nothing_else_changes(blurrer):
    photo = skdata.astronaut()  # 512x512, NASA portrait: one frontal face near the top middle
    blurred, faces = blurrer.blur(photo)
    (face,) = faces
    assert 150 < face.x + face.w / 2 < 300 and 50 < face.y + face.h / 2 < 200
    inside = blurred[face.y:face.y + face.h, face.x:face.x + face.w]
    assert np.abs(inside.astype(int) - photo[face.y:face.y + face.h, face.x:face.x + face.w]).mean() > 5
    assert np.array_equal(blurred[400:], photo[400:])  # far below the padded face box
    assert blurrer.detect(blurred) == []  # what is left no longer looks like a face


def test_recall_on_packaged_face_crops_at_broadcast_sizes(blurrer):
    # scikit-image's LFW subset: 100 tightly cropped faces and 100 non-faces (25x25), each scaled to
    # 96 px on a grey card (a small card: the detector scans every position, so time grows with area).
    # Half of each here (bench.vision measures all): measured 98/100 faces found and 0/100 false alarms;
    # the floors leave room for OpenCV builds that differ slightly, not for a detector that stopped working.
    lfw = skdata.lfw_subset()

    def framed(crop: np.ndarray) -> np.ndarray:
        canvas = np.full((176, 176, 3), 90, np.uint8)
        face = cv2.resize((crop * 255).astype(np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
        canvas[40:136, 40:136] = face[..., None]
        return canvas

    found = sum(bool(blurrer.detect(framed(c))) for c in lfw[:50])
    false_alarms = sum(bool(blurrer.detect(framed(c))) for c in lfw[100:150])
    assert found >= 40
    assert false_alarms <= 2


def test_a_picture_without_faces_is_returned_as_is(blurrer):
    picture = text_picture("NO FACES HERE")
    blurred, faces = blurrer.blur(picture)
    assert faces == [] and blurred is picture
