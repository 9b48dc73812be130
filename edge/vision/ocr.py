"""On-screen text with RapidOCR (PP-OCR det + rec, ONNX models shipped inside the `rapidocr` wheel).

One engine per box, shared by every stream: loading takes seconds and a few
hundred MB, and the scheduler lets only one model run at a time anyway.
ONNX Runtime is the default; Intel profiles select OpenVINO, measured about
3x faster on this CPU kind. OpenVINO is pinned to the profile's precision:
left alone it runs bf16 on AMX Xeons, and recognition results would then
depend on which machine ran them.

Nothing here downloads: the models are the wheel's own files, and a missing
one is a ModelError naming the package to reinstall.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ModelError
from edge.runtime.scheduler import Priority, Scheduler
from edge.vision.images import fit_within
from edge.vision.settings import OcrSettings

log = logging.getLogger(__name__)

# The wheel's model files (rapidocr 3.10: PP-OCRv6 small det/rec); the classifier for upside-down
# text is left out: broadcast graphics are never upside down, and it costs a third of recognition.
_MODEL_FILES = {"det": "PP-OCRv6_det_small.onnx", "rec": "PP-OCRv6_rec_small.onnx"}
# The detector's view is never enlarged past the picture: upscaling 360p to 736 (the library's
# default "min side" mode) costs 4x and reads broadcast text no better.
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    box: list[list[float]]  # four [x, y] corners in the input image's pixels, clockwise from top-left
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "box": [[round(x, 1), round(y, 1)] for x, y in self.box],
                "score": round(self.score, 4)}


class OcrEngine:
    """`read(rgb)` returns the text lines of a picture, best-first by reading order (top to bottom)."""

    def __init__(self, settings: OcrSettings | None = None, *, scheduler: Scheduler | None = None) -> None:
        self.settings = settings or OcrSettings()
        self.scheduler = scheduler
        self._lock = threading.Lock()  # one inference at a time per engine (sessions are not re-entrant)
        self._ocr = _load(self.settings)
        if self.settings.engine == "openvino":
            self._warm_up()

    @property
    def provenance(self) -> dict[str, Any]:
        s = self.settings
        return {"model": "PP-OCRv6-small (rapidocr)", "backend": s.engine, "precision": s.precision}

    def read(self, rgb: np.ndarray) -> list[OcrLine]:
        """Text lines in `rgb` (HxWx3 uint8), boxes in its own pixel coordinates.

        Runs under the scheduler's VISION class when the engine has one, so
        captions go first on a shared box.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB array, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        small = fit_within(rgb, self.settings.max_side)
        scale = width / small.shape[1]
        bgr = np.ascontiguousarray(small[..., ::-1])
        if self.scheduler is not None:
            result = self.scheduler.run(Priority.VISION, self._infer, bgr)
        else:
            result = self._infer(bgr)
        lines = []
        if result.txts:
            for box, text, score in zip(result.boxes, result.txts, result.scores):
                text = " ".join(str(text).split())
                # A "line" without a letter or digit is a shape the detector boxed (windows, bullets, logos).
                if not any(ch.isalnum() for ch in text) or float(score) < self.settings.min_score:
                    continue
                corners = [[min(float(x) * scale, width), min(float(y) * scale, height)] for x, y in box]
                lines.append(OcrLine(text, corners, float(score)))
        lines.sort(key=lambda ln: (round(ln.box[0][1] / 8), ln.box[0][0]))
        return lines

    def _warm_up(self) -> None:
        """One read of a drawn word, so detection and recognition have both run once (see preload_openvino)."""
        from PIL import Image, ImageDraw, ImageFont

        img = Image.new("RGB", (200, 64), (255, 255, 255))
        ImageDraw.Draw(img).text((10, 10), "OK 42", font=ImageFont.load_default(32), fill=(0, 0, 0))
        self._infer(np.ascontiguousarray(np.asarray(img)[..., ::-1]))

    def _infer(self, bgr: np.ndarray) -> Any:
        with self._lock:
            return self._ocr(bgr, use_cls=False)

    def inference_precisions(self) -> dict[str, str]:
        """What each model really runs in ({"det": "f32", "rec": "f32"}); ONNX Runtime graphs are f32 as exported."""
        out = {}
        for task, model in (("det", self._ocr.text_det), ("rec", self._ocr.text_rec)):
            session = getattr(getattr(model, "session", None), "session", None)
            compiled = session.get_compiled_model() if hasattr(session, "get_compiled_model") else None
            out[task] = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() if compiled else "f32"
        return out


def preload_openvino() -> None:
    """Load OpenVINO's libraries now, before GStreamer starts in this process.

    Measured here (OpenVINO 2026.4, Debian's GStreamer 1.22): with GStreamer
    initialised first, loading OpenVINO's CPU plugin aborted or segfaulted
    the whole process, in some orders only at the first inference; with
    OpenVINO loaded and run first, both work side by side. So a profile's
    OpenVINO OCR engine is loaded, and run once, when the box starts
    (SharedOcr), before any stream is opened. The same holds for any other
    model on OpenVINO in the box process. Missing OpenVINO is reported at the
    engine's load, not here.
    """
    try:
        import openvino
    except ImportError:
        return
    openvino.Core().available_devices  # noqa: B018  (creating the core loads the CPU plugin)


