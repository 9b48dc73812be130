"""The box's configuration file (YAML), validated at start-up.

Errors name the file and the field, e.g. "box.yaml: field 'streams.0.source':
Field required".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class StoreConfig(_Strict):
    # Below this much free disk, synced media is evicted and the dashboard raises an alarm.
    disk_floor_mb: int = Field(default=1024, ge=16)
    # Writes that would leave less than this free are refused before they start.
    reserve_mb: int = Field(default=128, ge=1)


class SyncSettings(_Strict):
    mqtt: str | None = None  # e.g. mqtt://broker.newsroom:1883 for status and notices
    bandwidth_kbps: float | None = Field(default=None, gt=0)  # uplink cap; None = as fast as the link goes
    # How often new caption finals leave as a caption segment while a stream runs (the newsroom's delay).
    caption_segment_s: float = Field(default=5.0, ge=0.5, le=30)


class BoxConfig(_Strict):
    box_id: str = "edge-box"
    profile: str | None = None
    streams: list[StreamConfig] = []
    dashboard: DashboardConfig = DashboardConfig()
    store: StoreConfig = StoreConfig()
    sync: SyncSettings = SyncSettings()

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
