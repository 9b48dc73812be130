"""One time format on every page: page scripts format times only through edge.clock (common.js)."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "edge" / "dashboard" / "static"


def test_no_page_script_formats_times_by_the_browsers_locale():
    # toLocaleString() gives "11/30/2026, 11:40:58 PM" on one phone and "30.11.2026, 23:40:58" on
    # another, beside the box's own "23:39" in alert texts: the sensors page once did this.
    offenders = [f"{js.name}:{n}" for js in sorted(STATIC.glob("*.js"))
                 for n, line in enumerate(js.read_text().splitlines(), 1)
                 if re.search(r"\.toLocale(Date|Time)?String\(", line)]
    assert offenders == [], f"format times with edge.clock instead: {offenders}"
