"""Media ingest: files, URLs, RTSP cameras and capture devices as typed events."""

import importlib

__all__ = ["MediaInfo", "RetryPolicy", "open_media", "probe_media"]


def __getattr__(name: str):
    # GStreamer is loaded when media is first opened, not by every module under edge.ingest: the `edge`
    # command line (through the broker's and sensors' modules) paid for it on every subcommand.
    if name in __all__:
        return getattr(importlib.import_module("edge.ingest.gstreamer"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
