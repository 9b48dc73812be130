"""The box's configuration file (YAML), validated at start-up.

Errors name the file and the field, e.g. "box.yaml: field 'streams.0.source':
Field required".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.asr.glossary import DEFAULT_MODE as DEFAULT_GLOSSARY_MODE, GlossaryMode
from edge.errors import ConfigError

STREAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _stream_name(v: str) -> str:
    if not STREAM_NAME.match(v):
        raise ValueError("stream names use 1-64 letters, digits, '.', '_' or '-'")
    return v


# One rule for stream names wherever they arrive (config file, dashboard, API).
StreamName = Annotated[str, AfterValidator(_stream_name)]


class StreamConfig(_Strict):
    name: StreamName
    source: str = Field(min_length=1)
    enabled: bool = True
    # Play a file source at real-time pace, as a camera would (demos, tests, replays).
    live: bool = False
    # Blur faces in this stream's keyframes and snapshots (None: the device profile's vision.blur_faces).
    blur_faces: bool | None = None
    # Language spoken (a code such as es, or auto); None: the box's `captions.language`.
    language: str | None = None
    # This stream's glossary of names, added to the box-wide one (edge/asr/glossary.py).
    glossary: Path | None = None
    # A second, English caption track of a non-English stream (Whisper's translate task, in the background;
    # edge/asr/translation.py). Off by default: on the packaged Whisper base the translation is rough.
    translate: bool = False


class DashboardConfig(_Strict):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    max_upload_mb: int = Field(default=200, ge=1, le=10_000)
    # The box is reached directly on the crew's LAN: X-Forwarded-For/-Proto are believed only when
    # a reverse proxy is configured here, else anyone could pick the address the login limits count.
    proxy_headers: bool = False
    forwarded_allow_ips: list[str] = ["127.0.0.1"]  # the proxies whose forwarded headers are believed
    # Mark the session cookie Secure (also automatic for requests that arrive over HTTPS).
    secure_cookies: bool = False
    # Stream sources added from the dashboard: files only inside these folders (default: <data>/media)...
    media_dirs: list[Path] = []
    # ...and http(s) sources only when allowed (the box would fetch any URL on its networks).
    allow_http_sources: bool = False
    # HTTPS with a certificate the box makes (auto), or plain HTTP (off: tests, or behind a TLS proxy).
    tls: Literal["auto", "off"] = "auto"
    # A session ends this long after login, or after this long unused, whichever comes first.
    session_hours: float = Field(default=12, gt=0, le=24 * 14)
    session_idle_minutes: float = Field(default=240, gt=0, le=24 * 60 * 14)

    @field_validator("tls", mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        # YAML 1.1 reads a bare `off`/`on` as a boolean: take it as the crew meant it.
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v


class StoreConfig(_Strict):
    # Below this much free disk, synced media is evicted and the dashboard raises an alarm.
    disk_floor_mb: int = Field(default=1024, ge=16)
    # Writes that would leave less than this free are refused before they start.
    reserve_mb: int = Field(default=128, ge=1)
    # Keep each run's audio (16 kHz mono WAV, a minute per asset, ~115 MB an hour a stream) so a search hit,
    # a draft's source or a quote can be played at its time. Evicted first when the disk runs low.
    record_audio: bool = True


class SyncSettings(_Strict):
    mqtt: str | None = None  # e.g. mqtt://broker.newsroom:1883 for status and notices
    bandwidth_kbps: float | None = Field(default=None, gt=0)  # uplink cap; None = as fast as the link goes
    # How often new caption finals leave as a caption segment while a stream runs (the newsroom's delay).
    caption_segment_s: float = Field(default=5.0, ge=0.5, le=30)


class SensorRule(_Strict):
    """A threshold on one quantity, e.g. wind_speed above 50 km/h, clearing below 45 (hysteresis)."""

    name: str = Field(default="", max_length=64)  # default: "<quantity> above/below <limit> <unit>"
    quantity: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    above: float | None = None
    below: float | None = None
    unit: str  # any unit edge/ingest/units.py knows; compared after conversion
    # Once raised, the alert clears only when the value is back by this much (no flapping at the limit).
    hysteresis: float = Field(default=0.0, ge=0)
    device: str | None = None  # only this device (default: every device sending the quantity)

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        from edge.ingest.units import UnknownUnit, normalise

        try:
            normalise(0.0, unit)
        except UnknownUnit as exc:
            raise ValueError(str(exc)) from None
        return unit

    @model_validator(mode="after")
    def _one_limit(self) -> "SensorRule":
        if (self.above is None) == (self.below is None):
            raise ValueError("a rule needs exactly one of 'above' or 'below'")
        return self


class LanListener(_Strict):
    """The broker's listener on the site LAN: devices log in with a password and may write only their own topics."""

    host: str = "0.0.0.0"
    port: int = Field(default=1884, ge=1, le=65535)
    devices: list[str] = []  # device ids; each gets a password in <data>/broker/devices/<id>.env


