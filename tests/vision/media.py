"""Pictures and clips whose text and scene cuts are known, drawn with the demo's own graphics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from edge.demo import clip, graphics
from edge.demo.graphics import Overlay, Scene

SCENES = [
    Scene(0.0, 3.0, "dark", (Overlay("banner", ("BREAKING NEWS",), 0.0, 3.0),)),
    Scene(3.0, 6.0, "light", (Overlay("lower_third", ("ANNA BERG", "Mayor of Ashford"), 3.0, 6.0),)),
    Scene(6.0, 10.0, "riverside"),
]
SECONDS = 9.0


def text_picture(text: str, *, size: tuple[int, int] = (640, 360), font_px: int = 32,
                 background: tuple[int, int, int] = (20, 40, 90)) -> np.ndarray:
    img = Image.new("RGB", size, background)
    ImageDraw.Draw(img).text((24, size[1] // 2 - font_px // 2), text, font=graphics.font(font_px),
                             fill=(255, 255, 255))
    return np.asarray(img)


def scene_clip(path: Path, *, seconds: float = SECONDS, scenes: list[Scene] = SCENES) -> Path:
    """H.264 (+ Opus tone) in Matroska at the demo's 25 fps, through the same appsrc path as the demo."""
    Gst = clip._gst()
    rate = 16_000
    t = np.arange(int(seconds * rate)) / rate
    wav = path.with_suffix(".wav")
    clip.write_wav(wav, (0.2 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), rate)
    clip._mux(Gst, clip._audio_encoder(Gst), wav, path, seconds, scenes)
    return path
