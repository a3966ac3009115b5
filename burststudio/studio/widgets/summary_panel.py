"""One run's summary figures, or two and more side by side."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from burststudio import figures
from burststudio.studio.runs import (FIGURES, Run, burst_rows, client_cell, episode_rows, failures_line,
                                     warnings)


class SummaryPanel(Static):
    DEFAULT_CSS = """
    SummaryPanel { height: auto; }
    """

    def show_runs(self, runs: list[Run]) -> None:
        if not runs:
            self.update("[dim]no run selected: runs appear here when a replay writes to runs/[/]")
            return
        table = Table(expand=True, box=None, padding=(0, 1), show_edge=False)
        # Compared runs are headed by their number (the lines above name them), so a narrow screen keeps the labels.
        table.add_column("figure", style="dim", no_wrap=True, min_width=max(len(f.label) for f in FIGURES))
        for k, run in enumerate(runs):
            table.add_column(str(k) if len(runs) > 1 else "value", justify="right", no_wrap=True,
                             overflow="ellipsis", max_width=28, ratio=1)
        for f in FIGURES:
            table.add_row(f.label, *[figures.show(r.summary, f) for r in runs])
        table.add_row("failures", *[failures_line(r.summary) for r in runs])
        table.add_row("client", *[client_cell(r.summary) for r in runs])
        if len(runs) == 1:
            rows = burst_rows(runs[0].summary)
            if rows:
                table.add_row("", "")
                table.add_row("[b]burst episodes / calm[/]", "")
                for key, hot, calm in rows:
                    table.add_row(key, f"{hot} / {calm}" if calm else hot)
                for when, what in episode_rows(runs[0].summary):
                    table.add_row(f"  {when}", what)
        notes = warnings(runs[0].summary) if len(runs) == 1 else []
        self.update(Group(table, *(Text.from_markup(n) for n in notes)) if notes else table)