class BrokerSettings(_Strict):
    # The box's own Mosquitto: started by `edge run` unless something already listens on this port.
    start: bool = True
    port: int = Field(default=1883, ge=1, le=65535)
    lan: LanListener | None = None


class SensorsConfig(_Strict):
    enabled: bool = True
    # Broker to subscribe to (default: the box's own broker on 127.0.0.1); `edge run --mqtt` overrides.
    mqtt: str | None = None
    broker: BrokerSettings = BrokerSettings()
    # Per device: sustained readings per second, and the burst allowed above it; the rest is dropped and reported.
    max_rate: float = Field(default=50.0, gt=0)
    burst: int = Field(default=200, ge=1)
    # Timestamps this far ahead of the box clock (clock skew) or this old are refused.
    max_future_s: float = Field(default=300.0, ge=0)
    max_age_s: float = Field(default=7 * 24 * 3600.0, gt=0)
    rules: list[SensorRule] = []


class CaptionConfig(_Strict):
    """Box-wide caption settings (edge/asr/options.py); a stream's own language and glossary come first."""

    language: str | None = None  # None: the model's default (English); a code; or auto (needs a multilingual model)
    glossary: Path | None = None  # the event's names, one per line: `Name | sounds like`
    glossary_mode: GlossaryMode = DEFAULT_GLOSSARY_MODE  # bench/glossary.py measures each
    # Re-decode closed speech in the background for the run's kept transcript (edge/asr/polish.py).
    polish: bool = True


class DraftsConfig(_Strict):
    """First drafts (edge/drafts/): when the box writes them by itself, and what reaches the newsroom."""

    # Draft a stream by itself once it has this many new words of speech since its last draft...
    auto: bool = True
    min_new_words: int = Field(default=100, ge=20, le=100_000)
    # ...but not more often than this per stream.
    min_interval_s: float = Field(default=180.0, ge=10, le=24 * 3600)
    check_interval_s: float = Field(default=15.0, ge=1, le=3600)
    # What one draft reads: the last N minutes of the stream.
    window_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    # The model's writing stops after this long (the draft is then verified and completed from the sources).
    deadline_s: float = Field(default=180.0, ge=5, le=3600)
    # approved: only drafts an editor approved go to the newsroom; all: every version, pubstatus withheld.
    sync: Literal["approved", "all"] = "approved"
    # Event metadata a draft may cite (also a source for the verifier).
    event_name: str | None = Field(default=None, max_length=200)
    event_place: str | None = Field(default=None, max_length=200)


class BoxConfig(_Strict):
    box_id: str = "edge-box"
    profile: str | None = None
    captions: CaptionConfig = CaptionConfig()
    streams: list[StreamConfig] = []
    dashboard: DashboardConfig = DashboardConfig()
    store: StoreConfig = StoreConfig()
    sync: SyncSettings = SyncSettings()
    sensors: SensorsConfig = SensorsConfig()
    drafts: DraftsConfig = DraftsConfig()

    @field_validator("streams")
    @classmethod
    def _unique(cls, streams: list[StreamConfig]) -> list[StreamConfig]:
        names = [s.name for s in streams]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stream names must be unique (repeated: {', '.join(dupes)})")
        return streams


def load_config(path: Path | None) -> BoxConfig:
    if path is None:
        return BoxConfig()
    if not path.is_file():
        raise ConfigError(f"configuration file {path} not found", "pass --config with an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return BoxConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}".replace("\n", " "), "fix the file") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: field '{field}': {err['msg']}", "fix that field") from None
