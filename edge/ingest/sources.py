"""The one rule from a source string to a source type, and whether it is live.

Ingest, the runtime, the CLI and the dashboard's validation all call
`classify`; a scheme ingest cannot open is refused everywhere with the same
message. `admit` adds the site policy for sources that arrive over the
network (the dashboard): file sources only under the configured media
directories, http(s) only when configured, and one message whatever the
reason, so the refusal tells a prober nothing about the box's files.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.errors import MediaError

SourceType = Literal["file", "rtsp", "http", "alsa", "pulse", "v4l2"]

# scheme -> (type, live). Nothing else is opened anywhere.
URI_SCHEMES: dict[str, tuple[SourceType, bool]] = {
    "file": ("file", False),
    "rtsp": ("rtsp", True),
    "rtsps": ("rtsp", True),
    "rtspt": ("rtsp", True),
    "http": ("http", False),
    "https": ("http", False),
}
SUPPORTED_FORMS = "a file path, file://, rtsp://, rtsps://, rtspt://, http(s)://, alsa:<device>, pulse:<device> or /dev/videoN"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
MAX_SOURCE_CHARS = 2048


class SourceRefused(MediaError):
    """The source string names something the box does not open (or may not, by site policy)."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    text: str  # as given, stripped
    type: SourceType
    live: bool  # runs on its own clock (camera, microphone): retried when it drops
    label: str  # for messages and logs: passwords removed
    device: str | None = None  # alsa/pulse/v4l2 device name
    path: Path | None = None  # file sources

    @property
    def uri(self) -> str | None:
        if self.type == "file":
            assert self.path is not None
            return self.path.resolve().as_uri()
        if self.type in ("rtsp", "http"):
            return self.text
        return None


def redact(text: str) -> str:
    """Drop passwords from URLs: messages end up in logs and on screens."""
    return re.sub(r"(://[^/:@\s]+):[^/@\s]*@", r"\1:***@", text)


def classify(text: str) -> SourceSpec:
    """What kind of source `text` names; SourceRefused for anything ingest cannot open."""
    text = str(text).strip()
    label = redact(text)
    if not text:
        raise SourceRefused("no media source given", f"pass {SUPPORTED_FORMS}")
    if len(text) > MAX_SOURCE_CHARS or any(ord(c) < 32 for c in text):
        raise SourceRefused("the source is not a usable URL or path", f"pass {SUPPORTED_FORMS}")
    lowered = text.lower()
    if lowered.startswith("alsa:") and not lowered.startswith("alsa://"):
        return SourceSpec(text, "alsa", True, label, device=text[5:] or None)
    if lowered.startswith("pulse:") and not lowered.startswith("pulse://"):
        return SourceSpec(text, "pulse", True, label, device=text[6:] or None)
    if re.fullmatch(r"/dev/video[0-9]{1,3}", text):
        return SourceSpec(text, "v4l2", True, label, device=text)
    match = _SCHEME.match(text)
    if match is None:
        return SourceSpec(text, "file", False, label, path=Path(text).expanduser())
    scheme = match.group(1).lower()
    if scheme not in URI_SCHEMES:
        raise SourceRefused(f"cannot open {label!r}: unsupported URL scheme '{scheme}://'", f"use {SUPPORTED_FORMS}")
    kind, live = URI_SCHEMES[scheme]
    if kind == "file":
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(text).path))
        return SourceSpec(text, "file", False, label, path=path)
    host = urllib.parse.urlparse(text).hostname
    if not host:
        raise SourceRefused(f"cannot open {label!r}: the URL has no host", f"use {SUPPORTED_FORMS}")
    return SourceSpec(text, kind, live, label)


def is_live(text: str) -> bool:
    """Cameras and microphones run on their own clock; files can be read as fast as we like."""
    try:
        return classify(text).live
    except SourceRefused:
        return False


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    """What sources arriving over the network (the dashboard) may name."""

    media_dirs: Sequence[Path] = ()  # file sources only inside these (none: no file sources)
    allow_http: bool = False  # http(s) sources reach out from the box: off unless configured


REFUSED = "cannot use this source"
REFUSED_FIX = "use an rtsp:// camera URL, a capture device, or a file in the box's media folder"


def admit(text: str, policy: SourcePolicy) -> SourceSpec:
    """classify() plus the site policy; one message for every refusal (no oracle for files or hosts)."""
    try:
        spec = classify(text)
    except SourceRefused:
        raise SourceRefused(REFUSED, REFUSED_FIX) from None
    if spec.type == "http" and not policy.allow_http:
        raise SourceRefused(REFUSED, REFUSED_FIX)
    if spec.type == "file":
        assert spec.path is not None
        real = os.path.realpath(spec.path)
        inside = any(
            os.path.commonpath([real, os.path.realpath(d)]) == os.path.realpath(d) for d in policy.media_dirs
        )
        if not inside or not os.path.isfile(real):
            raise SourceRefused(REFUSED, REFUSED_FIX)
    return spec
