"""The Workload screen's fit, saving, keys and bounded preview, driven with Pilot on the shipped traces and presets."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from burststudio.studio.app import make_app
from burststudio.studio.messages import FitCompleted, PresetSaved, PreviewComputed
from burststudio.studio.screens.overwrite_modal import OverwriteModal
from tests.studio.test_flows import _until

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_TRACES = ("azure_llm_2023_code.csv", "mooncake_conversation_trace.jsonl", "burstgpt_1_head42.csv")


def _figures(stats: dict) -> dict[str, float | None]:
    from burststudio.workload.fit_generator import FIT_FIGURES

    return {label: get(stats) for _, label, get in FIT_FIGURES}


@pytest.mark.parametrize("trace_name", SHIPPED_TRACES)
def test_the_fit_keeps_what_the_preview_measures_or_says_why(studio_config, trace_name):
    """After Fit, the preview of the fitted generator shows each figure of the trace's preview within 10%, or the
    fit's message names the figure and why (the 42-row trace: too few requests for a p99)."""
    trace = studio_config.traces_dir / trace_name
    shutil.copy(ROOT / "traces" / trace_name, trace)

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: screen.preview_is_current)
            screen.load_source("trace", str(trace))
            await _until(pilot, lambda: screen.kind == "trace" and screen.preview_is_current)
            before = _figures(screen.preview.stats)
            seen.clear()
            await pilot.click("#fit")
            await _until(pilot, lambda: any(isinstance(m, FitCompleted) for m in seen)
                         and screen.kind == "generator" and screen.preview_is_current, timeout_s=120)
            done = [m for m in seen if isinstance(m, FitCompleted)][0]
            return before, _figures(screen.preview.stats), done

    before, after, done = asyncio.run(run())
    off = {k for k in before if before[k] and abs(after[k] / before[k] - 1) > 0.10}
    # What is off is exactly what the fit said it could not keep, each with its reason in the summary.
    assert off == set(done.misses), (before, after, done.summary)
    for label in done.misses:
        assert f"{label} " in done.summary and "(" in done.summary
    if trace_name != "burstgpt_1_head42.csv":
        assert not off, (before, after, done.summary)
        assert "every figure within 10%" in done.summary
    else:
        assert all(label.endswith(("p50", "p99")) for label in off)
        assert "only 42 requests" in done.summary or not off


def _modal(app) -> OverwriteModal | None:
    return app.screen if isinstance(app.screen, OverwriteModal) else None


def test_saving_over_a_preset_asks_first_and_the_list_follows(studio_config):
    presets = studio_config.presets_dir

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: screen.preview_is_current)
            # A new name is written at once, and the preset list offers it without a restart.
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: any(isinstance(m, PresetSaved) for m in seen))
            first = presets / "my-workload.toml"
            assert first.is_file()
            picker = screen.query_one("SourcePicker")
            assert first in picker.presets
            original = first.read_text()
            # The same name again: a question, whose default (Enter) saves under a free name.
            screen.query_one("#f-arrivals-cv").value = "3"
            await _until(pilot, lambda: screen.values.get("arrivals.cv") == 3.0)
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: _modal(app) is not None)
            await pilot.press("enter")
            await _until(pilot, lambda: (presets / "my-workload-2.toml").is_file())
            assert first.read_text() == original
            assert screen.query_one("#preset-name").value == "my-workload-2"
            assert presets / "my-workload-2.toml" in picker.presets
            # Escape leaves the file alone; Overwrite replaces it.
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: _modal(app) is not None)
            await pilot.press("escape")
            await _until(pilot, lambda: _modal(app) is None)
            assert not (presets / "my-workload-3.toml").exists()
            screen.query_one("#f-arrivals-cv").value = "4"
            await _until(pilot, lambda: screen.values.get("arrivals.cv") == 4.0)
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: _modal(app) is not None)
            await pilot.click("#overwrite")
            await _until(pilot, lambda: "cv = 4.0" in (presets / "my-workload-2.toml").read_text())
            # Picking the preset source lists what was saved.
            await pilot.click("#source-kind")
            screen.query_one("SourcePicker").show_kind("preset")
            await pilot.pause()
            options = [str(o[1]) if isinstance(o, tuple) else o for o in
                       screen.query_one("#source-item")._options]
            assert any(str(presets / "my-workload-2.toml") in str(o) for o in options)

    asyncio.run(run())


