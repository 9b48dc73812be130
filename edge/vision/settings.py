"""A device profile's vision settings (the `vision:` block of firmware_configs/*.yaml).

Kept free of OpenCV and the OCR engine, so loading a profile never loads them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OcrEngineName = Literal["onnxruntime", "openvino"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyframeSettings(_Strict):
    # Distance (0-1, see keyframes.frame_distance) from the last keyframe above which a new scene begins...
    cut_threshold: float = Field(default=0.25, gt=0, le=1)
    # ...and below which two consecutive frames count as settled: the keyframe is taken then, not mid-cut.
    settle_threshold: float = Field(default=0.08, gt=0, le=1)
    # No two keyframes of a stream closer than this (stream seconds): a flickering picture is not a new scene.
    min_interval_s: float = Field(default=3.0, ge=0, le=3600)
    jpeg_quality: int = Field(default=85, ge=30, le=95)
    thumbnail_width: int = Field(default=160, ge=32, le=640)

    @model_validator(mode="after")
    def _ordered(self) -> "KeyframeSettings":
        if self.settle_threshold >= self.cut_threshold:
            raise ValueError("settle_threshold must be below cut_threshold (hysteresis)")
        return self


class OcrSettings(_Strict):
    enabled: bool = True
    engine: OcrEngineName = "onnxruntime"
    # OpenVINO would run bf16 on AMX CPUs unless told otherwise; ONNX Runtime only runs f32 graphs.
    precision: Literal["f32", "f16", "bf16"] = "f32"
    threads: int = Field(default=2, ge=1, le=64)
    # Longest image side given to the text detector: 640 reads a 360p lower third well at ~1/3 of 736's cost.
    max_side: int = Field(default=640, ge=160, le=4096)
    # Beyond keyframes, the newest frame is read this often (stream seconds) while a scene lasts,
    # so text that appears or stays on a steady shot is seen and its time range extended.
    interval_s: float = Field(default=4.0, ge=0.5, le=600)
    min_score: float = Field(default=0.6, ge=0, le=1)

    @model_validator(mode="after")
    def _precision_fits_engine(self) -> "OcrSettings":
        if self.engine == "onnxruntime" and self.precision != "f32":
            raise ValueError("ONNX Runtime runs the OCR models as exported (f32); use precision f32 or engine openvino")
        return self


class VisionSettings(_Strict):
    enabled: bool = True
    # Frames decoded per second for the vision path: keyframes and OCR need about one.
    fps: float = Field(default=1.0, gt=0, le=30)
    max_width: int = Field(default=640, ge=64, le=3840)
    max_height: int = Field(default=360, ge=64, le=2160)
    # Blur faces in keyframes and snapshots of every stream unless the stream's config says otherwise.
    blur_faces: bool = False
    keyframes: KeyframeSettings = KeyframeSettings()
    ocr: OcrSettings = OcrSettings()
