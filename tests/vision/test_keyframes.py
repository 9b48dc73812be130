"""Scene changes on a low-rate frame stream: one keyframe per scene, taken once the picture settles."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.demo.graphics import Overlay, Painter, Scene
from edge.vision.keyframes import SceneDetector, frame_distance, signature
from edge.vision.settings import KeyframeSettings, VisionSettings
from tests.vision.media import SCENES


def keyframes(scenes: list[Scene], seconds: float, fps: float = 1.0,
              settings: KeyframeSettings | None = None) -> list[float]:
    painter, detector = Painter(640, 360, scenes), SceneDetector(settings)
    times = [i / fps for i in range(int(seconds * fps))]
    return [cut.pts for t in times if (cut := detector.update(painter.frame(t), t)) is not None]


def test_each_scene_gets_exactly_one_keyframe_despite_motion():
    # Scenes start at 0, 3 and 6 s; a ball moves across every frame. The first frame of a new scene
    # differs from the one before it, so the keyframe is the next one, once the picture has settled.
    assert keyframes(SCENES, 9.0) == [0.0, 4.0, 7.0]


def test_text_appearing_within_a_shot_is_not_a_new_scene():
    scenes = [Scene(0, 20, "riverside", (Overlay("lower_third", ("SARAH MILLS", "Reporter"), 5, 12),
                                         Overlay("banner", ("LIVE",), 8, 20)))]
    assert keyframes(scenes, 20.0) == [0.0]


def test_a_one_frame_cutaway_back_to_the_same_scene_is_not_a_new_scene():
    scenes = [Scene(0, 5, "riverside"), Scene(5, 6, "dark"), Scene(6, 12, "riverside")]
    assert keyframes(scenes, 12.0) == [0.0]


def test_scenes_closer_than_the_minimum_interval_wait_for_it():
    # A new place every 2 s at 2 fps, but keyframes at least 5 s apart: a scene that lasts is still taken.
    scenes = [Scene(t, t + 2, bg) for t, bg in zip(range(0, 20, 2), ["dark", "light", "riverside", "town_hall",
                                                                       "flood_wall"] * 2)]
    taken = keyframes(scenes, 20.0, fps=2.0, settings=KeyframeSettings(min_interval_s=5.0))
    assert len(taken) >= 2
    assert all(b - a >= 5.0 for a, b in zip(taken, taken[1:]))


def test_distance_is_zero_for_the_same_picture_and_large_across_places():
    p = Painter(640, 360, [Scene(0, 1, "riverside"), Scene(1, 2, "town_hall")])
    a, b = signature(p.frame(0.0)), signature(p.frame(1.5))
    assert frame_distance(a, a) == 0.0
    assert frame_distance(a, b) > KeyframeSettings().cut_threshold


def test_hysteresis_must_be_ordered_and_the_error_names_the_field():
    with pytest.raises(ValidationError, match="settle_threshold must be below cut_threshold"):
        VisionSettings.model_validate({"keyframes": {"cut_threshold": 0.1, "settle_threshold": 0.2}})