def model_dir() -> Path:
    return Path(str(resources.files("rapidocr") / "models"))


def _load(settings: OcrSettings) -> Any:
    try:
        from rapidocr import EngineType, RapidOCR
    except ImportError as exc:
        raise ModelError(f"the OCR engine is not installed ({exc})", "pip install rapidocr (see pyproject.toml)") from None
    models = model_dir()
    for name in _MODEL_FILES.values():
        if not (models / name).is_file():
            raise ModelError(f"OCR model {name} is missing from {models}",
                             "reinstall the rapidocr package: pip install --force-reinstall rapidocr==3.10.0")
    engine = {"onnxruntime": EngineType.ONNXRUNTIME, "openvino": EngineType.OPENVINO}[settings.engine]
    params: dict[str, Any] = {
        "Global.log_level": "error",  # "no text found" is a normal answer, not a warning,
        "Global.use_cls": False,
        "Global.model_root_dir": str(models),
        "Det.model_path": str(models / _MODEL_FILES["det"]),
        "Rec.model_path": str(models / _MODEL_FILES["rec"]),
        "Det.engine_type": engine, "Rec.engine_type": engine, "Cls.engine_type": engine,
        "Det.limit_type": "max", "Det.limit_side_len": settings.max_side,
        "EngineConfig.onnxruntime.intra_op_num_threads": settings.threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        "EngineConfig.openvino.inference_num_threads": settings.threads,
    }
    if settings.engine == "openvino":
        try:
            import openvino  # noqa: F401
        except ImportError:
            raise ModelError("the profile runs OCR on OpenVINO, which is not installed",
                             "pip install 'edge-box[openvino]', or set vision.ocr.engine: onnxruntime") from None
    pin = _openvino_precision(settings.precision) if settings.engine == "openvino" else contextlib.nullcontext()
    with _LOAD_LOCK, pin:
        try:
            ocr = RapidOCR(params=params)
            # The library loads each model at its first use: load them now, inside the precision pin,
            # so a broken model fails at start-up rather than at the first caption-time keyframe.
            ocr._load_det_model()
            ocr._load_rec_model()
        except Exception as exc:  # the engines raise their own types; all mean the same to a crew
            raise ModelError(f"the OCR models in {models} cannot be loaded by {settings.engine}: {exc}",
                             "reinstall rapidocr (pip install --force-reinstall rapidocr==3.10.0), "
                             "or set vision.ocr.engine: onnxruntime") from None
    if settings.engine == "openvino":
        _check_precision(ocr, settings.precision)
    return ocr


@contextlib.contextmanager
def _openvino_precision(precision: str) -> Iterator[None]:
    """rapidocr passes a fixed set of CPU properties to OpenVINO; add the precision hint to them."""
    try:
        from rapidocr.inference_engine.openvino import main as ov_main
    except ImportError:  # OpenVINO not installed: nothing to pin
        yield
        return
    original = ov_main.CPUConfig

    class PinnedCPUConfig(original):  # type: ignore[misc, valid-type]
        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "INFERENCE_PRECISION_HINT": precision}

    ov_main.CPUConfig = PinnedCPUConfig
    try:
        yield
    finally:
        ov_main.CPUConfig = original


def _check_precision(ocr: Any, precision: str) -> None:
    for task, model in (("det", ocr.text_det), ("rec", ocr.text_rec)):
        compiled = model.session.session.get_compiled_model()
        got = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if got != precision:
            raise ModelError(f"OpenVINO runs the OCR {task} model in {got}, not the profile's {precision}",
                             "set vision.ocr.precision to a precision this CPU supports (f32 always works)")


class SharedOcr:
    """The box's one OCR engine, loaded at first use (an audio-only box never pays for it); an
    OpenVINO engine is loaded at once instead (see preload_openvino).

    A load failure is logged once and remembered: streams keep their keyframes
    without text rather than each retrying a broken install every frame.
    """

    def __init__(self, settings: OcrSettings | None = None, *, scheduler: Scheduler | None = None,
                 engine: OcrEngine | None = None) -> None:
        """`engine`: one already loaded (tools and tests that hold one)."""
        self.settings = engine.settings if engine is not None else settings or OcrSettings()
        self.scheduler = scheduler
        self._engine = engine
        self.error: ModelError | None = None
        self._lock = threading.Lock()
        if engine is None and self.settings.enabled and self.settings.engine == "openvino":
            # Loaded and run now, not at the first frame: see preload_openvino.
            preload_openvino()
            self.get()

    def get(self) -> OcrEngine | None:
        with self._lock:
            if self._engine is None and self.error is None and self.settings.enabled:
                try:
                    self._engine = OcrEngine(self.settings, scheduler=self.scheduler)
                except ModelError as exc:
                    self.error = exc
                    log.error("on-screen text is off: %s", exc)
            return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None
