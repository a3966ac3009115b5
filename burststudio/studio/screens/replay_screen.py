"""The Replay screen: the target, start and stop, and the run's live charts.

The engine is a child process (`burststudio replay PRESET --events --out DIR`); this screen reads its events into
ring buffers and redraws the charts on a 4 Hz timer, never per event.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Select, Static

from burststudio.studio.config import StudioConfig
from burststudio.studio.engine_process import EngineProcess, engine_command
from burststudio.studio.live import LiveRun
from burststudio.studio.messages import ChartsRedrawn, RunEventsReceived, RunFinished, RunStarted, TargetChanged
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.latest_table import LatestTable
from burststudio.studio.widgets.nav_bar import NavBar

TARGETS = [("sim (simulator)", "sim"), ("url (running server)", "url"), ("vllm (managed)", "vllm")]


class ReplayScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "app.start_replay", "Start"),
        Binding("ctrl+x", "app.stop_replay", "Stop"),
    ]

    def __init__(self, config: StudioConfig) -> None:
        super().__init__(id="replay-screen")
        self.config = config
        self.target_kind = config.target_kind
        self.engine: EngineProcess | None = None
        self.live = LiveRun()
        self.run_dir: Path | None = None
        self._pending: list[dict[str, Any]] = []
        self._reader: asyncio.Task | None = None

    def compose(self) -> ComposeResult:
        yield NavBar("replay", self.config.target_description())
        with Horizontal(id="replay-controls"):
            yield Select(TARGETS, value=self.target_kind, allow_blank=False, id="target-kind", compact=True)
            yield Input(self.config.target_url, id="target-url", compact=True)
            yield Button("Start", id="start", variant="success", compact=True)
            yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
        yield Static("idle: press Start (ctrl+r) to replay the Workload screen's workload", id="run-state")
        with Grid(id="live-charts"):
            yield Chart("req/s sched·sent·done", id="rate-live")
            yield Chart("TTFT/ITL ms p50·p99", id="latency-live")
            yield Chart("KV cache %", id="kv-live")
            yield Chart("running·waiting", id="queue-live")
            yield Chart("failed·preempted", id="fail-live")
            yield Chart("lateness p99 ms", id="late-live")
        yield LatestTable(self.config.table_rows, id="latest")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#target-url").display = self.target_kind == "url"
        self.set_interval(1.0 / self.config.redraw_hz, self.redraw)

    # Target ---------------------------------------------------------------------------------------------------------
    def set_target_kind(self, kind: str) -> None:
        self.query_one("#target-kind", Select).value = kind

    @on(Select.Changed, "#target-kind")
    def _target_changed(self, event: Select.Changed) -> None:
        self.target_kind = self.config.target_kind = str(event.value)
        self.query_one("#target-url").display = self.target_kind == "url"
        self.post_message(TargetChanged(self.config.target_description()))

    @on(Input.Changed, "#target-url")
    def _url_changed(self, event: Input.Changed) -> None:
        self.config.target_url = event.value.strip()
        if self.target_kind == "url":
            self.post_message(TargetChanged(self.config.target_description()))

    def target_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"kind": self.target_kind}
        if self.target_kind == "url":
            table["url"] = self.config.target_url
        return table

    # Start and stop ----------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.start_run()

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.stop_run()

    def _state(self, text: str) -> None:
        self.query_one("#run-state", Static).update(text)

    def start_run(self) -> None:
        if self.engine is not None and self.engine.running:
            self.notify("A replay is already running; stop it first.", severity="warning")
            return
        workload_screen = self.app.workload_screen
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = workload_screen.query_one("#preset-name", Input).value.strip() or "studio"
        self.run_dir = self.config.runs_dir / f"{stamp}-{name}"
        preset = self.config.runs_dir / ".studio" / f"{stamp}-{name}.toml"
        if workload_screen.save_preset(preset) is None:
            return
        self.live = LiveRun()
        preview = getattr(workload_screen, "preview", None)
        if workload_screen.kind == "generator" or workload_screen.base is not None:
            self._schedule_from(workload_screen)
        argv = engine_command(preset, self.run_dir, self.config.engine_command)
        self.engine = EngineProcess(argv, self._pending.append, cwd=self.config.root)
        self.query_one("#start", Button).disabled = True
        self.query_one("#stop", Button).disabled = False
        self._state(f"starting the engine for {preset.stem} on {self.config.target_description()}…")
        self._reader = asyncio.create_task(self._run(preset))
        del preview

    def _schedule_from(self, workload_screen) -> None:
        try:
            w = workload_screen.build_workload(workload_screen.kind, workload_screen.values, workload_screen.base)
            self.live.schedule = w.arrival_s
        except Exception:
            self.live.schedule = None

    async def _run(self, preset: Path) -> None:
        assert self.engine is not None and self.run_dir is not None
        try:
            await self.engine.start()
        except OSError as exc:
            self._finished(None, f"cannot start the engine: {exc}")
            return
        self.post_message(RunStarted(self.run_dir, preset))
        self._state(f"running: {self.run_dir.name}")
        code = await self.engine.read()
        self.redraw()
        self._finished(code, None if code in (0, 3) or self.engine.stopped else self.engine.error_line())

    def _finished(self, code: int | None, error: str | None) -> None:
        self.query_one("#start", Button).disabled = False
        self.query_one("#stop", Button).disabled = True
        stopped = bool(self.engine and self.engine.stopped)
        if error:
            self._state(f"[red]failed[/]: {error}")
            self.notify(error, title="Replay failed", severity="error", timeout=10)
        else:
            self._state(("stopped" if stopped else "finished") + f": {self.run_dir.name if self.run_dir else ''}"
                        + (" (a limit was broken)" if code == 3 else ""))
        self.post_message(RunFinished(self.run_dir or Path("."), code, stopped, error))
        self.app.results_screen.refresh_runs()

    def stop_run(self) -> None:
        if self.engine is None or not self.engine.running:
            return
        self._state("stopping… (the results are kept)")
        asyncio.create_task(self.engine.stop())

    async def stop_run_and_wait(self) -> None:
        if self.engine is not None and self.engine.running:
            await self.engine.stop()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5.0)
            except (asyncio.TimeoutError, Exception):
                pass

    # Live charts ----------------------------------------------------------------------------------------------------
    def redraw(self) -> None:
        if not self._pending:
            return
        events, self._pending = self._pending, []
        for e in events:
            self.live.feed(e)
            if e.get("event") == "progress":
                self.query_one(LatestTable).add_progress(e)
        self.post_message(RunEventsReceived(events))
        s = self.live.series
        points = 0
        points += self.query_one("#rate-live", Chart).draw_lines([
            (*s["scheduled_rps"].arrays(), "grey50", "scheduled"),
            (*s["sent_rps"].arrays(), "dodger_blue1", "sent"),
            (*s["finished_rps"].arrays(), "green", "finished")])
        points += self.query_one("#latency-live", Chart).draw_lines([
            (*s["ttft_p50_ms"].arrays(), "dodger_blue1", "TTFT p50"), (*s["ttft_p99_ms"].arrays(), "red", "TTFT p99"),
            (*s["itl_p50_ms"].arrays(), "green", "ITL p50"), (*s["itl_p99_ms"].arrays(), "orange1", "ITL p99")])
        points += self.query_one("#kv-live", Chart).draw_lines([(*s["kv_pct"].arrays(), "orange1", "KV %")])
        points += self.query_one("#queue-live", Chart).draw_lines([
            (*s["running"].arrays(), "green", "running"), (*s["waiting"].arrays(), "red", "waiting")])
        points += self.query_one("#fail-live", Chart).draw_lines([
            (*s["failed"].arrays(), "red", "failed"), (*s["preemptions"].arrays(), "orange1", "preempted")])
        points += self.query_one("#late-live", Chart).draw_lines([(*s["lateness_p99_ms"].arrays(), "magenta", "")])
        failures = ", ".join(f"{k} {v}" for k, v in sorted(self.live.failures.items()) if v) or "no failures"
        self._state(f"{self.live.progress_line()}  [dim]{failures}[/]")
        self.post_message(ChartsRedrawn(points))
