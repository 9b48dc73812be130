"""Alerts a crew must act on: a stream down, the disk low, the link to the newsroom lost.

Evaluated on the box (edge/runtime/monitor.py calls `evaluate` every couple of
seconds), with hysteresis so a flapping camera or a disk hovering at its floor
does not raise and clear an alert on every look:

- a condition must hold for `raise_after_s` before its alert is raised, and be
  gone for `clear_after_s` before it clears (a stream that is removed clears at once);
- the disk alert raises below the retention floor and clears only once free
  space is back above the floor by `disk_clear_margin`.

Pure: it is given what the box looks like now and says what was raised and cleared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AlertKind = Literal["stream_down", "disk_low", "sync_lost", "sensor"]
DOWN_STATES = frozenset({"retrying", "failed"})


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # one alert per key: "stream_down:cam1", "disk_low", "sync_lost"
    kind: AlertKind
    message: str  # for the crew: what is wrong and what to do
    since: float  # when the condition began (wall clock)
    stream: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "message": self.message, "since": self.since,
                "stream": self.stream}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the box looks like now (the parts alerts are about)."""

    now: float
    streams: list[Mapping[str, Any]]  # name, state, message (as /api/streams shows them)
    disk_free: int
    disk_floor: int
    disk_alarm: bool = False
    sync: Mapping[str, Any] | None = None  # the syncer's link state; None when the box is not paired
    # Sensor threshold rules raised now (edge/ingest/sensor_rules.py: rule, device, text); their own
    # hysteresis already applies, so they are shown at once and end when the rule clears.
    sensors: list[Mapping[str, Any]] = field(default_factory=list)


@dataclass
class AlertPolicy:
    stream_raise_after_s: float = 10.0
    sync_raise_after_s: float = 60.0
    disk_raise_after_s: float = 0.0  # a full disk loses captions: say so at once
    clear_after_s: float = 10.0
    disk_clear_margin: float = 0.10  # of the floor


@dataclass
class _Watch:
    bad_since: float | None = None
    good_since: float | None = None
    message: str = ""
    stream: str | None = None


@dataclass
class Alerts:
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _active: dict[str, Alert] = field(default_factory=dict)

    def active(self) -> list[Alert]:
        return sorted(self._active.values(), key=lambda a: (a.since, a.key))

    def evaluate(self, snap: Snapshot) -> tuple[list[Alert], list[Alert]]:
        """Update from `snap`; returns (raised, cleared) alerts."""
        p = self.policy
        raised: list[Alert] = []
        cleared: list[Alert] = []
        seen: set[str] = set()

        def observe(key: str, bad: bool, still_bad: bool, raise_after: float, message: str,
                    stream: str | None = None) -> None:
            """`bad` raises (after raise_after); once raised, the alert holds while `still_bad`."""
            seen.add(key)
            w = self._watches.setdefault(key, _Watch(stream=stream))
            is_active = key in self._active
            if bad or (is_active and still_bad):
                w.good_since = None
                if w.bad_since is None:
                    w.bad_since = snap.now
                w.message = message
                if not is_active and snap.now - w.bad_since >= raise_after:
                    alert = Alert(key, key.split(":")[0], message, w.bad_since, stream)  # type: ignore[arg-type]
                    self._active[key] = alert
                    raised.append(alert)
                elif is_active and self._active[key].message != message:
                    old = self._active[key]
                    self._active[key] = Alert(key, old.kind, message, old.since, stream)
                return
            w.bad_since = None
            if is_active:
                if w.good_since is None:
                    w.good_since = snap.now
                if snap.now - w.good_since >= p.clear_after_s:
                    cleared.append(self._active.pop(key))
                    w.good_since = None

        for s in snap.streams:
            name, state = str(s["name"]), str(s["state"])
            down = state in DOWN_STATES
            reason = (s.get("message") or "").strip() or "no reason given"
            verb = "failed" if state == "failed" else "is down and the box keeps retrying"
            observe(f"stream_down:{name}", down, down, p.stream_raise_after_s,
                    f"Stream {name} {verb}: {reason}", stream=name)

        low = snap.disk_alarm or snap.disk_free < snap.disk_floor
        recovered = not snap.disk_alarm and snap.disk_free >= snap.disk_floor * (1 + p.disk_clear_margin)
        observe("disk_low", low, not recovered, p.disk_raise_after_s, _disk_message(snap))

        if snap.sync is not None:
            state = snap.sync.get("state")
            lost = state != "up"
            error = snap.sync.get("last_error") or "the center does not answer"
            observe("sync_lost", lost, lost, p.sync_raise_after_s,
                    f"Link to the newsroom lost ({error}); captions and uploads wait on the box and go when it is back")

        for s in snap.sensors:
            observe(f"sensor:{s['rule']}:{s['device']}", True, True, 0.0, str(s["text"]))

        # Streams that were removed (and sensor rules that cleared): their alerts end now, not after clear_after_s.
        for key in [k for k in self._watches if k not in seen]:
            del self._watches[key]
            if key in self._active:
                cleared.append(self._active.pop(key))
        return raised, cleared


def _disk_message(snap: Snapshot) -> str:
    free_mb = snap.disk_free / 1e6
    if snap.disk_alarm:
        return (f"Disk almost full ({free_mb:.0f} MB free) and everything left is unsynced: new captions and "
                "uploads may be refused. Free space or sync now")
    return f"Disk low ({free_mb:.0f} MB free, below the {snap.disk_floor / 1e6:.0f} MB floor): the oldest synced media is being removed"
