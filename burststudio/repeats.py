"""N runs of one experiment (`replay --repeat N`): each summary figure's mean and 95% confidence interval, and
whether two such sets differ beyond their noise.

The interval is Student's t over the runs' values (mean +- t(0.975, n-1) * sd / sqrt(n)); two sets differ beyond
noise when Welch's t-test on their values gives p < 0.05. A figure some runs lack (no TTFT in a run where nothing
finished) is summarised over the runs that have it, and says how many. repeat.json sits in the folder beside the
runs (`rep-1/`, `rep-2/`, ...).
"""

from __future__ import annotations

import math
from typing import Any

from burststudio import figures

REPEAT = "repeat.json"
RUN_PREFIX = "rep-"
ALPHA = 0.05


def interval(values: list[float]) -> dict[str, Any]:
    """{n, mean, sd, ci95: [low, high]} of the values (sd and ci95 null under two values)."""
    from scipy import stats

    n = len(values)
    if not n:
        return {"n": 0, "mean": None, "sd": None, "ci95": None}
    mean = sum(values) / n
    if n < 2:
        return {"n": n, "mean": mean, "sd": None, "ci95": None}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci95": [mean - half, mean + half]}


def aggregate(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure of `figures.FIGURES` (in its shown unit): the runs' values, their mean, sd and ci95."""
    out: dict[str, Any] = {}
    for f in figures.FIGURES:
        values = [v for v in (figures.number(s, f) for s in summaries) if v is not None]
        out[f.key] = {"label": f.label, "values": values, **interval(values)}
    return out


def differs(a: list[float], b: list[float]) -> dict[str, Any]:
    """Welch's t-test of two sets of one figure: {p, beyond_noise} (null p when either has under two values or
    neither varies)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return {"p": None, "beyond_noise": None}
    if max(a) == min(a) and max(b) == min(b):
        return {"p": None if a[0] == b[0] else 0.0, "beyond_noise": a[0] != b[0]}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical values: the test says so through p
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    if not math.isfinite(p):
        return {"p": None, "beyond_noise": None}
    return {"p": p, "beyond_noise": p < ALPHA}


def shown(fig: figures.Figure, entry: dict[str, Any]) -> str:
    """"mean +- half-interval" in the figure's format ("-" when no run has it)."""
    if entry.get("mean") is None:
        return figures.MISSING
    text = figures.fmt(fig, entry["mean"])
    if entry.get("ci95"):
        text += " ± " + figures.fmt(fig, (entry["ci95"][1] - entry["ci95"][0]) / 2)
    return text


def is_repeat(path: str) -> bool:
    """Whether `path` is a folder of `--repeat` (it holds repeat.json)."""
    from pathlib import Path

    return (Path(path) / REPEAT).is_file()


def read_repeat(path: str) -> dict:
    """A folder's repeat.json (one line naming the file when it is not one)."""
    from pathlib import Path

    from burststudio import json_text
    from burststudio.errors import InputFileError

    file = Path(path) / REPEAT
    try:
        out = json_text.loads(file.read_bytes())
        if not isinstance(out, dict) or not isinstance(out.get("figures"), dict):
            raise ValueError
        return out
    except (OSError, ValueError):
        raise InputFileError(str(file), "not a repeat description (repeat.json of `--repeat`)") from None
