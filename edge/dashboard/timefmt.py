"""One way to show times and durations on every page.

Clock times are local HH:MM:SS, with the date in front when not today. The
server renders them in its own zone inside `<time data-t=...>`; common.js
re-renders every such element in the phone's zone with the same rule, so a
page never shows two formats. Durations have units: "1 h 57 min", "4 min 10 s".
"""

from __future__ import annotations

import time
from datetime import datetime

from markupsafe import Markup, escape

NONE = "–"


def clock_text(t: float | None, now: float | None = None) -> str:
    if not t:
        return NONE
    when = datetime.fromtimestamp(t)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    return when.strftime("%H:%M:%S") if when.date() == today else when.strftime("%Y-%m-%d %H:%M:%S")


def clock_html(t: float | None) -> Markup:
    if not t:
        return Markup(NONE)
    iso = datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
    return Markup('<time datetime="{}" data-t="{}">{}</time>').format(iso, escape(f"{t:.3f}"), clock_text(t))


def span(seconds: float | None) -> str:
    """A length of time for people: '45 s', '4 min 10 s', '1 h 57 min', '3 d 2 h'."""
    if seconds is None:
        return NONE
    s = max(int(seconds), 0)
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m} min"
    if m:
        return f"{m} min {sec} s"
    return f"{sec} s"
