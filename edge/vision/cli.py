"""`edge ocr IMAGE [--json]`: the on-screen text of a picture, read with the profile's OCR engine."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from edge.errors import ConfigError

Command = Callable[..., argparse.ArgumentParser]


def register(sub: argparse._SubParsersAction, command: Command) -> None:
    o = command("ocr", _ocr, "Read the text in a picture (JPEG, PNG, WebP) with the on-box OCR.")
    o.add_argument("image", type=Path, help="the picture")
    o.add_argument("--json", action="store_true",
                   help='print {"lines": [{"text", "box": [[x, y] x4], "score"}]} instead of one line per text')
    o.add_argument("--engine", choices=["onnxruntime", "openvino"],
                   help="OCR engine (default: the device profile's vision.ocr.engine)")


def _ocr(args: argparse.Namespace) -> int:
    from edge.profiles import load_profile
    from edge.vision.images import read_image
    from edge.vision.ocr import OcrEngine

    settings = load_profile(args.profile).vision.ocr
    if args.engine:
        try:
            settings = settings.model_validate({**settings.model_dump(), "engine": args.engine,
                                                "precision": "f32" if args.engine == "onnxruntime"
                                                else settings.precision})
        except ValueError as exc:
            raise ConfigError(f"--engine {args.engine}: {exc}", "pick the other engine") from None
    rgb = read_image(args.image)  # bad pictures fail here, before seconds of model loading
    lines = OcrEngine(settings).read(rgb)
    if args.json:
        print(json.dumps({"lines": [ln.to_json() for ln in lines]}, ensure_ascii=False))
    else:
        for ln in lines:
            print(ln.text)
    return 0