def test_overwriting_a_shipped_preset_keeps_its_header_and_keys(studio_config):
    from burststudio.presets import load_preset

    preset = studio_config.presets_dir / "azure-code-replay.toml"
    text = (ROOT / "presets" / preset.name).read_text()
    shutil.copy(ROOT / "traces" / "azure_llm_2023_code.csv", studio_config.traces_dir)
    preset.write_text(text)

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: screen.preview_is_current)
            screen.load_source("preset", str(preset))
            await _until(pilot, lambda: screen.preset is not None and screen.preview_is_current)
            screen.query_one("#f-rate_scale").value = "0.5"
            await _until(pilot, lambda: screen.values.get("rate_scale") == 0.5)
            # Focus in a text field: ctrl+s still saves, and asks before touching the shipped file.
            screen.query_one("#f-rate_scale").focus()
            await pilot.press("ctrl+s")
            await _until(pilot, lambda: _modal(app) is not None)
            assert "azure-code-replay: twenty minutes" in str(app.screen.query_one("#overwrite-note").render())
            await pilot.click("#overwrite")
            await _until(pilot, lambda: "rate_scale = 0.5" in preset.read_text())

    asyncio.run(run())
    saved = preset.read_text()
    header = text[: text.index("[workload]")].rstrip()
    assert saved.startswith(header), saved[:400]
    assert "seed = 0" in saved  # a key the file wrote on purpose, though it is the default
    assert load_preset(preset).replay.overlong == "clip"


class _RunningEngine:
    """Stands in for the engine process: it runs until stopped (the real one is driven in test_flows)."""

    def __init__(self) -> None:
        self.running = True
        self.stopped = False

    async def stop(self) -> None:
        self.running = False
        self.stopped = True


def test_ctrl_x_stops_a_replay_from_a_text_field_and_cuts_when_none_runs(studio_config):
    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            await _until(pilot, lambda: app.workload_screen.preview_is_current)
            await pilot.press("f2")
            field = app.replay_screen.query_one("#duration")
            field.focus()
            await pilot.pause()
            # The footer keeps ^x Stop while the text field has the focus.
            shown = {k: b.binding for k, b in app.screen.active_bindings.items() if b.binding.show}
            assert shown["ctrl+x"].description == "Stop"
            # Nothing runs: ctrl+x is the field's own (cut).
            field.value = "45"
            field.select_all()
            await pilot.press("ctrl+x")
            assert field.value == ""
            engine = _RunningEngine()
            app.replay_screen.engine = engine
            field.value = "45"
            field.focus()
            await pilot.press("ctrl+x")
            await _until(pilot, lambda: engine.stopped)
            assert field.value == "45"
            # On the Workload screen the footer shows ^s Save, also from a text field.
            await pilot.press("f1")
            app.workload_screen.query_one("#preset-name").focus()
            await pilot.pause()
            shown = {k: b.binding for k, b in app.screen.active_bindings.items() if b.binding.show}
            assert shown["ctrl+s"].description == "Save"
            engine.running = False

    asyncio.run(run())


def test_huge_values_preview_a_sample_and_the_error_clears(studio_config):
    """50M requests preview their first ones and say so; a rate scale of 1e6 (the most the key takes) is refused
    beside its field before any memory is asked for, and the error goes when the value is fixed."""
    import dataclasses

    config = dataclasses.replace(studio_config, preview_max_requests=20_000)
    shutil.copy(ROOT / "traces" / "azure_llm_2023_code.csv", config.traces_dir)

    async def run():
        seen: list = []
        app = make_app(config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            screen = app.workload_screen
            await _until(pilot, lambda: screen.preview_is_current)
            screen.query_one("#f-requests").value = "50000000"
            await _until(pilot, lambda: screen.values.get("requests") == 50_000_000 and screen.preview_is_current)
            assert screen.preview.requests == 20_000
            note = str(screen.query_one("#preview-note").render())
            assert "first 20,000 of about 50,000,000" in note and screen.query_one("#preview-note").display
            screen.query_one("#f-requests").value = "8000"
            await _until(pilot, lambda: screen.values.get("requests") == 8000 and screen.preview_is_current)
            assert not screen.query_one("#preview-note").display

            screen.load_source("trace", str(config.traces_dir / "azure_llm_2023_code.csv"))
            await _until(pilot, lambda: screen.kind == "trace" and screen.preview_is_current)
            seen.clear()
            screen.query_one("#f-rate_scale").value = "1e6"
            row = screen.query_one("ParamForm").row("rate_scale")
            await _until(pilot, lambda: "the preview computes at most 20,000" in row.error, timeout_s=10)
            # A large but computable scale: its first rows, said so.
            screen.query_one("#f-rate_scale").value = "10"
            await _until(pilot, lambda: screen.values.get("rate_scale") == 10 and screen.preview_is_current)
            assert row.error == ""
            assert 15_000 <= screen.preview.requests <= 25_000
            assert "of about 88,190" in str(screen.query_one("#preview-note").render())

    asyncio.run(run())
