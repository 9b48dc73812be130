"""Pictures in and out of the vision path: JPEG encoding, thumbnails, and reading untrusted image files.

Images arrive from crews (`edge ocr`, uploads) and may be anything: empty,
truncated, not an image at all, or a decompression bomb (a few KB of PNG that
expands to gigapixels). Reading refuses those with a message that names the
problem and the fix, before any large buffer is allocated.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from edge.errors import MediaError

# Larger than any camera still (a 48 MP phone photo is 8000x6000); beyond this
# the pixels alone would take >300 MB of RAM on a box that has little to spare.
MAX_PIXELS = 60_000_000
MAX_FILE_BYTES = 64 * 1024 * 1024


class ImageError(MediaError):
    """An image cannot be read: empty, corrupt, not an image, or too large."""


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_as_rgb(rgb)).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def thumbnail_jpeg(rgb: np.ndarray, width: int = 160, quality: int = 70) -> bytes:
    image = Image.fromarray(_as_rgb(rgb))
    height = max(1, round(image.height * width / image.width))
    buf = io.BytesIO()
    image.resize((width, height), Image.Resampling.BILINEAR).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def fit_within(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """The picture scaled down so its longer side is at most `max_side` (never scaled up)."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(_as_rgb(rgb)).resize(size, Image.Resampling.BILINEAR))


def read_image(source: str | os.PathLike[str] | bytes, *, label: str | None = None) -> np.ndarray:
    """An RGB array from an image file (path) or its bytes; ImageError naming the problem otherwise."""
    if isinstance(source, bytes | bytearray):
        data, label = bytes(source), label or "the image"
    else:
        path = Path(source)
        label = label or str(path)
        data = _read_file(path, label)
    if not data:
        raise ImageError(f"{label} is empty (0 bytes)", "check the file; the copy or upload stopped before any data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(f"{label} is {width}x{height} pixels, more than the {MAX_PIXELS // 1_000_000} MP "
                                 "this box reads", "scale the image down (e.g. to 4000 pixels wide) and try again")
            # Pillow's default (LOAD_TRUNCATED_IMAGES off) makes a truncated JPEG fail here rather than
            # come back with a grey lower half and its text silently missing.
            image.load()
            return np.asarray(image.convert("RGB"))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{label} declares a huge picture (a decompression bomb?)",
                         "scale the image down (e.g. to 4000 pixels wide) and try again") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{label} is not an image this box can read",
                         "send a JPEG, PNG or WebP picture") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{label} is corrupt or truncated ({_one_line(exc)})",
                         "re-copy or re-export the picture; an interrupted copy leaves it unreadable") from None


def _read_file(path: Path, label: str) -> bytes:
    try:
        if path.is_dir():
            raise ImageError(f"{label} is a directory, not an image", "pass the path of a picture inside it")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{label} is {size // (1024 * 1024)} MB, more than the "
                             f"{MAX_FILE_BYTES // (1024 * 1024)} MB this box reads", "send a smaller picture")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{label}: file not found", "check the path") from None
    except PermissionError:
        raise ImageError(f"{label}: permission denied", "make the file readable by this user") from None


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB array, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
