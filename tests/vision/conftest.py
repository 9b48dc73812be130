from __future__ import annotations

from pathlib import Path

import pytest

from edge.vision.ocr import OcrEngine
from edge.vision.settings import OcrSettings
from tests.vision.media import scene_clip


@pytest.fixture(scope="session")
def ocr_engine() -> OcrEngine:
    """The real PP-OCR models on ONNX Runtime (f32), loaded once for the whole run."""
    return OcrEngine(OcrSettings(engine="onnxruntime", precision="f32"))


@pytest.fixture(scope="session")
def av_clip(tmp_path_factory) -> Path:
    """9 s, three scenes (a banner, a lower third, none), 440 Hz tone: H.264 + Opus in Matroska."""
    return scene_clip(tmp_path_factory.mktemp("vision") / "scenes.mkv")
