"""The Replay screen: the target, start and stop, and the run's live charts.

The engine is a child process (`burststudio replay PRESET --events --out DIR`); this screen reads its events into
ring buffers and redraws the charts on a 4 Hz timer, never per event.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from burststudio import rundir
from burststudio.studio import core
from burststudio.studio.config import StudioConfig
from burststudio.studio.engine_process import EngineProcess, engine_command
from burststudio.studio.live import LiveRun
from burststudio.studio.messages import ChartsRedrawn, RunEventsReceived, RunFinished, RunStarted, TargetChanged
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.latest_table import LatestTable
from burststudio.studio.widgets.nav_bar import NavBar
from burststudio.studio.widgets.param_form import parse
from burststudio.vocab import EV_PROGRESS, EVENT_TYPE, EXIT_LIMITS, EXIT_OK

DURATION = core.ParamSpec("duration", "duration s", kind="float", min=0.0,
                          doc="Seconds of the workload to replay (from its start); blank or 0: all of it.")

TARGETS = [("sim (simulator)", "sim"), ("url (running server)", "url"), ("vllm (managed)", "vllm")]


CHART_TITLES = {"rate-live": "requests / s", "latency-live": "latency ms (rolling)", "kv-live": "KV cache %",
                "queue-live": "running / waiting", "fail-live": "failed / preempted",
                "late-live": "lateness p99 ms"}
# chart id -> (series in live.LiveRun, colour, label) drawn in it
LIVE_CHARTS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("rate-live", (("scheduled_rps", "#808080", "scheduled"), ("sent_rps", "#0087ff", "sent"),
                   ("finished_rps", "#5fd700", "finished"))),
    ("latency-live", (("ttft_p50_ms", "#0087ff", "TTFT p50"), ("ttft_p99_ms", "#ff5f5f", "p99"),
                      ("itl_p50_ms", "#5fd700", "ITL p50"), ("itl_p99_ms", "#ffaf00", "p99"))),
    ("kv-live", (("kv_pct", "#ffaf00", ""),)),
    ("queue-live", (("running", "#5fd700", "running"), ("waiting", "#ff5f5f", "waiting"))),
    ("fail-live", (("failed", "#ff5f5f", "failed"), ("preemptions", "#ffaf00", "preempted"))),
    ("late-live", (("lateness_p99_ms", "#d75fd7", ""),)),
)
# Charts of what moves slowly (the server's /metrics are sampled twice a second; failure totals only climb) are
# redrawn once a second; the rates and latencies at the full redraw rate. Drawing is nearly all of the studio's CPU.
SLOW_CHARTS = frozenset({"kv-live", "queue-live", "fail-live"})
SLOW_PERIOD_S = 1.0


def _show_duration(seconds: float | None) -> str:
    return f"{seconds:g}" if seconds else ""


def _idle_target(kind: str) -> str:
    return {"sim": "sim: the built-in simulator starts with the run (no server needed)",
            "url": "url: the server at the address above must be running",
            "vllm": "vllm: a managed vLLM server starts with the run (loading a model can take minutes)"}.get(kind, kind)


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
        self._drawn: dict[str, tuple[int, ...]] = {}  # chart id -> series versions it shows
        self._drawn_at: dict[str, float] = {}  # chart id -> when it was last drawn (time.monotonic)
        self.duration_error: str | None = None

    def compose(self) -> ComposeResult:
        yield NavBar("replay", self.config.target_description())
        with Horizontal(id="replay-controls"):
            yield Select(TARGETS, value=self.target_kind, allow_blank=False, id="target-kind", compact=True)
            yield Label(DURATION.label, id="duration-label")
            yield Input(_show_duration(self.config.replay_duration_s), id="duration", compact=True,
                        tooltip=DURATION.doc)
            yield Input(self.config.target_url, id="target-url", compact=True)
            yield Button("Start", id="start", variant="success", compact=True)
            yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
        yield Static("", id="duration-error")
        yield Static(_idle_target(self.config.target_kind), id="target-state")
        yield Static("idle: Start (ctrl+r) replays the Workload screen's workload", id="run-state")
        with Grid(id="live-charts"):
            for chart_id, title in CHART_TITLES.items():
                yield Chart(title, id=chart_id)
        yield LatestTable(self.config.table_rows, id="latest")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#target-url").display = self.target_kind == "url"
        self.set_interval(1.0 / self.config.redraw_hz, self.redraw)

    # Target ---------------------------------------------------------------------------------------------------------
    def set_target_kind(self, kind: str) -> None:
        if self.is_mounted:
            self.query_one("#target-kind", Select).value = kind
            return
        # Not shown yet: compose reads the config.
        self.target_kind = self.config.target_kind = kind
        self.app.post_message(TargetChanged(self.config.target_description()))

    @on(Select.Changed, "#target-kind")
    def _target_changed(self, event: Select.Changed) -> None:
        self.target_kind = self.config.target_kind = str(event.value)
        self.query_one("#target-url").display = self.target_kind == "url"
        if not (self.engine is not None and self.engine.running):
            self.query_one("#target-state", Static).update(_idle_target(self.target_kind))
        self.post_message(TargetChanged(self.config.target_description()))

    @on(Input.Changed, "#target-url")
    def _url_changed(self, event: Input.Changed) -> None:
        self.config.target_url = event.value.strip()
        if self.target_kind == "url":
            self.post_message(TargetChanged(self.config.target_description()))

    # Duration --------------------------------------------------------------------------------------------------------
    @on(Input.Changed, "#duration")
    def _duration_changed(self, event: Input.Changed) -> None:
        try:
            value = parse(DURATION, event.value)
        except ValueError as exc:
            self._duration_error(str(exc))
            return
        self._duration_error(None)
        self.config.replay_duration_s = value or 0.0

    def _duration_error(self, message: str | None) -> None:
        self.duration_error = message
        error = self.query_one("#duration-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-shown")
        self.query_one("#duration", Input).set_class(bool(message), "-invalid")

    def use_replay_settings(self, settings) -> None:
        """Show a loaded preset's replay duration, if it sets one. A preset without one (the settings cannot tell it
        from one that asks for the whole workload) leaves the field as it is, so a large workload is not replayed
        for hours just because a preset was loaded; blanking the field replays all of it."""
        if not settings.duration_s:
            return
        self.config.replay_duration_s = float(settings.duration_s)
        if self.is_mounted:
            self.query_one("#duration", Input).value = _show_duration(self.config.replay_duration_s)

    def use_target(self, settings) -> None:
        """Show a loaded preset's target (its kind, and its URL for a url target)."""
        if settings.kind == "url" and settings.url:
            self.config.target_url = settings.url
            if self.is_mounted:
                self.query_one("#target-url", Input).value = settings.url
        self.set_target_kind(settings.kind)

    def target_table(self, preset=None) -> dict[str, Any]:
        """The [target] table to save: the preset's whole target settings, if one was loaded, with this screen's kind
        and URL."""
        return core.target_table(preset, self.target_kind, self.config.target_url)

    # Start and stop ----------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.start_run()

    @on(Button.Pressed, "#stop")
    def _stop_pressed(self) -> None:
        self.stop_run()

    def _state(self, text: str) -> None:
        self.query_one("#run-state", Static).update(text, layout=False)

    def start_run(self) -> None:
        if self.engine is not None and self.engine.running:
            self.notify("A replay is already running; stop it first.", severity="warning")
            return
        if self.duration_error:
            self._state(f"[red]duration: {self.duration_error}[/] (fix it to start)")
            self.query_one("#duration", Input).focus()
            return
        workload_screen = self.app.workload_screen
        name = workload_screen.query_one("#preset-name", Input).value.strip() or "studio"
        self.run_dir = rundir.default_run_dir(name, self.config.runs_dir)
        preset = self.config.runs_dir / ".studio" / f"{self.run_dir.name}.toml"
        if workload_screen.save_preset(preset) is None:
            return
        self.live = LiveRun()
        self._drawn = {}
        self._drawn_at = {}
        self.query_one(LatestTable).clear()
        argv = engine_command(preset, self.run_dir, self.config.engine_command, self.config.replay_duration_s)
        self._pending = []
        self.engine = EngineProcess(argv, self._event, cwd=self.config.root)
        self.query_one("#start", Button).disabled = True
        self.query_one("#stop", Button).disabled = False
        self._state(f"starting the engine for {preset.stem} on {self.config.target_description()}…")
        self._reader = asyncio.create_task(self._run(preset))
        asyncio.create_task(self._load_schedule(preset, self.live))

    async def _load_schedule(self, preset: Path, live: LiveRun) -> None:
        """The arrival times the engine will send (the saved preset, built and prepared as the engine does it), for
        the scheduled rate; built in a thread, since a large workload takes a moment."""
        def build():
            from burststudio.presets import load_preset
            from burststudio.replay.engine import prepare_workload

            p = load_preset(preset)
            return prepare_workload(p.build_workload(), p.replay).arrival_s

        try:
            live.schedule = await asyncio.to_thread(build)
        except Exception:  # the chart goes without the scheduled line; the engine reports the real problem
            live.schedule = None

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
        self.redraw(force=True)
        self._finished(code, None if code in (EXIT_OK, EXIT_LIMITS) or self.engine.stopped else self.engine.error_line())

    def _finished(self, code: int | None, error: str | None) -> None:
        self.query_one("#start", Button).disabled = False
        self.query_one("#stop", Button).disabled = True
        stopped = bool(self.engine and self.engine.stopped)
        if error:
            self._state(f"[red]failed[/]: {error}")
            self.notify(error, title="Replay failed", severity="error", timeout=10)
        else:
            self._state(("stopped" if stopped else "finished") + f": {self.run_dir.name if self.run_dir else ''}"
                        + (" (a limit was broken)" if code == EXIT_LIMITS else ""))
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

    def _event(self, event: dict[str, Any]) -> None:
        # Events queue here and are read at the redraw rate, never one redraw per event.
        self._pending.append(event)

    # Live charts ----------------------------------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        # Charts are not drawn while another screen is shown: bring them up to date now.
        self.redraw(force=True)

    def redraw(self, force: bool = False) -> None:
        """Read the queued events; redraw the charts whose series changed, if this screen is the one shown.

        `force` also draws the slow charts before their period is up (the run ended, the screen came back)."""
        visible = self.is_current
        if self._pending:
            events, self._pending = self._pending, []
            requests: list = []
            for e in events:
                self.live.feed(e)
                if e.get(EVENT_TYPE) == EV_PROGRESS:
                    requests.extend(e.get("requests") or ())
            self.query_one(LatestTable).add_requests(requests, draw=visible)
            target = self.live.target_line()
            if target:
                self.query_one("#target-state", Static).update(target, layout=False)
            self.post_message(RunEventsReceived(events))
            if any(e.get(EVENT_TYPE) == EV_PROGRESS for e in events):
                failures = ", ".join(f"{k} {v}" for k, v in sorted(self.live.failures.items()) if v) or "no failures"
                self._state(f"{self.live.progress_line()}  [dim]{failures}[/]")
        elif not force:
            return
        if not visible:
            return
        if force:
            self.query_one(LatestTable).refresh_rows()
        s = self.live.series
        now = time.monotonic()
        points = 0
        drawn = 0
        for chart_id, lines in LIVE_CHARTS:
            version = tuple(s[name].appended for name, _, _ in lines)
            if self._drawn.get(chart_id) == version:
                continue
            if (chart_id in SLOW_CHARTS and not force
                    and now - self._drawn_at.get(chart_id, -SLOW_PERIOD_S) < SLOW_PERIOD_S):
                continue
            self._drawn[chart_id] = version
            self._drawn_at[chart_id] = now
            drawn += 1
            points += self.query_one(f"#{chart_id}", Chart).draw_lines(
                [(*s[name].arrays(), color, label) for name, color, label in lines])
        if drawn:
            self.post_message(ChartsRedrawn(points))
