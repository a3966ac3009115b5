"""The Results screen: the runs in runs/, one summary at a time, or several compared side by side."""

from __future__ import annotations

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from burststudio import rundir
from burststudio.studio import runs as runs_mod
from burststudio.studio.config import StudioConfig
from burststudio.studio.messages import RunsRefreshed
from burststudio.studio.preview import _histogram
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.nav_bar import NavBar
from burststudio.studio.widgets.run_list import RunList
from burststudio.studio.widgets.summary_panel import SummaryPanel
from burststudio.vocab import KV_CACHE_USAGE, RUNNING, SAMPLE_TIME, WAITING


class ResultsScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "compare", "Compare marked"),
        Binding("g", "refresh_runs", "Refresh"),
    ]

    def __init__(self, config: StudioConfig) -> None:
        super().__init__(id="results-screen")
        self.config = config

    def compose(self) -> ComposeResult:
        yield NavBar("results", self.app.draft.target_description())
        with Horizontal(id="results-body"):
            with Vertical(id="results-side"):
                yield RunList(id="run-list")
            with VerticalScroll(id="results-main"):
                yield SummaryPanel(id="summary")
                with Horizontal(id="results-charts"):
                    yield Chart("TTFT ms", id="latency-chart", y_labels=False)
                    yield Chart("KV % · queue over time", id="kv-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def action_refresh_runs(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        if not self.is_mounted:
            return  # not shown yet: it reads runs/ when it mounts
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
        requests = runs_mod.read_table(path / rundir.REQUESTS_PARQUET)
        metrics = runs_mod.read_table(path / rundir.METRICS_PARQUET)
        self.app.call_from_thread(self._draw_series, requests, metrics)

    def _draw_series(self, requests, metrics) -> None:
        latency = self.query_one("#latency-chart", Chart)
        values = runs_mod.ttft_ms(requests) if requests is not None and not requests.empty else np.zeros(0)
        if values.size:
            h = _histogram(values)
            latency.draw_bars(h.centers, h.density, h.width, style="#0087ff")
        else:
            latency.draw_lines([])
        kv = self.query_one("#kv-chart", Chart)
        if metrics is None or metrics.empty or SAMPLE_TIME not in metrics.columns:
            kv.draw_lines([])
            return
        t = metrics[SAMPLE_TIME].to_numpy(dtype=float)
        series = []
        for column, scale, style, label in ((KV_CACHE_USAGE, 100.0, "#ffaf00", "KV %"),
                                            (WAITING, 1.0, "#ff5f5f", "waiting"),
                                            (RUNNING, 1.0, "#5fd700", "running")):
            if column in metrics.columns:
                series.append((t, metrics[column].to_numpy(dtype=float) * scale, style, label))
        kv.draw_lines(series)
