"""Several runs' summaries figure by figure: each run's value and its difference from the first run's (the
baseline). `compare` prints it as a table; the HTML report shows the same rows."""

from __future__ import annotations

from typing import Any

from burststudio import figures

ROWS = figures.pick("sent", "finished", "failed", "cancelled", "goodput", "ttft_p50", "ttft_p99", "tpot_p50",
                    "tpot_p99", "itl_p99", "e2e_p99", "lateness_p99", "requests_per_s", "output_tokens_per_s",
                    "kv_peak", "waiting_peak", "preemptions") + (
    figures.in_burst("busy", "ttft_p99"), figures.in_burst("busy", "failed_share"),
    figures.in_burst("calm", "ttft_p99"))


def compare(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure (in its unit): each run's value, and its difference (absolute and relative) from the first run's."""
    rows = []
    for f in ROWS:
        values = [figures.number(s, f) for s in summaries]
        base = values[0]
        diffs, rel = [], []
        for v in values[1:]:
            d = v - base if v is not None and base is not None else None
            diffs.append(d)
            rel.append(d / base if d is not None and base else None)
        rows.append({"figure": f.label, "values": values, "diff": diffs, "relative": rel,
                     "lower_is_better": f.better == figures.LOWER})
    return {"runs": [s.get("run_dir") for s in summaries], "names": [s.get("name") for s in summaries],
            "rows": rows}


def diff_text(fig: figures.Figure, diff: float | None, relative: float | None) -> str:
    """A difference from the baseline in the figure's own format, signed, with its relative size."""
    if diff is None:
        return figures.MISSING
    return figures.fmt_delta(fig, diff) + (f" ({relative:+.0%})" if relative is not None else "")


def better(row: dict[str, Any], diff: float | None) -> bool | None:
    """Whether a difference is an improvement (None when there is none)."""
    if not diff:
        return None
    return (diff < 0) == row["lower_is_better"]
