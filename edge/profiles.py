"""Device profiles (firmware_configs/*.yaml): which engine runs which model, how.

Validated with pydantic at start-up; a bad profile names the file and field.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.backends.base import TENSOR_BACKENDS, Precision, RuntimeSettings
from edge.errors import ConfigError
from edge.vision.settings import VisionSettings

PROFILES_DIR = Path(__file__).resolve().parent.parent / "firmware_configs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelChoice(_Strict):
    model: str
    backend: Literal["ctranslate2", "onnxruntime", "openvino"]
    device: str = "cpu"
    compute_type: str = "default"
    threads: int = Field(default=1, ge=1, le=64)
    execution_providers: list[str] = []
    # ONNX Runtime options per provider named above, e.g. TensorrtExecutionProvider's engine cache.
    provider_options: dict[str, dict[str, str | int | bool]] = {}
    # Graph engines only (CTranslate2 has compute_type). Unset means f32: an
    # engine's own default can depend on the CPU (OpenVINO: bf16 on AMX).
    precision: Precision | None = None
    # Other registry models this device class can run for the task (e.g. a larger Whisper when
    # accuracy matters more than delay); `edge doctor` checks they are provisioned.
    variants: list[str] = []

    def precision_problem(self) -> str | None:
        if self.precision is not None and self.backend == "ctranslate2":
            return "CTranslate2 models take their precision from compute_type; remove precision"
        if self.precision not in (None, "f32") and self.backend == "onnxruntime":
            return (f"ONNX Runtime runs a graph as exported and cannot lower it to {self.precision}; "
                    "use f32, or export a reduced-precision model")
        return None

    def runtime(self) -> RuntimeSettings:
        return RuntimeSettings(
            device=self.device,
            compute_type=self.compute_type,
            threads=self.threads,
            execution_providers=tuple(self.execution_providers),
            provider_options=self.provider_options,
            precision=self.precision or "f32",
        )


class VadSettings(_Strict):
    threshold: float = Field(default=0.5, gt=0, lt=1)
    # Hysteresis: speech ends only when probability falls below this.
    neg_threshold: float = Field(default=0.35, gt=0, lt=1)
    min_silence_s: float = Field(default=0.3, ge=0.05, le=5)
    min_speech_s: float = Field(default=0.2, ge=0, le=5)
    pad_s: float = Field(default=0.3, ge=0, le=1)
    max_utterance_s: float = Field(default=14.0, ge=2, le=28)


class DecodeSettings(_Strict):
    beam_size: int = Field(default=5, ge=1, le=10)
    # Audio context fed to the encoder beyond the utterance; None = Whisper's
    # full 30 s window (accurate, ~5x slower on tiny.en).
    context_pad_s: float | None = Field(default=2.0, ge=0.5, le=30)
    min_window_s: float = Field(default=10.0, ge=1, le=30)
    no_repeat_ngram_size: int = Field(default=4, ge=0, le=10)
    max_tokens_per_s: float = Field(default=8.0, gt=0)
    no_speech_threshold: float = Field(default=0.6, gt=0, le=1)
    logprob_threshold: float = -1.0
    # Give the stream's earlier captions to the decoder as context.
    condition_on_previous: bool = True
    # Full windows only (offline, polishing): Whisper's temperature fallback, as
    # the reference decodes. A window whose text loops or whose average log-prob
    # is under logprob_threshold is sampled again at each temperature in turn (5
    # candidates) until one passes; else the likeliest is kept. Empty: beam only.
    # Neutral on the tuning set (12.0% WER with and without: no window there fell
    # under the threshold); it costs time only on the windows it re-decodes.
    fallback_temperatures: tuple[float, ...] = Field(default=(0.2, 0.4, 0.6, 0.8, 1.0), max_length=10)
    # Sampling is seeded, so a file transcribes the same way twice.
    fallback_seed: int = 0


class StreamingSettings(_Strict):
    partial_interval_s: float = Field(default=0.5, ge=0.1, le=5)
    agreement: int = Field(default=2, ge=2, le=4)
    # Agreed words ending this close to the end of the heard audio may be cut
    # mid-word; they wait for the next hypothesis.
    commit_margin_s: float = Field(default=0.5, ge=0, le=3)
    # The first words of an utterance are guessed from too little audio; commit
    # nothing before this much of it has been heard.
    min_commit_audio_s: float = Field(default=2.5, ge=0, le=10)
    # Audio context (edge/asr/streaming.py): up to this many seconds of the
    # stream's previous utterances are decoded before the utterance, their
    # committed text forced as the decoder's prefix, so the model hears each
    # word with its neighbours as in a 30 s window. 0: the utterance alone.
    final_context_s: float = Field(default=0.0, ge=0, le=25)
    partial_context_s: float = Field(default=0.0, ge=0, le=25)
    # Decode the final this far into a pause instead of after the VAD's min_silence_s, so the decode
    # overlaps the wait; dropped if the speech goes on. None: decode when the VAD closes the utterance.
    early_final_s: float | None = Field(default=None, ge=0.03, le=5)
    partial: DecodeSettings = DecodeSettings(beam_size=5)
    final: DecodeSettings = DecodeSettings()


class AsrSettings(_Strict):
    engine: ModelChoice
    offline: DecodeSettings = DecodeSettings()
    streaming: StreamingSettings = StreamingSettings()


class EmbeddingsChoice(_Strict):
    """The sentence embedder for tags and semantic search (edge/tagging/embeddings.py)."""

    model: str = "minilm-l6-v2"
    # model-int8.onnx: int8 MatMul weights, 4x smaller weights than fp32, cosine to fp32 >= 0.98 (bench.tagging).
    file: Literal["model.onnx", "model-int8.onnx"] = "model-int8.onnx"
    backend: Literal["onnxruntime", "openvino"] = "onnxruntime"
    threads: int = Field(default=1, ge=1, le=64)


class TaggingSettings(_Strict):
    enabled: bool = True
    embeddings: EmbeddingsChoice = EmbeddingsChoice()


class LlmChoice(_Strict):
    """The text-generation model for drafts (edge/drafts/). A larger model needs only its manifest and this entry."""

    model: str = "smollm2-135m-instruct"
    backend: Literal["openvino_genai"] = "openvino_genai"
    device: str = "CPU"
    threads: int = Field(default=2, ge=1, le=64)
    # Stated, never left to the engine (OpenVINO picks bf16 on AMX CPUs, and the draft would then depend on the CPU).
    precision: Precision = "f32"
    # Also stated (OpenVINO's CPU defaults are group-32 activation quantization and a u8 KV cache). Off and f32
    # are what the llm gate's row measured (quantize/README.md); both reach the GenAI pipeline and the harness.
    dynamic_quantization_group_size: int = Field(default=0, ge=0, le=4096)
    kv_cache_precision: Literal["f32", "f16", "u8"] = "f32"
    # Decoding limits: untrusted output is kept short and greedy (no sampling: a draft is reproducible).
    max_new_tokens: int = Field(default=160, ge=16, le=2048)
    max_prompt_chars: int = Field(default=2400, ge=200, le=200_000)

    def runtime(self) -> RuntimeSettings:
        return RuntimeSettings(device=self.device, threads=self.threads, precision=self.precision,
                               dynamic_quantization_group_size=self.dynamic_quantization_group_size,
                               kv_cache_precision=self.kv_cache_precision)


class IngestSettings(_Strict):
    """What the box asks of capture devices (V4L2 cameras, ALSA microphones); files and RTSP play as they are."""

    video_width: int = Field(default=1280, ge=160, le=7680)
    video_height: int = Field(default=720, ge=120, le=4320)
    video_fps: float = Field(default=25.0, gt=0, le=120)
    audio_rate: int = Field(default=48_000, ge=8_000, le=192_000)  # resampled to 16 kHz for speech


class PowerHints(_Strict):
    """How the device should be set up for this profile (applied by the installer or a person, not by the box)."""

    nvpmodel: int | None = Field(default=None, ge=0, le=15)  # Jetson power mode (`sudo nvpmodel -m N`)
    jetson_clocks: bool = False  # pin clocks at their maximum (`sudo jetson_clocks`)
    cpu_governor: Literal["performance", "schedutil", "ondemand", "powersave"] | None = None
    max_watts: float | None = Field(default=None, gt=0, le=1000)  # the power budget the settings assume
    note: str = ""


class Profile(_Strict):
    name: str
    description: str = ""
    # A profile may start from another (a device within a family: jetson-orin-nano extends jetson-orin);
    # its keys replace the base's, nested blocks merge key by key.
    extends: str | None = None
    ingest: IngestSettings = IngestSettings()
    power: PowerHints = PowerHints()
    asr: AsrSettings
    vad: ModelChoice
    vad_settings: VadSettings = VadSettings()
    # Files (`edge transcribe`, offline runs) are cut only at long pauses, as
    # faster-whisper cuts them: short pauses stay inside the speech the decoder
    # hears (edge/asr/offline.py). Chosen on the tuning set: offline WER 12.0%
    # against 14.4% with the live settings (bench/RESULTS.md, 2026-12-01).
    offline_vad_settings: VadSettings = VadSettings(min_silence_s=2.0, pad_s=0.4, max_utterance_s=28.0)
    vision: VisionSettings = VisionSettings()
    tagging: TaggingSettings = TaggingSettings()
    llm: LlmChoice = LlmChoice()

    @model_validator(mode="after")
    def _vad_needs_a_graph_engine(self) -> "Profile":
        if self.vad.backend not in TENSOR_BACKENDS:
            raise ValueError(f"vad.backend '{self.vad.backend}' cannot run ONNX graphs; use onnxruntime or openvino")
        if self.asr.engine.backend != "ctranslate2":
            raise ValueError("asr.engine.backend: only ctranslate2 serves Whisper in this release")
        for where, choice in (("asr.engine", self.asr.engine), ("vad", self.vad)):
            problem = choice.precision_problem()
            if problem:
                raise ValueError(f"{where}.precision: {problem}")
        return self


def list_profiles(directory: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_profile(name_or_path: str | None = None, directory: Path = PROFILES_DIR) -> Profile:
    name = name_or_path or os.environ.get("EDGE_PROFILE") or detect_profile_name()
    path = Path(name) if name.endswith((".yaml", ".yml")) else directory / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"no device profile '{name}' ({path} not found)",
            f"use --profile with one of: {', '.join(list_profiles(directory))}",
        )
    try:
        data = _resolve(path, directory, seen=())
        return Profile.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"profile {path} is not valid YAML: {exc}", "fix the file") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"profile {path}: field '{field}': {err['msg']}", "fix that field") from None


def _resolve(path: Path, directory: Path, seen: tuple[str, ...]) -> dict:
    """The profile's YAML with its `extends` chain merged in (ConfigError names a missing or circular base)."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"profile {path} is not a mapping of settings", "fix the file")
    base = data.get("extends")
    if base is None:
        return data
    if not isinstance(base, str) or base in seen or base == path.stem:
        raise ConfigError(f"profile {path}: field 'extends': {base!r} would extend itself",
                          "extend a profile that does not extend this one")
    base_path = directory / f"{base}.yaml"
    if not base_path.is_file():
        raise ConfigError(f"profile {path}: field 'extends': no profile {base!r}",
                          f"extend one of: {', '.join(list_profiles(directory))}")
    merged = _merge(_resolve(base_path, directory, (*seen, path.stem)), data)
    merged.pop("extends", None)
    return {**merged, "extends": base}


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def detect_profile_name(root: Path = Path("/")) -> str:
    """Pick the profile for the hardware we are running on (`root` lets tests stand in for /)."""
    if (root / "etc/nv_tegra_release").exists() or (root / "sys/module/tegra_fuse").exists():
        try:  # e.g. "NVIDIA Jetson Orin Nano Developer Kit", "NVIDIA Jetson AGX Orin"
            model = (root / "proc/device-tree/model").read_text(errors="replace")
        except OSError:
            model = ""
        if "AGX Orin" in model:
            return "jetson-agx-orin"
        if "Orin Nano" in model or "Orin NX" in model:
            return "jetson-orin-nano"
        return "jetson-orin"
    # The intel-nuc profile assumes a NUC-class CPU (4+ cores); a smaller Intel box
    # runs the generic profile, whose thread counts fit 2 cores.
    if platform.machine() == "x86_64" and (os.cpu_count() or 1) >= 4 and _is_intel_with_openvino():
        return "intel-nuc"
    return "x86-cpu"


def _is_intel_with_openvino() -> bool:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    if "GenuineIntel" not in cpuinfo:
        return False
    import importlib.util

    return importlib.util.find_spec("openvino") is not None
