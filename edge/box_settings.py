"""Settings the crew changes from the dashboard: the event (name, place) and retention.

They live in `<data_dir>/settings.json`, rewritten atomically, beside the
configuration file rather than in it: the YAML is the operator's, these are
the crew's. Validated by pydantic; errors name the field, e.g.
"settings: field 'retention.ttl_hours.draft': ...".

Who reads them: drafts take the event name and place (`load_settings(data).event`),
the store takes the disk floor, sync takes the per-kind TTLs.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge.durable import atomic_replace
from edge.errors import ConfigError
from edge.kinds import KINDS, PROTECTED_KINDS

SETTINGS_FILE = "settings.json"
MiB = 1 << 20
# Kinds whose unsynced copies may expire (drafts and captions never do: the newsroom needs them).
EXPIRING_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k not in PROTECTED_KINDS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EventSettings(_Strict):
    name: str = Field("", max_length=200, description="what the crew is covering, e.g. 'River flood, day 2'")
    place: str = Field("", max_length=200, description="where, e.g. 'East bank, Riverside'")


class RetentionSettings(_Strict):
    # Free disk below which synced media is evicted; None keeps the configuration file's store.disk_floor_mb.
    disk_floor_mb: int | None = Field(None, ge=16, le=10_000_000)
    # Hours an asset of this kind may wait unsynced before it expires (is no longer sent).
    ttl_hours: dict[str, float] = {}

    @field_validator("ttl_hours")
    @classmethod
    def _kinds(cls, ttls: dict[str, float]) -> dict[str, float]:
        for kind, hours in ttls.items():
            if kind in PROTECTED_KINDS:
                raise ValueError(f"{kind} never expires (drafts and captions must reach the newsroom)")
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}: kinds that may expire are {', '.join(EXPIRING_KINDS)}")
            if not 0 < hours <= 24 * 365:
                raise ValueError(f"the TTL of {kind} must be more than 0 and at most 8760 hours")
        return ttls


class BoxSettings(_Strict):
    event: EventSettings = EventSettings()
    retention: RetentionSettings = RetentionSettings()

    def ttl_s(self, defaults: dict[str, float]) -> dict[str, float]:
        """The TTL table for sync: `defaults` with this box's overrides."""
        return {**defaults, **{k: h * 3600 for k, h in self.retention.ttl_hours.items()}}


def settings_path(data_dir: Path) -> Path:
    return data_dir / SETTINGS_FILE


def load_settings(data_dir: Path) -> BoxSettings:
    path = settings_path(data_dir)
    if not path.is_file():
        return BoxSettings()
    try:
        return BoxSettings.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ConfigError(f"{path}: {field_error(exc)}", "fix the file, or delete it to start from the defaults") from None
    except OSError as exc:
        raise ConfigError(f"{path} is unreadable: {exc.strerror}", "check the data directory's permissions") from None


def save_settings(data_dir: Path, settings: BoxSettings) -> None:
    atomic_replace(settings_path(data_dir), (settings.model_dump_json(indent=2) + "\n").encode())


def field_error(exc: ValidationError) -> str:
    """The first error, naming its field: "field 'retention.disk_floor_mb': Input should be ..."."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"] if p != "body") or "(top level)"
    return f"field '{field}': {err['msg'].removeprefix('Value error, ')}"
