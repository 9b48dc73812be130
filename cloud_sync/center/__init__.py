"""The newsroom's resource center: receives assets from paired boxes (ZeroMQ) and notices (MQTT)."""

from __future__ import annotations

from edge.errors import EdgeError


class CenterError(EdgeError):
    """The center cannot do what was asked; the message says what to fix."""


__all__ = ["CenterError"]
