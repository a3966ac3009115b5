"""The preview's statistics: `inspect`'s figures (rate, CV, IDC, peak-to-mean, length quantiles) for a summary."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.reactive import reactive
from textual.widgets import Static


def _f(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


class StatsPanel(Static):
    DEFAULT_CSS = """
    StatsPanel { height: auto; }
    """

    stats: reactive[dict | None] = reactive(None, layout=True)

    def render(self):
        s = self.stats
        if not s:
            return "[dim]no workload yet[/]"
        idc = s.get("idc") or {}
        p, o = s.get("prompt_tokens") or {}, s.get("output_tokens") or {}
        rows = [
            ("requests", _f(s.get("requests")), "duration s", _f(s.get("duration_s"), 1)),
            ("rate /s", _f(s.get("rate_rps")), "gap CV", _f(s.get("interarrival_cv"))),
            ("IDC 1s", _f(idc.get("1s")), "IDC 10s", _f(idc.get("10s"))),
            ("IDC 60s", _f(idc.get("60s")), "peak/mean", _f(s.get("peak_to_mean_1s"))),
            ("prompt p50", _f(p.get("p50"), 0), "prompt p99", _f(p.get("p99"), 0)),
            ("output p50", _f(o.get("p50"), 0), "output p99", _f(o.get("p99"), 0)),
            ("prompt mean", _f(p.get("mean"), 1), "failed", _f(s.get("failed_share"), 3)),
        ]
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column(style="dim", no_wrap=True)
        table.add_column(justify="right", style="bold", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        return table
