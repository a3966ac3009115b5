"""Every screen at 80x24, 120x40 and 160x48 (plain def tests; pytest --snapshot-update rewrites them)."""

from __future__ import annotations

import pytest
from textual.worker import WorkerCancelled

from burststudio.studio.app import make_app
from tests.studio.conftest import make_run, make_startup_run

SIZES = [(80, 24), (120, 40), (160, 48)]


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


# The Workload screen also at 120x40, where long axis labels used to run together.
WORKLOAD_SIZES = [(80, 24), (120, 40), (160, 48)]


@pytest.mark.parametrize("size", WORKLOAD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_workload_screen(snap_compare, studio_config, size):
    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", WORKLOAD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_workload_screen_with_a_trace(snap_compare, studio_config, size):
    """The Azure trace: an hour on a minutes axis, three length histograms with their ticks."""
    import shutil
    from pathlib import Path

    trace = studio_config.traces_dir / "azure_llm_2023_code.csv"
    shutil.copy(Path(__file__).resolve().parents[2] / "traces" / trace.name, trace)

    async def run_before(pilot):
        await _settle(pilot)
        screen = pilot.app.workload_screen
        screen.load_source("trace", str(trace))
        # Loading, then the preview it starts: wait for the preview of the trace itself, drawn.
        for _ in range(600):
            try:
                await _settle(pilot)
            except WorkerCancelled:  # an edit's preview gave way to the next one: wait for that one
                continue
            if screen.kind == "trace" and screen.preview_is_current \
                    and not screen.query_one("#workload-charts").loading:
                break
        # The loading indicator, once removed, leaves a repaint behind: let it land.
        await pilot.pause(0.5)
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_overwrite_question(snap_compare, studio_config, size):
    (studio_config.presets_dir / "my-workload.toml").write_text("# my-workload: a preset already there.\n")

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("ctrl+s")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_replay_screen(snap_compare, studio_config, size):
    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f2")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


def _results_runs(runs_dir) -> list[str]:
    """A finished run with burst episodes, a stopped one against a URL, and one stopped during vLLM's start-up,
    named as the engine names them (time, preset, target kind)."""
    done = make_run(runs_dir, "20260101-120000-vllm-cpu-kv-pressure-sim", episodes=[(100.0, 130.0)])
    stopped = make_run(runs_dir, "20260101-121500-vllm-cpu-kv-pressure-url", failed_share=0.25, slowdown=1.6,
                       reason="stopped", not_sent=217, episodes=[(100.0, 130.0)],
                       target={"kind": "url", "url": "http://127.0.0.1:8000", "model": "tiny"})
    make_startup_run(runs_dir, "20260101-123000-vllm-cpu-kv-pressure-vllm")
    return [done.name, stopped.name]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_results_screen(snap_compare, studio_config, size):
    _results_runs(studio_config.runs_dir)

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f3")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_results_stopped_run(snap_compare, studio_config, size):
    _results_runs(studio_config.runs_dir)

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f3")
        await _settle(pilot)
        await pilot.press("down")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_results_compare(snap_compare, studio_config, size):
    _results_runs(studio_config.runs_dir)

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f3")
        await _settle(pilot)
        await pilot.press("space", "down", "space", "c")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, studio_config, size):
    async def run_before(pilot):
        await _settle(pilot)
        await pilot.app.run_action("help")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)
