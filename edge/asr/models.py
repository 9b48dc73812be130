"""Speech models loaded once per process and shared by every stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.asr.options import CaptionOptions
from edge.asr.streaming import CaptionStream
from edge.asr.vad import SileroVad
from edge.asr.whisper import WhisperEngine
from edge.backends.base import TensorSession, get_backend
from edge.profiles import Profile
from edge.registry import Registry
from edge.runtime.scheduler import Scheduler


@dataclass
class SpeechModels:
    profile: Profile
    whisper: WhisperEngine
    vad_session: TensorSession

    @classmethod
    def load(
        cls, profile: Profile, registry: Registry | None = None, scheduler: Scheduler | None = None
    ) -> "SpeechModels":
        """Load the profile's VAD and Whisper; Whisper calls go through `scheduler` (the box's one)."""
        registry = registry or Registry()
        manifest, directory = registry.resolve(profile.vad.model)
        vad_session = get_backend(profile.vad.backend).load(directory / manifest.files[0].path, profile.vad.runtime())
        return cls(profile, WhisperEngine.load(profile.asr.engine, registry, scheduler), vad_session)

    @property
    def scheduler(self) -> Scheduler:
        # The VAD is not scheduled: it costs ~0.3% of a core in 32 ms frames, and
        # queueing each frame behind a background step would cost more than it saves.
        return self.whisper.scheduler

    def caption_stream(self, stream: str, *, live: bool, clock: Callable[[], float] | None = None,
                       options: CaptionOptions | None = None) -> CaptionStream:
        # Each stream keeps its own VAD state; the graph and Whisper weights are shared.
        return CaptionStream(
            self.whisper,
            SileroVad(self.vad_session),
            self.profile.asr,
            self.profile.vad_settings if live else self.profile.offline_vad_settings,
            stream=stream,
            live=live,
            clock=clock,
            options=options,
        )
