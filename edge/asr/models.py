"""Speech models loaded once per process and shared by every stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.asr.streaming import CaptionStream
from edge.asr.vad import SileroVad
from edge.asr.whisper import WhisperEngine
from edge.backends.base import TensorSession, get_backend
from edge.profiles import Profile
from edge.registry import Registry


@dataclass
class SpeechModels:
    profile: Profile
    whisper: WhisperEngine
    vad_session: TensorSession

    @classmethod
    def load(cls, profile: Profile, registry: Registry | None = None) -> "SpeechModels":
        registry = registry or Registry()
        manifest, directory = registry.resolve(profile.vad.model)
        vad_session = get_backend(profile.vad.backend).load(directory / manifest.files[0].path, profile.vad.runtime())
        return cls(profile, WhisperEngine.load(profile.asr.engine, registry), vad_session)

    def caption_stream(self, stream: str, *, live: bool, clock: Callable[[], float] | None = None) -> CaptionStream:
        # Each stream keeps its own VAD state; the graph and Whisper weights are shared.
        return CaptionStream(
            self.whisper,
            SileroVad(self.vad_session),
            self.profile.asr,
            self.profile.vad_settings,
            stream=stream,
            live=live,
            clock=clock,
        )
