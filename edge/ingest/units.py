"""Units sensors may send, and the one unit each is stored in.

Devices on a site speak whatever their maker chose (mph, knots, °F, inHg);
the box stores one unit per dimension so rules, charts and drafts compare
like with like. A unit not in this table is refused, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    canonical: str  # the unit readings are stored in
    to_canonical: Callable[[float], float]


def _scale(factor: float) -> Callable[[float], float]:
    return lambda v: v * factor


def _same(v: float) -> float:
    return v


_SPEED = {"km/h": 1.0, "kmh": 1.0, "kph": 1.0, "m/s": 3.6, "mph": 1.609344, "knots": 1.852, "knot": 1.852,
          "kn": 1.852, "kt": 1.852}
_PRESSURE = {"hpa": 1.0, "mbar": 1.0, "pa": 0.01, "kpa": 10.0, "inhg": 33.8638866667, "mmhg": 1.33322387415}
_LENGTH = {"mm": 1.0, "cm": 10.0, "in": 25.4}

UNITS: dict[str, Unit] = {
    **{name: Unit("km/h", _scale(f)) for name, f in _SPEED.items()},
    **{name: Unit("hPa", _scale(f)) for name, f in _PRESSURE.items()},
    **{name: Unit("mm", _scale(f)) for name, f in _LENGTH.items()},
    **{name: Unit("°C", _same) for name in ("°c", "c", "degc", "celsius")},
    **{name: Unit("°C", lambda v: (v - 32.0) * 5.0 / 9.0) for name in ("°f", "f", "degf", "fahrenheit")},
    "k": Unit("°C", lambda v: v - 273.15),
    # Sound levels: A-weighted and unweighted decibels are different measurements; both are kept as sent.
    "db": Unit("dB", _same),
    "db(a)": Unit("dBA", _same),
    "dba": Unit("dBA", _same),
    "%": Unit("%", _same),
    "%rh": Unit("%", _same),
    "°": Unit("°", _same),
    "deg": Unit("°", _same),
    "lx": Unit("lx", _same),
    "lux": Unit("lx", _same),
    "v": Unit("V", _same),
    "mv": Unit("V", _scale(0.001)),
    "ppm": Unit("ppm", _same),
    "µg/m³": Unit("µg/m³", _same),
    "ug/m3": Unit("µg/m³", _same),
    "w/m²": Unit("W/m²", _same),
    "w/m2": Unit("W/m²", _same),
}


class UnknownUnit(ValueError):
    pass


def normalise(value: float, unit: str) -> tuple[float, str]:
    """(value, unit) in the stored unit; UnknownUnit names what is accepted."""
    entry = UNITS.get(unit.strip().lower())
    if entry is None:
        raise UnknownUnit(f"unknown unit {unit!r}; known units: {', '.join(known_units())}")
    return entry.to_canonical(value), entry.canonical


def canonical_unit(unit: str) -> str:
    """The stored unit for `unit` (rules are written in any known unit)."""
    return normalise(0.0, unit)[1]


def known_units() -> list[str]:
    return sorted(UNITS)
