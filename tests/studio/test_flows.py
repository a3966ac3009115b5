"""The studio's flows, driven with Pilot and checked on the app's own messages."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from burststudio.studio.app import make_app
from burststudio.studio.messages import PresetSaved, PreviewComputed, PreviewFailed, RunFinished, ChartsRedrawn


async def _until(pilot, predicate, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < end, "timed out waiting for the app"
        await pilot.pause(0.05)


def test_edit_a_parameter_changes_the_stats(studio_config):
    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            before = app.workload_screen.preview.stats["rate_rps"]
            seen.clear()
            rate = app.workload_screen.query_one("#f-arrivals-rate")
            rate.value = "20"
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            after = [m for m in seen if isinstance(m, PreviewComputed)][-1].preview.stats["rate_rps"]
            assert before == pytest.approx(5.0, rel=0.1)
            assert after == pytest.approx(20.0, rel=0.1)
            shown = str(app.workload_screen.query_one("#stats").render())
            assert app.workload_screen.query_one("#stats").stats["rate_rps"] == after
            del shown

    asyncio.run(run())


def test_a_bad_value_shows_its_error_beside_the_field(studio_config):
    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            form = app.workload_screen.query_one("#params")
            app.workload_screen.query_one("#f-arrivals-rate").value = "fast"
            await pilot.pause(0.1)
            assert form.row("arrivals.rate").error == "must be a number"
            # A value the form parses but the generator refuses comes back from synth's validate.
            app.workload_screen.query_one("#f-arrivals-rate").value = "-3"
            await _until(pilot, lambda: any(isinstance(m, PreviewFailed) for m in seen) or
                         form.row("arrivals.rate").error)
            assert form.row("arrivals.rate").error

    asyncio.run(run())


def test_a_bad_trace_is_one_notification(studio_config, tmp_path):
    bad = tmp_path / "traces" / "broken.csv"
    bad.write_text("this,is,not\na,trace,file\n")

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.workload_screen.load_source("trace", str(bad))
            await _until(pilot, lambda: len(app._notifications) > 0)
            note = list(app._notifications)[0]
            assert note.severity == "error"
            assert "\n" not in note.message and "Traceback" not in note.message

    asyncio.run(run())


def test_save_a_preset_and_load_it_back(studio_config):
    from burststudio.presets import load_preset

    async def run():
        seen: list = []
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            app.workload_screen.query_one("#f-arrivals-cv").value = "3"
            app.workload_screen.query_one("#preset-name").value = "bursty-test"
            await _until(pilot, lambda: app.workload_screen.values.get("arrivals.cv") == 3.0)
            await pilot.click("#save")
            await _until(pilot, lambda: any(isinstance(m, PresetSaved) for m in seen))
            path = [m for m in seen if isinstance(m, PresetSaved)][0].path
            assert path == studio_config.presets_dir / "bursty-test.toml"
            preset = load_preset(path)
            assert preset.workload_spec["arrivals"]["cv"] == 3.0
            assert preset.target.kind == "sim"
            # It loads back into the form through the preset source.
            seen.clear()
            app.workload_screen.load_source("preset", str(path))
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            assert app.workload_screen.values["arrivals.cv"] == 3.0

    asyncio.run(run())


def test_help_and_screens_from_the_keyboard(studio_config):
    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f2")
            assert app.screen.id == "replay-screen"
            await pilot.press("f3")
            assert app.screen.id == "results-screen"
            await pilot.press("question_mark")
            assert type(app.screen).__name__ == "HelpScreen"
            await pilot.press("escape")
            assert app.screen.id == "results-screen"
            await pilot.press("f1")
            assert app.screen.id == "workload-screen"

    asyncio.run(run())


def _replay_available() -> bool:
    try:
        import burststudio.commands.replay  # noqa: F401
        from tests.testserver import TestServer  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _replay_available(), reason="the replay command is not installed yet")
def test_replay_against_the_test_server_fills_charts_and_results(studio_config):
    from tests.testserver import TestServer

    async def run(url: str):
        seen: list = []
        studio_config.target_kind = "url"
        studio_config.target_url = url
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await _until(pilot, lambda: any(isinstance(m, PreviewComputed) for m in seen))
            screen = app.workload_screen
            screen.query_one("#f-requests").value = "40"
            screen.query_one("#f-arrivals-rate").value = "20"
            await _until(pilot, lambda: screen.values.get("requests") == 40)
            await pilot.press("f2")
            app.replay_screen.set_target_kind("url")
            await pilot.pause()
            await app.run_action("start_replay")
            await _until(pilot, lambda: any(isinstance(m, RunFinished) for m in seen), timeout_s=60)
            finished = [m for m in seen if isinstance(m, RunFinished)][0]
            assert finished.error is None, finished.error
            assert sum(m.points for m in seen if isinstance(m, ChartsRedrawn)) > 0
            await pilot.press("f3")
            names = [r.name for r in app.results_screen.query_one("#run-list").runs]
            assert finished.run_dir.name in names

    with TestServer() as server:
        asyncio.run(run(server.url))
