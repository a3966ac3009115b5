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
from burststudio.schema import Param
from burststudio.studio import draft as draft_mod, workload_actions as actions
from burststudio.studio.config import StudioConfig
from burststudio.studio.replay_process import EngineProcess, engine_command
from burststudio.studio.live import LiveRun
from burststudio.studio.messages import (
    ChartsRedrawn,
    DraftChanged,
    PresetSaved,
    RunEventsReceived,
    RunFinished,
    RunStarted,
    TargetChanged,
)
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.latest_table import LatestTable
from burststudio.studio.widgets.nav_bar import NavBar
from burststudio.studio.widgets.param_form import parse
from burststudio.targets import registry as target_kinds
from burststudio.vocab import EV_PROGRESS, EV_WARMUP, EVENT_TYPE, EXIT_LIMITS, EXIT_OK

DURATION = actions.ParamSpec("duration", "duration s", Param(
    "duration_s", "float", "Seconds of the workload to replay (from its start); blank or 0: all of it.", min=0.0))


def _targets() -> list[tuple[str, str]]:
    return [(kind.label, kind.name) for kind in target_kinds.by_name()]


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
STOPPING = "[yellow]stopping…[/] (the results are kept)"


def _show_duration(seconds: float | None) -> str:
    return f"{seconds:g}" if seconds else ""


def _idle_target(kind: str) -> str:
    entry = target_kinds.KINDS.get(kind)
    return entry.idle if entry else kind


class ReplayScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+r", "app.start_replay", "Start"),
        Binding("ctrl+x", "app.stop_replay", "Stop", priority=True),
    ]

    def __init__(self, config: StudioConfig) -> None:
        super().__init__(id="replay-screen")
        self.config = config
        self.engine: EngineProcess | None = None
        self.live = LiveRun()
        self.run_dir: Path | None = None
        self._pending: list[dict[str, Any]] = []
        self._reader: asyncio.Task | None = None
        self._drawn: dict[str, tuple[int, ...]] = {}  # chart id -> series versions it shows
        self._drawn_at: dict[str, float] = {}  # chart id -> when it was last drawn (time.monotonic)
        self.duration_error: str | None = None
        self._stopping = False  # Stop pressed, the engine not yet ended: the progress line says so
        self._overload_at_stop = ""  # the schedule line as it was when Stop came (kept from then to the end)

    @property
    def draft(self) -> draft_mod.Draft:
        return self.app.draft

    @property
    def target_kind(self) -> str:
        return self.draft.target_kind

    def _changed(self, *parts: str) -> None:
        self.app.post_message(DraftChanged(parts, self.id or ""))

    def compose(self) -> ComposeResult:
        yield NavBar("replay", self.draft.target_description())
        with Horizontal(id="replay-controls"):
            yield Select(_targets(), value=self.target_kind, allow_blank=False, id="target-kind", compact=True)
            yield Label(DURATION.label, id="duration-label")
            yield Input(_show_duration(self.draft.duration_s), id="duration", compact=True, tooltip=DURATION.doc)
            yield Input(self.draft.target_url, id="target-url", compact=True)
            yield Button("Start", id="start", variant="success", compact=True)
            yield Button("Stop", id="stop", variant="error", compact=True, disabled=True)
        yield Static("", id="duration-error")
        yield Static(_idle_target(self.target_kind), id="target-state")
        yield Static("idle: Start (ctrl+r) replays the Workload screen's workload", id="run-state")
        # Shown from the first progress event: whether the run keeps its schedule, as it happens.
        yield Static("", id="overload-state")
        # A fleet's replicas, one cell each, and where the latest requests went (studio/live.py fleet_line).
        yield Static("", id="fleet-state")
        with Grid(id="live-charts"):
            for chart_id, title in CHART_TITLES.items():
                yield Chart(title, id=chart_id)
        yield LatestTable(self.config.table_rows, id="latest")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#target-url").display = self.target_kind == target_kinds.ATTACH
        self.set_interval(1.0 / self.config.redraw_hz, self.redraw)

    # Target ---------------------------------------------------------------------------------------------------------
    def set_target_kind(self, kind: str) -> None:
        if self.is_mounted:
            self.query_one("#target-kind", Select).value = kind
            return
        # Not shown yet: compose reads the draft.
        self.draft.target_kind = kind
        self._changed(draft_mod.TARGET)

    @on(Select.Changed, "#target-kind")
    def _target_changed(self, event: Select.Changed) -> None:
        kind = str(event.value)
        self.query_one("#target-url").display = kind == target_kinds.ATTACH
        if not (self.engine is not None and self.engine.running):
            self.query_one("#target-state", Static).update(_idle_target(kind))
        if kind != self.draft.target_kind:
            self.draft.target_kind = kind
            self._changed(draft_mod.TARGET)
        self.post_message(TargetChanged(self.draft.target_description()))

    @on(Input.Changed, "#target-url")
    def _url_changed(self, event: Input.Changed) -> None:
        url = event.value.strip()
        if url != self.draft.target_url:
            self.draft.target_url = url
            self._changed(draft_mod.TARGET)
            if not self.running:  # what the line said (a failure to connect) was about the URL before the edit
                self.query_one("#target-state", Static).update(_idle_target(self.target_kind))
        if self.target_kind == target_kinds.ATTACH:
            self.post_message(TargetChanged(self.draft.target_description()))

    # Duration --------------------------------------------------------------------------------------------------------
    @on(Input.Changed, "#duration")
    def _duration_changed(self, event: Input.Changed) -> None:
        try:
            value = parse(DURATION, event.value)
        except ValueError as exc:
            self._duration_error(str(exc))
            return
        self._duration_error(None)
        if (value or 0.0) != self.draft.duration_s:
            self.draft.duration_s = value or 0.0
            self._changed(draft_mod.REPLAY)

    def _duration_error(self, message: str | None) -> None:
        self.duration_error = message
        error = self.query_one("#duration-error", Static)
        error.update(message or "")
        error.set_class(bool(message), "-shown")
        self.query_one("#duration", Input).set_class(bool(message), "-invalid")

    @on(DraftChanged)
    def _draft_changed(self, message: DraftChanged) -> None:
        """Show what another screen changed in the draft (a loaded preset's target and duration)."""
        message.stop()
        if not self.is_mounted:
            return  # compose reads the draft
        if draft_mod.TARGET in message.parts:
            self.query_one("#target-url", Input).value = self.draft.target_url
            self.query_one("#target-kind", Select).value = self.draft.target_kind
        if draft_mod.REPLAY in message.parts:
            self.query_one("#duration", Input).value = _show_duration(self.draft.duration_s)

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
        name = self.draft.name.strip() or "studio"
        self.run_dir = rundir.default_run_dir(name, self.config.runs_dir, kind=self.draft.target_kind)
        preset = self.config.runs_dir / ".studio" / f"{self.run_dir.name}.toml"
        try:
            saved = self.draft.save(preset)
        except Exception as exc:
            self.notify(actions.one_line(exc), title="Cannot save", severity="error")
            return
        self.notify(f"saved {saved.name}", title="Preset")
        self.post_message(PresetSaved(saved))
        self.live = LiveRun()
        self._overload_at_stop = ""
        self.query_one("#overload-state", Static).set_class(False, "-shown")
        self.query_one("#fleet-state", Static).set_class(False, "-shown")
        self._drawn = {}
        self._drawn_at = {}
        self.query_one(LatestTable).clear()
        argv = engine_command(preset, self.run_dir, self.config.engine_command, self.draft.duration_s)
        self._pending = []
        self.engine = EngineProcess(argv, self._event, cwd=self.config.root)
        self.query_one("#start", Button).disabled = True
        self.query_one("#stop", Button).disabled = False
        self._state(f"starting the engine for {preset.stem} on {self.draft.target_description()}…")
        self._reader = asyncio.create_task(self._run(preset))
        asyncio.create_task(self._load_schedule(preset, self.live))

    async def _load_schedule(self, preset: Path, live: LiveRun) -> None:
        """The arrival times the engine will send (the saved preset, built and prepared as the engine does it), for
        the scheduled rate; built in a thread, since a large workload takes a moment."""
        def build():
            from burststudio.presets import load_preset
            from burststudio.replay.runner import prepare_workload

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
        self._stopping = False
        stopped = bool(self.engine and self.engine.stopped)
        # The lines that spoke of the run in the present now say how it was at its end.
        self.query_one("#target-state", Static).update(self.live.target_line(ended=True)
                                                      or _idle_target(self.target_kind), layout=False)
        overload = self.query_one("#overload-state", Static)
        overload.update(self._overload_at_stop or self.live.overload_line(ended=True), layout=False)
        if fleet_line := self.live.fleet_line():
            self.query_one("#fleet-state", Static).update("[dim]at the end:[/] " + fleet_line, layout=False)
        if error:
            self._state(f"[red]failed[/]: {error}")
            self.notify(error, title="Replay failed", severity="error", timeout=10)
        else:
            self._state(("stopped" if stopped else "finished") + f": {self.run_dir.name if self.run_dir else ''}"
                        + (" (a limit was broken)" if code == EXIT_LIMITS else ""))
        self.post_message(RunFinished(self.run_dir or Path("."), code, stopped, error))

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.running

    def stop_run(self) -> None:
        if self.engine is None or not self.engine.running:
            return
        self._stopping = True
        self._overload_at_stop = self.live.overload_line(ended=True)
        self._state(STOPPING)
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
                self._state(f"{STOPPING + '  ' if self._stopping else ''}{self.live.progress_line()}  [dim]{failures}[/]")
                # After Stop the schedule is not kept on purpose: the line stays as the run was when Stop came.
                if not self._stopping:
                    line = self.live.overload_line()
                    overload = self.query_one("#overload-state", Static)
                    overload.update(line, layout=False)
                    overload.set_class(bool(line), "-shown")
                fleet_line = self.live.fleet_line()
                fleet = self.query_one("#fleet-state", Static)
                fleet.update(fleet_line, layout=False)
                fleet.set_class(bool(fleet_line), "-shown")
            elif any(e.get(EVENT_TYPE) == EV_WARMUP for e in events):
                # The warm-up is a stage of its own, between the target's start and the run's clock.
                self._state(self.live.warmup_line())
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
