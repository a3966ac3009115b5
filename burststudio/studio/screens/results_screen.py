"""The Results screen: the runs in runs/, one at a time or several compared, each with what it ran against, how it
ended, its figures and its course over time (arrivals, TTFT, failures and KV-cache usage on one time axis, the
summary's burst episodes shaded).

Compare mode (`c` on two or more marked runs) lasts until `escape` or `c` again: moving through the list, reading
runs/ again or visiting another screen keeps it, and its charts overlay every compared run.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from burststudio import rundir
from burststudio.studio import runs as runs_mod
from burststudio.studio import timeline as tl
from burststudio.studio.config import StudioConfig
from burststudio.studio.messages import RunsRefreshed
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.nav_bar import NavBar
from burststudio.studio.widgets.run_ending import RunEnding
from burststudio.studio.widgets.run_list import RunList, cut, split_name
from burststudio.studio.widgets.summary_panel import SummaryPanel

# One colour a compared run, in the order they were marked in the list (the first is the baseline).
RUN_COLOURS = ("#0087ff", "#ffaf00", "#5fd700", "#ff5f5f", "#af87ff", "#00d7d7", "#d7d75f", "#ff87d7")
ARRIVALS, FAILED, P50, P99, KV = "#5f87ff", "#ff5f5f", "#5fd700", "#ffaf00", "#ffaf00"
# From this width of the main area the figures and the charts sit side by side (a single run).
WIDE_MAIN = 90
CHARTS = ("arrivals-chart", "latency-chart", "failures-chart", "kv-chart")


class ResultsScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "compare", "Compare marked"),
        Binding("escape", "leave_compare", "One run", show=False),
        Binding("g", "refresh_runs", "Refresh"),
        Binding("h", "html_report", "HTML report"),
    ]

    def __init__(self, config: StudioConfig) -> None:
        super().__init__(id="results-screen")
        self.config = config
        self.compared: list[str] = []  # names of the compared runs; empty: one run at a time
        self.shown: list[runs_mod.Run] = []  # the runs the panel and charts show now
        self.drawn: list[str] = []  # the runs the charts show now (names)

    def compose(self) -> ComposeResult:
        yield NavBar("results", self.app.draft.target_description())
        with Horizontal(id="results-body"):
            with Vertical(id="results-side"):
                yield RunList(id="run-list")
            with VerticalScroll(id="results-main"):
                yield RunEnding(id="run-ending")
                with Horizontal(id="results-detail"):
                    yield SummaryPanel(id="summary")
                    with Vertical(id="results-charts"):
                        yield Chart("arrivals / s", id="arrivals-chart", time_axis=True)
                        yield Chart("TTFT ms", id="latency-chart", time_axis=True)
                        yield Chart("failed / s", id="failures-chart", time_axis=True)
                        yield Chart("KV cache %", id="kv-chart", time_axis=True)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_runs()

    def on_screen_resume(self) -> None:
        self.refresh_runs()

    def on_resize(self) -> None:
        self._place()

    def _place(self) -> None:
        """Figures beside the charts when the main area is wide and one run is shown; above them otherwise."""
        main = self.query_one("#results-main")
        wide = main.size.width >= WIDE_MAIN and len(self.shown) <= 1
        self.query_one("#results-detail").set_class(wide, "-wide")

    def action_refresh_runs(self) -> None:
        self.refresh_runs()

    def refresh_runs(self) -> None:
        if not self.is_mounted:
            return  # not shown yet: it reads runs/ when it mounts
        found = runs_mod.list_runs(self.config.runs_dir, active=self._active_run())
        self.query_one(RunList).set_runs(found)
        self._show_current()
        self.post_message(RunsRefreshed([r.name for r in found]))

    def _active_run(self) -> Path | None:
        """The run directory the studio's own engine writes now (starting its target, or replaying)."""
        replay = self.app.get_screen("replay")
        engine = getattr(replay, "engine", None)
        return getattr(replay, "run_dir", None) if engine is not None and engine.running else None

    @on(DataTable.RowHighlighted, "#run-list")
    def _row_highlighted(self) -> None:
        self._show_current()

    def current_run(self) -> runs_mod.Run | None:
        return self.query_one(RunList).current()

    def _show_current(self) -> None:
        run_list = self.query_one(RunList)
        by_name = {r.name: r for r in run_list.runs}
        compared = [by_name[n] for n in self.compared if n in by_name]
        if len(compared) >= 2:
            chosen = compared
        else:
            self.compared = []
            run = run_list.current()
            chosen = [run] if run is not None else []
        self.shown = chosen
        self.query_one(RunEnding).show_runs(chosen)
        self.query_one(SummaryPanel).show_runs(chosen)
        self._place()
        self.load_series(chosen)

    def action_compare(self) -> None:
        run_list = self.query_one(RunList)
        chosen = [r.name for r in run_list.runs if r.name in run_list.marked]
        if self.compared and (len(chosen) < 2 or chosen == self.compared):
            self.action_leave_compare()
            return
        if len(chosen) < 2:
            self.notify("Mark two or more runs with space, then press c.", severity="warning")
            return
        self.compared = chosen
        self._show_current()

    def action_leave_compare(self) -> None:
        if self.compared:
            self.compared = []
            self._show_current()

    def action_html_report(self) -> None:
        """The shared HTML report of the runs shown: into the run's directory (report.html), or for compared runs
        into runs/ (report-<time>.html); said when written."""
        chosen = [r for r in self.shown if r.summary is not None]
        if not chosen:
            self.notify("No run with a summary to report.", severity="warning")
            return
        if len(chosen) == 1:
            out = chosen[0].path / "report.html"
        else:
            import datetime as dt

            out = self.config.runs_dir / f"report-{dt.datetime.now():%Y%m%d-%H%M%S}.html"
        self.notify(f"Writing the HTML report of {len(chosen)} run(s)...")
        self._write_html(chosen, out)

    @work(thread=True, exclusive=True, group="html-report")
    def _write_html(self, chosen: list[runs_mod.Run], out: Path) -> None:
        from burststudio.reports.html import write_report

        try:
            write_report([r.path for r in chosen], [r.summary for r in chosen], out)
        except (OSError, ValueError) as exc:
            self.app.call_from_thread(self.notify, f"The HTML report could not be written: {exc}",
                                      severity="error")
            return
        self.app.call_from_thread(self.notify, f"HTML report written: {out}")

    # The charts ------------------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="run-series")
    def load_series(self, chosen: list[runs_mod.Run]) -> None:
        tables = [(runs_mod.read_table(r.path / rundir.REQUESTS_PARQUET),
                   runs_mod.read_table(r.path / rundir.METRICS_PARQUET)) for r in chosen]
        # Compared runs share one window, so their series read alike.
        span = max((tl.span_of(req, met) for req, met in tables), default=0.0)
        window = tl.window_for(span)
        lines = [tl.timeline(req, met, window) for req, met in tables]
        self.app.call_from_thread(self._draw_series, chosen, lines)

    def _draw_series(self, chosen: list[runs_mod.Run], lines: list[tl.Timeline]) -> None:
        if [r.name for r in chosen] != [r.name for r in self.shown]:
            return  # read for a selection that has changed since
        charts = {name: self.query_one(f"#{name}", Chart) for name in CHARTS}
        end = max((t.end_s for t in lines), default=0.0)
        xlimits = (0.0, end) if end > 0 else None
        shade = tl.merge([e for r in chosen for e in tl.episodes(r.summary)])
        window = f"{lines[0].window_s:g} s windows" if lines else ""
        charts["arrivals-chart"].border_title = f"arrivals / s ({window})" if window else "arrivals / s"
        draw = {name: [] for name in CHARTS}
        if len(chosen) == 1:
            t = lines[0]
            draw["arrivals-chart"] = [(t.t, t.arrivals_per_s, ARRIVALS, "scheduled")]
            draw["latency-chart"] = [(t.ttft_t, t.ttft_p50_ms, P50, "p50"), (t.ttft_t, t.ttft_p99_ms, P99, "p99")]
            draw["failures-chart"] = [(t.t, t.failed_per_s, FAILED, "failed")]
            draw["kv-chart"] = [(t.kv_t, t.kv_pct, KV, "KV %")]
            charts["latency-chart"].border_title = "TTFT ms"
        else:
            for k, (run, t) in enumerate(zip(chosen, lines)):
                colour = RUN_COLOURS[k % len(RUN_COLOURS)]
                label = f"{k} {cut(split_name(run.name)[1], 16)}"
                draw["arrivals-chart"].append((t.t, t.arrivals_per_s, colour, label))
                draw["latency-chart"].append((t.ttft_t, t.ttft_p99_ms, colour, label))
                draw["failures-chart"].append((t.t, t.failed_per_s, colour, label))
                draw["kv-chart"].append((t.kv_t, t.kv_pct, colour, label))
            charts["latency-chart"].border_title = "TTFT p99 ms"
        for name, series in draw.items():
            charts[name].draw_lines(series, xlimits=xlimits, shade=shade)
        self.drawn = [r.name for r in chosen]
