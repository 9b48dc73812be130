"""The demo event's picture: three scenes with broadcast graphics, drawn with Pillow.

GStreamer's textoverlay is not installed without recommends, so graphics are
drawn here and the frames pushed through appsrc (clip.py). Each scene is a
still background (a different place, so the box sees a scene change) with a
small moving element (so the picture is never frozen), a banner naming the
place and, for part of the scene, a lower third with a name and title: what
the box's OCR should read, and `on_screen()` says when.

Also used by the vision tests and benchmark to make clips and frames whose
text and scene cuts are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

VERSION = 1  # bump when the picture changes: built clips are then rebuilt

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")  # fonts-dejavu-core


@lru_cache(maxsize=32)
def font(size: int, name: str = "DejaVuSans-Bold.ttf") -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A TrueType font; Pillow's bundled one when DejaVu is not installed."""
    try:
        return ImageFont.truetype(str(FONT_DIR / name), size)
    except OSError:
        return ImageFont.load_default(size)


@dataclass(frozen=True, slots=True)
class Overlay:
    kind: str  # "lower_third" (name over title) or "banner" (one line, top left)
    lines: tuple[str, ...]
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Scene:
    start: float
    end: float
    background: str  # a painter in BACKGROUNDS
    overlays: tuple[Overlay, ...] = field(default=())


def _gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    rgb = (1 - t) * np.array(top, float) + t * np.array(bottom, float)
    return np.broadcast_to(rgb, (h, w, 3)).astype(np.uint8)


def _riverside(w: int, h: int) -> np.ndarray:
    img = _gradient(w, h, (110, 170, 230), (190, 220, 245)).copy()
    img[int(h * 0.55):] = (60, 120, 70)  # far bank
    img[int(h * 0.68):int(h * 0.82)] = (50, 90, 150)  # river
    return img


def _flood_wall(w: int, h: int) -> np.ndarray:
    img = _gradient(w, h, (150, 150, 155), (110, 105, 100)).copy()
    for y in range(int(h * 0.3), h, 24):  # courses of concrete blocks
        img[y:y + 2] = (80, 80, 80)
        offset = 0 if (y // 24) % 2 else 40
        for x in range(offset, w, 80):
            img[y:y + 24, x:x + 2] = (80, 80, 80)
    return img


def _town_hall(w: int, h: int) -> np.ndarray:
    img = _gradient(w, h, (200, 120, 60), (240, 200, 150)).copy()
    img[int(h * 0.25):, int(w * 0.55):int(w * 0.9)] = (170, 90, 70)  # brick facade
    for x in range(int(w * 0.58), int(w * 0.88), 36):
        img[int(h * 0.35):int(h * 0.5), x:x + 18] = (240, 230, 200)  # windows
    return img


def _plain(color: tuple[int, int, int]):
    return lambda w, h: np.full((h, w, 3), color, np.uint8)


BACKGROUNDS = {"riverside": _riverside, "flood_wall": _flood_wall, "town_hall": _town_hall,
               "dark": _plain((25, 30, 45)), "light": _plain((225, 225, 215))}


def draw_overlay(img: Image.Image, ov: Overlay) -> None:
    draw = ImageDraw.Draw(img)
    w, h = img.size
    if ov.kind == "banner":
        f = font(max(12, h // 16))
        text = "  ".join(ov.lines)
        right = min(w - 10, 24 + int(draw.textlength(text, font=f)) + 24)
        draw.rectangle((10, 12, right, 12 + h // 10), fill=(200, 16, 46))
        draw.text((24, 12 + h // 40), text, font=f, fill=(255, 255, 255))
    elif ov.kind == "lower_third":
        name_font, title_font = font(max(12, h // 14)), font(max(10, h // 22), "DejaVuSans.ttf")
        top = int(h * 0.72)
        draw.rectangle((0, top, int(w * 0.75), top + h // 9), fill=(15, 35, 90))
        draw.rectangle((0, top + h // 9, int(w * 0.75), top + h // 9 + h // 14), fill=(240, 240, 240))
        draw.text((20, top + h // 60), ov.lines[0], font=name_font, fill=(255, 255, 255))
        if len(ov.lines) > 1:
            draw.text((20, top + h // 9 + h // 120), ov.lines[1], font=title_font, fill=(15, 35, 90))
    else:
        raise ValueError(f"unknown overlay kind {ov.kind!r}")


class Painter:
    """`frame(t)` is the picture at `t` seconds: the scene's background with its visible overlays."""

    def __init__(self, width: int, height: int, scenes: list[Scene]) -> None:
        self.width, self.height = width, height
        self.scenes = scenes or [Scene(0.0, float("inf"), "dark")]
        self._cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}

    def frame(self, t: float) -> np.ndarray:
        index = next((i for i, s in enumerate(self.scenes) if s.start <= t < s.end), len(self.scenes) - 1)
        scene = self.scenes[index]
        visible = tuple(i for i, ov in enumerate(scene.overlays) if ov.start <= t < ov.end)
        key = (index, visible)
        base = self._cache.get(key)
        if base is None:
            img = Image.fromarray(BACKGROUNDS[scene.background](self.width, self.height))
            for i in visible:
                draw_overlay(img, scene.overlays[i])
            base = self._cache[key] = np.asarray(img)
        out = base.copy()
        # A small ball crossing the sky: motion that must not count as a scene change.
        r = max(4, self.height // 40)
        x = int((t * 60) % (self.width - 2 * r)) + r
        y = int(self.height * 0.2)
        out[y - r:y + r, x - r:x + r] = (250, 250, 250)
        return out


def demo_scenes(duration: float) -> list[Scene]:
    """The demo event's three places, each with its banner; lower thirds name the reporter and the leader."""
    a, b = round(duration * 0.36, 1), round(duration * 0.68, 1)
    return [
        Scene(0.0, a, "riverside", (
            Overlay("banner", ("LIVE", "ASHFORD RIVERSIDE"), 0.0, a),
            Overlay("lower_third", ("SARAH MILLS", "Reporter, Ashford"), 2.0, a - 3.0),
        )),
        Scene(a, b, "flood_wall", (
            Overlay("banner", ("NEW FLOOD DEFENCES OPEN",), a, b),
        )),
        Scene(b, duration + 1.0, "town_hall", (
            Overlay("banner", ("LIVE", "ASHFORD TOWN HALL"), b, duration + 1.0),
            Overlay("lower_third", ("DAVID OKAFOR", "Council Leader"), b + 2.0, duration + 1.0),
        )),
    ]


def on_screen(scenes: list[Scene], duration: float | None = None) -> list[dict]:
    """Each readable line with the time range it is on screen (what OCR should find)."""
    out = []
    for scene in scenes:
        for ov in scene.overlays:
            end = min(ov.end, scene.end, duration if duration is not None else ov.end)
            for text in ((" ".join(ov.lines),) if ov.kind == "banner" else ov.lines):
                out.append({"text": text, "kind": ov.kind, "start": round(ov.start, 3), "end": round(end, 3)})
    return out
