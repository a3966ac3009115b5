"""The Results screen: the runs in runs/, one summary at a time, or several compared side by side."""

from __future__ import annotations

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from burststudio.studio import runs as runs_mod
from burststudio.studio.config import StudioConfig
from burststudio.studio.messages import RunsRefreshed
from burststudio.studio.preview import _histogram
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.nav_bar import NavBar
from burststudio.studio.widgets.run_list import RunList
from burststudio.studio.widgets.summary_panel import SummaryPanel


class ResultsScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "compare", "Compare marked"),
        Binding("g", "refresh_runs", "Refresh"),
    ]

    def __init__(self, config: StudioConfig) -> None:
        super().__init__(id="results-screen")
        self.config = config

    def compose(self) -> ComposeResult:
        yield NavBar("results", self.config.target_description())
        with Horizontal(id="results-body"):
            with Vertical(id="results-side"):
                yield RunList(id="run-list")
            with VerticalScroll(id="results-main"):
                yield SummaryPanel(id="summary")
                with Horizontal(id="results-charts"):
                    yield Chart("TTFT ms (distribution)", id="latency-chart")
                    yield Chart("KV % and waiting over time", id="kv-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def action_refresh_runs(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        found = runs_mod.list_runs(self.config.runs_dir)
        run_list = self.query_one(RunList)
        keep = run_list.current()
        run_list.set_runs(found)
        if keep is not None:
            for i, r in enumerate(found):
                if r.name == keep.name:
                    run_list.move_cursor(row=i)
        self._show_current()
        self.post_message(RunsRefreshed([r.name for r in found]))

    @on(DataTable.RowHighlighted, "#run-list")
    def _row_highlighted(self) -> None:
        self._show_current()

    def _show_current(self) -> None:
        run = self.query_one(RunList).current()
        self.query_one(SummaryPanel).show_runs([run] if run else [])
        if run is not None:
            self.load_series(run.path)

    def action_compare(self) -> None:
        run_list = self.query_one(RunList)
        chosen = [r for r in run_list.runs if r.name in run_list.marked]
        if len(chosen) < 2:
            self.notify("Mark two or more runs with space, then press c.", severity="warning")
            return
        self.query_one(SummaryPanel).show_runs(chosen)

    @work(thread=True, exclusive=True, group="run-series")
    def load_series(self, path) -> None:
        requests = runs_mod.read_table(path / "requests.parquet")
        metrics = runs_mod.read_table(path / "metrics.parquet")
        self.app.call_from_thread(self._draw_series, requests, metrics)

    def _draw_series(self, requests, metrics) -> None:
        latency = self.query_one("#latency-chart", Chart)
        col = runs_mod.pick_column(requests.columns, "ttft") if requests is not None else None
        if col is not None:
            values = requests[col].dropna().to_numpy(dtype=float) * 1000.0
            h = _histogram(values)
            latency.draw_bars(h.centers, h.density, h.width, style="dodger_blue1")
        else:
            latency.draw_lines([])
        kv = self.query_one("#kv-chart", Chart)
        if metrics is None or metrics.empty:
            kv.draw_lines([])
            return
        tcol = runs_mod.pick_column(metrics.columns, "t_s", "time", "elapsed", "t")
        series = []
        for needles, style in ((("kv_cache", "kv"), "orange1"), (("waiting",), "red"), (("running",), "green")):
            c = runs_mod.pick_column(metrics.columns, *needles)
            if c is None or tcol is None:
                continue
            y = metrics[c].to_numpy(dtype=float)
            if "kv" in c.lower() and np.nanmax(y, initial=0) <= 1.0:
                y = y * 100.0
            series.append((metrics[tcol].to_numpy(dtype=float), y, style, c))
        kv.draw_lines(series)
