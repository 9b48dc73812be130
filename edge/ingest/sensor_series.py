"""Sensor readings leave for the newsroom as `sensor_series` assets: one per device and hour (JSON lines).

A post-processor over the `sensor` records after its cursor. A chunk is
written once its hour has ended (plus a grace for late readings), so the
usual result is one asset per device and hour; readings that arrive after
their hour was written (a device that was offline) go out as one more part
of that hour. The cursor moves in the same transaction as the asset, so a
crash neither repeats nor skips a reading. `flush()` (the box stopping)
writes the hour in progress too.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable

from edge.store import AssetStore, Record
from edge.store.records import SENSOR

SERIES_MIME = "application/x-ndjson"
HOUR = 3600.0
GRACE_S = 120.0  # late readings of an hour that just ended still join its chunk
MAX_RECORDS = 50_000  # per step


def series_line(r: Record) -> dict:
    return {"ts": round(r.wall_start, 3), "quantity": r.data.get("quantity"), "value": r.data.get("value"),
            "unit": r.data.get("unit"), **({"seq": r.data["seq"]} if r.data.get("seq") is not None else {}),
            **({"late": True} if r.data.get("late") else {}), "record": r.seq}


class SensorSeriesWriter:
    name = "sensor-series"

    def __init__(self, store: AssetStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def step(self) -> int:
        return self._write(force=False)

    def flush(self) -> int:
        return self._write(force=True)

    def _write(self, *, force: bool) -> int:
        after = self._store.cursor(self.name)
        records = self._store.records.read(type=SENSOR, after=after, limit=MAX_RECORDS)
        closed_before = self._clock() - GRACE_S
        # Only a prefix whose hours have all ended can go: the cursor is a seq, so it cannot skip one.
        ready: list[Record] = []
        for r in records:
            if not force and _hour(r.wall_start) + HOUR > closed_before:
                break
            ready.append(r)
        if not ready:
            return 0
        chunks: dict[tuple[str, float], list[Record]] = defaultdict(list)
        for r in ready:
            chunks[(r.stream, _hour(r.wall_start))].append(r)
        items = []
        for (device, hour), rs in sorted(chunks.items()):
            label = time.strftime("%Y%m%d-%H", time.gmtime(hour))
            body = "".join(json.dumps(series_line(r), ensure_ascii=False) + "\n" for r in rs).encode()
            quantities = sorted({str(r.data.get("quantity")) for r in rs})
            items.append({
                "data": body, "kind": "sensor_series", "mime": SERIES_MIME, "stream": device, "run": rs[0].run,
                "name": f"{device}-{label}-{rs[0].seq}-{rs[-1].seq}.jsonl",
                "tags": ["sensors", *(["demo"] if any(r.data.get("demo") for r in rs) else [])],
                "text": f"sensor readings {device} {' '.join(quantities)} {label}",
                "meta": {"device": device, "hour": hour, "quantities": quantities, "count": len(rs),
                         "first_record": rs[0].seq, "last_record": rs[-1].seq,
                         "wall_start": min(r.wall_start for r in rs), "wall_end": max(r.wall_start for r in rs)},
            })
        last = ready[-1].seq
        self._store.add_many(items, on_commit=lambda db: db.execute(
            "INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (self.name, last)))
        return len(items)


def _hour(ts: float) -> float:
    return ts - ts % HOUR
