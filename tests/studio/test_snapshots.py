"""Every screen at 80x24 and 160x48 (plain def tests; pytest --snapshot-update rewrites them)."""

from __future__ import annotations

import pytest

from burststudio.studio.app import make_app
from tests.studio.conftest import make_run

SIZES = [(80, 24), (160, 48)]


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_workload_screen(snap_compare, studio_config, size):
    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_replay_screen(snap_compare, studio_config, size):
    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f2")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_results_screen(snap_compare, studio_config, size):
    make_run(studio_config.runs_dir, "run-a")
    make_run(studio_config.runs_dir, "run-b", failed_share=0.25, slowdown=1.6)

    async def run_before(pilot):
        await _settle(pilot)
        await pilot.press("f3")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, studio_config, size):
    async def run_before(pilot):
        await _settle(pilot)
        await pilot.app.run_action("help")
        await _settle(pilot)

    assert snap_compare(make_app(studio_config), terminal_size=size, run_before=run_before)
