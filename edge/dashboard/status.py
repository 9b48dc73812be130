"""What the box says about itself on every page: its id and the one-line status banner.

The box id is read here and nowhere else in the dashboard, so the header,
/api/status and /api/health cannot disagree: the box's own `box_id` (the
identity `edge init --box-id` gave it) when it has one, else the config's.
"""

from __future__ import annotations

from typing import Any

from edge.runtime.monitor import Monitor


def box_id_of(box: Any) -> str:
    own = getattr(box, "box_id", None)
    return str(own) if own else str(box.config.box_id)


def banner(box: Any) -> dict[str, Any]:
    """Box, streams, sync and disk, each OK or what is wrong in words; plus the active alerts."""
    monitor = Monitor.of(box)
    alerts = monitor.alerts.active()
    streams = [s.to_json() for s in box.supervisor.streams()]
    down = {a.stream for a in alerts if a.kind == "stream_down"}
    parts: list[dict[str, Any]] = [{"key": "box", "ok": True, "text": f"Box {box_id_of(box)} OK"}]

    playing = sum(1 for s in streams if s["state"] == "playing")
    if not streams:
        parts.append({"key": "streams", "ok": True, "text": "No streams"})
    elif down:
        parts.append({"key": "streams", "ok": False,
                      "text": f"Stream{'s' if len(down) > 1 else ''} down: {', '.join(sorted(down))}"})
    else:
        parts.append({"key": "streams", "ok": True, "text": f"Streams OK ({playing} of {len(streams)} playing)"})

    sync = box.sync_state()
    if sync is None:
        parts.append({"key": "sync", "ok": True, "text": "Sync not set up (edge pair)"})
    elif any(a.kind == "sync_lost" for a in alerts):
        parts.append({"key": "sync", "ok": False, "text": "Sync link lost"})
    elif sync.get("state") == "up":
        parts.append({"key": "sync", "ok": True, "text": f"Sync OK ({sync.get('queue_depth', 0)} waiting)"})
    else:
        parts.append({"key": "sync", "ok": True, "text": "Sync connecting"})

    disk = box.store.disk_status()
    free_gb = disk.free / 1e9
    if any(a.kind == "disk_low" for a in alerts):
        parts.append({"key": "disk", "ok": False, "text": f"Disk low ({free_gb:.1f} GB free)"})
    else:
        parts.append({"key": "disk", "ok": True, "text": f"Disk OK ({free_gb:.1f} GB free)"})
    return {"ok": all(p["ok"] for p in parts), "parts": parts, "alerts": [a.to_json() for a in alerts]}
