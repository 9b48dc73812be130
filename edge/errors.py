"""Expected failures, each carrying the problem and the fix a crew can apply.

Anything raised as an EdgeError is shown to the user as one line and a
non-zero exit; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class EdgeError(Exception):
    """A failure we expect in the field, phrased for the person who must fix it."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem} (fix: {self.fix})" if self.fix else self.problem


class ModelError(EdgeError):
    """A model is missing, corrupted or cannot be loaded by its backend."""


class ConfigError(EdgeError):
    """A profile or configuration file is invalid; the message names the field."""


class MediaError(EdgeError):
    """A media source cannot be opened or decoded."""


class SourceUnavailable(MediaError):
    """A live source (camera, microphone, RTSP URL) cannot be reached right now."""
