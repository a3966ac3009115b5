"""The Workload screen: choose a source, edit its parameters, watch the preview follow.

What the user edits lives in the app's draft preset (studio.draft); this screen keeps only the loaded workload and
its preview.

Building the workload and its preview runs in a thread worker; each edit starts a new one and cancels the one before
(the exclusive "preview" group), and a result that arrives for an older edit is dropped by its key.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static
from textual.worker import get_current_worker

from burststudio.studio import draft as draft_mod, workload_actions as actions
from burststudio.studio.config import StudioConfig
from burststudio.studio.messages import (
    DraftChanged,
    FitCompleted,
    ParamsEdited,
    PresetSaved,
    PreviewComputed,
    PreviewFailed,
    SourceChosen,
    TraceLoaded,
)
from burststudio.studio.screens.overwrite_modal import OVERWRITE, SAVE_AS, OverwriteModal
from burststudio.studio.widgets.chart import Chart
from burststudio.studio.widgets.nav_bar import NavBar
from burststudio.studio.widgets.param_form import ParamForm
from burststudio.studio.widgets.source_picker import SourcePicker
from burststudio.studio.widgets.stats_panel import StatsPanel
from burststudio.timeaxis import time_unit


# A preview still computing after this long shows the busy indicator over the charts (shorter ones would flicker).
BUSY_AFTER_S = 0.3


class WorkloadScreen(Screen[None]):
    BINDINGS = [
        # Priority: the key works while a text field has the focus (the app has the same binding, unshown).
        Binding("ctrl+s", "app.save_preset", "Save", priority=True),
    ]

    def __init__(self, config: StudioConfig) -> None:
        super().__init__(id="workload-screen")
        self.config = config
        self.base = None  # the loaded trace's workload, before the draft's transforms
        self.preview = None
        self._key = 0
        self._shown_key = ""
        self._loading: str | None = None
        # The source line under the picker, and whether an error shows there instead (cleared by the next preview).
        self._source_text = ""
        self._status_error = False

    @property
    def draft(self) -> draft_mod.Draft:
        return self.app.draft

    @property
    def kind(self) -> str:
        return self.draft.kind

    @property
    def preset(self):
        return self.draft.preset

    @property
    def values(self) -> dict[str, Any]:
        return self.draft.values

    def _changed(self, *parts: str) -> None:
        self.app.post_message(DraftChanged(parts, self.id or ""))

    # Layout --------------------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield NavBar("workload", self.draft.target_description())
        with Horizontal(id="workload-body"):
            with VerticalScroll(id="workload-side"):
                yield SourcePicker(actions.list_traces(self.config.traces_dir), actions.list_presets(self.config.presets_dir))
                yield Static("", id="source-status")
                yield Static("", id="preview-note")
                yield ParamForm(id="params")
                with Horizontal(id="name-row"):
                    yield Label("preset name", id="preset-name-label")
                    yield Input(self.draft.name, id="preset-name", compact=True,
                                tooltip="the preset's name and its file's: presets/NAME.toml")
                with Horizontal(id="workload-actions"):
                    # Neither button takes the focus: an Enter meant for a field never fits or saves.
                    yield Button("Fit to trace", id="fit", compact=True, disabled=True)
                    yield Button("Save preset ^s", id="save", compact=True, variant="primary")
            with Vertical(id="workload-charts"):
                yield Chart("arrivals / s", id="rate-chart", spaced_x=True)
                with Horizontal(id="hist-row"):
                    yield Chart("gap s", id="gap-chart", y_labels=False, spaced_x=True)
                    yield Chart("prompt", id="prompt-chart", y_labels=False, spaced_x=True)
                    yield Chart("output", id="output-chart", y_labels=False, spaced_x=True)
                yield StatsPanel(id="stats")
        yield Footer()

    async def on_mount(self) -> None:
        for button in self.query(Button):
            button.can_focus = False
        await self._use_generator()

    # Sources -------------------------------------------------------------------------------------------------------
    async def _use_generator(self, values: dict[str, Any] | None = None, table: dict[str, Any] | None = None,
                             preset=None) -> None:
        self.draft.use_generator(table, preset)
        self.base = None
        self.query_one("#fit", Button).disabled = True
        fields = actions.generator_fields()
        start = dict(actions.GENERATOR_START)
        start["requests"] = self.config.preview_requests
        if values is not None:
            start = {**{k: v for k, v in start.items() if k.endswith((".process", ".dist", ".kind"))}, **values}
            if "duration_s" in values:
                start.pop("requests", None)
            fields = _with_choices(fields, start)
        await self.query_one(ParamForm).set_fields(fields, start)
        self._status("generator")
        self.draft.set_values(self.query_one(ParamForm).values(), loaded=True)
        self._changed(draft_mod.SOURCE, draft_mod.WORKLOAD)
        self.schedule_preview()

    async def _use_base(self, workload, path: str, label: str, transforms: dict[str, Any] | None = None,
                        preset=None) -> None:
        self.draft.use_trace(path, preset)
        self.base = workload
        self.query_one("#fit", Button).disabled = False
        values = {f.path: f.default for f in actions.TRANSFORM_FIELDS}
        values.update(transforms or {})
        await self.query_one(ParamForm).set_fields(actions.TRANSFORM_FIELDS, values)
        self.draft.set_values(self.query_one(ParamForm).values(), loaded=True)
        self._status(f"{label}: {len(workload):,} requests")
        self._changed(draft_mod.SOURCE, draft_mod.WORKLOAD)
        self.schedule_preview()

    @on(SourceChosen)
    async def source_chosen(self, message: SourceChosen) -> None:
        if message.kind == "generator":
            await self._use_generator()
        elif message.kind == "trace":
            self.load_source("trace", message.name)
        elif message.kind == "preset":
            self.load_source("preset", message.name)

    def _status(self, text: str, error: bool = False) -> None:
        """The line under the source picker: what is loaded, or (error) what went wrong until the next preview."""
        if not error:
            self._source_text = text
        self._status_error = error
        self.query_one("#source-status", Static).update(text)

    @work(thread=True, exclusive=True, group="load")
    def load_source(self, kind: str, name: str) -> None:
        path = Path(name).expanduser()
        self._loading = str(path)
        self.app.call_from_thread(self._status, f"loading {path.name}…")
        self.app.call_from_thread(setattr, self.query_one("#workload-charts"), "loading", True)
        try:
            if kind == "trace":
                workload = actions.load_trace(path)
                preset = None
            else:
                preset = actions.load_preset(path)
                workload = actions.preset_trace_base(preset) if preset.is_trace else None
        except Exception as exc:  # one line for the user, whatever the loader raised
            self.app.call_from_thread(self._load_failed, str(path), actions.one_line(exc))
            return
        finally:
            self.app.call_from_thread(setattr, self.query_one("#workload-charts"), "loading", False)
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._loaded, kind, path, workload, preset)

    def _load_failed(self, path: str, message: str) -> None:
        self._status(f"[red]{Path(path).name}: cannot load[/]", error=True)
        self.notify(message, title="Cannot load", severity="error", timeout=8)

    async def _loaded(self, kind: str, path: Path, workload, preset) -> None:
        self._key += 1  # what is on screen is stale from here until the new source's preview arrives
        if preset is not None:
            self.draft.use_preset_settings(preset)
            self.query_one("#preset-name", Input).value = preset.name
            self._changed(draft_mod.NAME, draft_mod.TARGET, draft_mod.REPLAY)
        if preset is not None and workload is None:
            table = {k: v for k, v in preset.workload_spec.items() if k not in ("name", "seed")}
            await self._use_generator(actions.values_from_spec(table), preset.workload_spec, preset)
            self._status(f"preset {path.name}: generator")
            return
        transforms = {}
        trace = str(path)
        if preset is not None:
            spec = preset.workload_spec
            trace = str(spec["trace"])
            start, end = spec.get("window_s", [0.0, float("inf")])
            transforms = {"window.start_s": float(start), "window.end_s": 0.0 if end == float("inf") else float(end),
                          "time_scale": float(spec.get("time_scale", 1.0)),
                          "rate_scale": float(spec.get("rate_scale", 1.0))}
        self.post_message(TraceLoaded(str(path), len(workload)))
        await self._use_base(workload, trace, path.name, transforms, preset)

    # Preview -------------------------------------------------------------------------------------------------------
    @on(ParamsEdited)
    def params_edited(self, message: ParamsEdited) -> None:
        self.draft.set_values(message.values)
        self._changed(draft_mod.WORKLOAD)
        self.schedule_preview()

    @on(Input.Changed, "#preset-name")
    def _name_changed(self, event: Input.Changed) -> None:
        if event.value != self.draft.name:
            self.draft.name = event.value
            self._changed(draft_mod.NAME)

    @property
    def preview_is_current(self) -> bool:
        """The preview on screen is of the form as it is now (no newer computation pending)."""
        return self._shown_key == str(self._key)

    def schedule_preview(self) -> None:
        self._key += 1
        key = str(self._key)
        self.compute_preview(key, dataclasses.replace(self.draft), dict(self.values), self.base)
        self.set_timer(BUSY_AFTER_S, lambda: self._show_busy(key))

    def _show_busy(self, key: str) -> None:
        # Still computing the same edit: say so over the charts until it is drawn.
        if key == str(self._key) and not self.preview_is_current:
            self.query_one("#workload-charts").loading = True

    def _preview_done(self) -> None:
        self.query_one("#workload-charts").loading = False

    @work(thread=True, exclusive=True, group="preview")
    def compute_preview(self, key: str, draft: draft_mod.Draft, values: dict[str, Any], base) -> None:
        from burststudio.studio import preview as preview_mod

        worker = get_current_worker()
        t0 = time.perf_counter()
        try:
            workload, estimate = build_preview_workload(draft, values, base, self.config.preview_max_requests)
            if worker.is_cancelled:
                return
            result = preview_mod.compute(workload)
            result.estimate = estimate
            del workload  # the preview keeps only its bins: a large workload is freed here, not at the next edit
        except actions.FieldError as exc:
            self.post_message(PreviewFailed(key, exc.message, exc.field))
            return
        except MemoryError:
            self.post_message(PreviewFailed(key, "too large for this machine's memory: lower the size or the rate "
                                                 "scale"))
            return
        except Exception as exc:
            self.post_message(PreviewFailed(key, actions.one_line(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(PreviewComputed(key, result, time.perf_counter() - t0))

    @on(PreviewFailed)
    def preview_failed(self, message: PreviewFailed) -> None:
        if message.key != str(self._key):
            return
        self._preview_done()
        form = self.query_one(ParamForm)
        form.clear_errors()
        if form.set_error(message.field, message.message):
            if self._status_error:
                self._status(self._source_text)
        else:
            self._status(f"[red]{message.message}[/]", error=True)

    @on(PreviewComputed)
    def preview_computed(self, message: PreviewComputed) -> None:
        if message.key != str(self._key):
            return
        self._preview_done()
        self.preview = p = message.preview
        self._shown_key = message.key
        self.query_one(ParamForm).clear_errors()
        if self._status_error:  # the edit that made this preview fixed what the line complained of
            self._status(self._source_text)
        note = self.query_one("#preview-note", Static)
        note.update(f"preview of the first {p.requests:,} of about {p.estimate:,.0f} requests"
                    if p.estimate else "")
        note.display = bool(p.estimate)
        self.query_one(StatsPanel).stats = p.stats
        unit_s, unit = time_unit(float(p.rate_t[-1]) if len(p.rate_t) else 0.0)
        rate_chart = self.query_one("#rate-chart", Chart)
        rate_chart.draw_lines([(p.rate_t / unit_s, p.rate_rps, "#0087ff", "")])
        rate_chart.border_subtitle = f"time, {unit}"
        overlay = ([(p.gap_curve_x, p.gap_curve_y, "#ffaf00", f"{p.gap_curve_label} fit")] if len(p.gap_curve_x)
                   else [])
        gap_chart = self.query_one("#gap-chart", Chart)
        gap_chart.draw_bars(p.gaps.centers, p.gaps.density, p.gaps.width, overlay=overlay)
        self.query_one("#prompt-chart", Chart).draw_bars(p.prompt.centers, p.prompt.density, p.prompt.width,
                                                          style="#8787d7")
        self.query_one("#output-chart", Chart).draw_bars(p.output.centers, p.output.density, p.output.width,
                                                          style="#5fd787")
        rate_chart.border_title = f"arrivals / s ({p.rate_bin_s:g} s bins)"

    # Fit and save --------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#fit")
    def _fit_pressed(self) -> None:
        self.fit_trace()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.save_preset()

    def fit_trace(self) -> None:
        if self.kind != "trace" or self.base is None:
            self.notify("Load a trace first: the fit fills the generator form from it.", severity="warning")
            return
        self._status("fitting… (trial syntheses check the fit)")
        self.query_one("#fit", Button).disabled = True
        self.run_fit(dataclasses.replace(self.draft), dict(self.values), self.base)

    @work(thread=True, exclusive=True, group="fit")
    def run_fit(self, draft: draft_mod.Draft, values: dict[str, Any], base) -> None:
        from burststudio.workload.transform_spec import TransformSpec

        try:
            # What the preview shows is what is fitted: the trace after its transforms.
            workload = build_workload(draft, values, base)
            # A file read as it is lends the generator its own arrivals or rows; a transformed trace lends its rows
            # through a file the fit writes (copied beside the preset when it is saved).
            own = draft.trace_preset_spec or {}
            transforms = draft.transforms(values)
            unchanged = (transforms == TransformSpec() and own.get("format", "auto") == "auto"
                         and not own.get("columns"))
            trace = str(Path(draft.trace_path).resolve()) if draft.trace_path else None
            rows = None if unchanged else actions.rows_path(self.config.fits_dir, trace,
                                                            f"{trace}|{transforms!r}|{draft.seed}|{own!r}")
            fitted = actions.fit_generator(workload, trace if unchanged else None, trace if unchanged else None,
                                           self.config.presets_dir, rows_path=rows, seed=draft.seed)
        except Exception as exc:
            self.app.call_from_thread(self._fit_failed, actions.one_line(exc))
            return
        self.app.call_from_thread(self._fitted, fitted)

    def _fit_failed(self, message: str) -> None:
        self.query_one("#fit", Button).disabled = self.kind != "trace"
        self._status("[red]fit failed[/]", error=True)
        self.notify(message, title="Fit failed", severity="error")

    async def _fitted(self, fitted) -> None:
        self._key += 1
        table = fitted.spec
        label = Path(self.draft.trace_path).name if self.draft.trace_path else "the trace"
        values = {**actions.values_from_spec(table), "arrivals.modulation.kind": actions.NONE_KIND}
        self.query_one(SourcePicker).show_kind("generator")
        await self._use_generator(values, table)
        summary = fitted.summary()
        kept = "kept" if not fitted.misses else f"{len(fitted.misses)} not kept"
        self._status(f"generator fitted to {label}: {table['arrivals']['process']} arrivals; figures {kept}")
        self.notify(summary, title=f"Fit of {label}", severity="information" if not fitted.misses else "warning",
                    timeout=12)
        self.post_message(FitCompleted(values, summary, [c.label for c in fitted.misses]))

    # Saving ----------------------------------------------------------------------------------------------------------
    def save_preset(self, path: Path | None = None) -> Path | None:
        """Save the draft as presets/NAME.toml (or `path`). A file that exists is replaced only after the overwrite
        modal says so (its default is to save under a free name); returns the path written now, None if not (yet)."""
        name = self.draft.name.strip() or "workload"
        try:
            actions.check_preset_name(name)
        except actions.FieldError as exc:
            self.notify(exc.message, title="Cannot save", severity="error")
            return None
        path = Path(path) if path is not None else self.config.presets_dir / f"{name}.toml"
        if path.exists():
            free = actions.free_preset_name(path.parent, path.stem)
            first = actions.header_line(path)

            def answered(choice: str | None) -> None:
                if choice == OVERWRITE:
                    self._write_preset(path)
                elif choice == SAVE_AS:
                    self.query_one("#preset-name", Input).value = free
                    self.draft.name = free
                    self._changed(draft_mod.NAME)
                    self._write_preset(path.parent / f"{free}.toml")
                else:
                    self.notify(f"{path.name} left as it was", title="Not saved", timeout=4)

            self.app.push_screen(OverwriteModal(path, free, first), answered)
            return None
        return self._write_preset(path)

    def _write_preset(self, path: Path) -> Path | None:
        try:
            saved = self.draft.save(path, scratch_dir=self.config.fits_dir)
        except Exception as exc:
            self.notify(actions.one_line(exc), title="Cannot save", severity="error")
            return None
        self.notify(f"saved {saved.name}", title="Preset")
        self.query_one(SourcePicker).set_presets(actions.list_presets(self.config.presets_dir))
        self.post_message(PresetSaved(saved))
        return saved


def build_preview_workload(draft: draft_mod.Draft, values: dict[str, Any], base, limit: int):
    """The workload the preview shows, at most about `limit` requests: (workload, None), or (its first requests,
    the estimate of the whole) when the draft describes more (actions.bounded_spec, bounded_transforms)."""
    if draft.kind == "generator":
        spec, estimate = actions.bounded_spec(draft.generator_spec(values), limit)
        return actions.synthesize(spec, seed=draft.seed, base_dir=draft.generator_dir), estimate
    if base is None:
        raise actions.FieldError("no workload loaded")
    return actions.bounded_transforms(base, values, limit, seed=draft.seed, preset_spec=draft.trace_preset_spec)


def build_workload(draft: draft_mod.Draft, values: dict[str, Any], base):
    """The workload the draft describes with the form's `values` (called from worker threads)."""
    if draft.kind == "generator":
        return actions.synthesize(draft.generator_spec(values), seed=draft.seed, base_dir=draft.generator_dir)
    if base is None:
        raise actions.FieldError("no workload loaded")
    return actions.apply_transforms(base, values, seed=draft.seed, preset_spec=draft.trace_preset_spec)


def _with_choices(fields: list[actions.ParamSpec], values: dict[str, Any]) -> list[actions.ParamSpec]:
    """Choice fields that also offer the kind a preset holds when the form has no fields for it (a windowed Gamma,
    an empirical length table): it shows as chosen and its parameters stay in the preset."""
    out = []
    for f in fields:
        v = values.get(f.path)
        if f.kind == "choice" and isinstance(v, str) and v and v not in f.choices:
            f = f.with_choice(v)
        out.append(f)
    return out

