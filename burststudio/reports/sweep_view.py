"""What a report shows of a sweep folder (sweep.json of `burststudio sweep`) besides its runs."""

from __future__ import annotations

from typing import Any


def plot_key(sweep: dict[str, Any]) -> str | None:
    """The one numeric key a sweep's knee plot can run along: its only dimension, or the searched key."""
    if sweep.get("search"):
        return sweep["search"]["key"]
    dims = sweep.get("dimensions") or ({"rate-scale": sweep.get("scales")} if sweep.get("scales") else {})
    if len(dims) == 1:
        (key, values), = dims.items()
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values or []):
            return key
    return None
