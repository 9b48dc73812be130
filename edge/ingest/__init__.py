"""Media ingest: files, URLs, RTSP cameras and capture devices as typed events."""

from edge.ingest.gstreamer import MediaInfo, RetryPolicy, open_media, probe_media

__all__ = ["MediaInfo", "RetryPolicy", "open_media", "probe_media"]
