"""Store-and-forward sync from the box to the newsroom's resource center.

Assets go over ZeroMQ (CurveZMQ, chunked, resumable: zmq_transfer), small
notices over MQTT (mqtt_link); the outbox decides what goes first and
remembers progress; Syncer runs the loop. The receiving side is
cloud_sync.center.
"""

from __future__ import annotations

from cloud_sync.config import SyncConfig
from cloud_sync.syncer import Syncer

__all__ = ["SyncConfig", "Syncer"]
