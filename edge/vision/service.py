"""What the box shares between the vision processors of all its streams.

One OCR engine (loaded at the first frame that needs it), one face detector
(loaded at the first stream that blurs), one snapshot board; each stream gets
its own processor with its own scene and text state.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from edge.errors import MediaError
from edge.ingest.sources import classify
from edge.runtime.scheduler import Scheduler
from edge.vision.ocr import SharedOcr
from edge.vision.privacy import FaceBlurrer
from edge.vision.processor import VisionProcessor
from edge.vision.settings import VisionSettings
from edge.vision.snapshots import SnapshotBoard

log = logging.getLogger(__name__)


class Vision:
    def __init__(self, settings: VisionSettings | None = None, *, scheduler: Scheduler | None = None,
                 profile: str | None = None) -> None:
        self.settings = settings or VisionSettings()
        self.ocr = SharedOcr(self.settings.ocr, scheduler=scheduler)
        self.snapshots = SnapshotBoard()
        self.profile = profile
        self._blurrer: FaceBlurrer | None = None
        self._lock = threading.Lock()

    @property
    def frame_size(self) -> tuple[int, int]:
        return (self.settings.max_width, self.settings.max_height)

    def wants(self, source: str) -> bool:
        """Whether a stream from `source` gets a vision path: not when vision is off or a file has no video.

        Cameras are not probed (an RTSP DESCRIBE costs a connection); a camera
        without video simply never delivers a frame to its vision processor.
        """
        if not self.settings.enabled:
            return False
        try:
            spec = classify(source)
        except MediaError:
            return False  # the caption path reports the bad source
        if spec.type in ("alsa", "pulse"):
            return False
        if spec.type == "file":
            from edge.ingest.gstreamer import probe_media

            try:
                return probe_media(source).has_video
            except MediaError:
                return False  # the caption path reports why the file cannot be read
        return True

    def processor(self, stream: str, *, blur_faces: bool | None = None) -> VisionProcessor:
        blur = self.settings.blur_faces if blur_faces is None else blur_faces
        return VisionProcessor(stream, self.settings, ocr=self.ocr, blurrer=self.blurrer() if blur else None,
                               snapshots=self.snapshots)

    def blurrer(self) -> FaceBlurrer:
        with self._lock:
            if self._blurrer is None:
                self._blurrer = FaceBlurrer()
            return self._blurrer

    def provenance(self) -> dict[str, Any]:
        s = self.settings
        return {"detector": "scene-hysteresis", "ocr": "PP-OCRv6-small (rapidocr)" if s.ocr.enabled else None,
                "ocr_backend": s.ocr.engine, "ocr_precision": s.ocr.precision, "fps": s.fps, "profile": self.profile}
