"""Store-and-forward sync from the box to the newsroom's resource center.

Assets go over ZeroMQ (CurveZMQ, chunked, resumable: zmq_transfer), small
notices over MQTT (mqtt_link); the outbox decides what goes first and
remembers progress; Syncer runs the loop. The receiving side is
cloud_sync.center.
"""

from __future__ import annotations

import importlib

__all__ = ["SyncConfig", "Syncer"]
_HOME = {"SyncConfig": "cloud_sync.config", "Syncer": "cloud_sync.syncer"}


def __getattr__(name: str):
    # Loaded when first asked for: the center and its CLI never need the box's sync loop (MQTT, the outbox,
    # the store), and every `edge-center` command paid for importing it.
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
