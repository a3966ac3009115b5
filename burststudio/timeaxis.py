"""The unit a time axis is labelled in, one rule for the studio's charts and the report's figures."""

from __future__ import annotations

# (seconds per unit, name), largest first: an axis takes the largest unit it spans at least two of, so its ticks
# read "0 min, 2 min, 4 min" rather than "0 s, 120 s, 240 s", and a 60-day trace reads 0 to 60 d.
UNITS: tuple[tuple[float, str], ...] = ((86400.0, "d"), (3600.0, "h"), (60.0, "min"))


def time_unit(span_s: float) -> tuple[float, str]:
    """(seconds per unit, unit name) for an axis reaching `span_s` seconds."""
    for unit_s, name in UNITS:
        if span_s >= 2 * unit_s:
            return unit_s, name
    return 1.0, "s"
