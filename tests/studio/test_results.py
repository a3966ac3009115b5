"""The Results screen driven with Pilot: a stopped run and one stopped during start-up say how they ended, compare
mode overlays every compared run and outlives a visit to another screen, the screenshot lands in the run shown,
and the help lists the screen's keys. Plus the pieces under it: run listing, columns that fit, the timeline."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from burststudio.studio import runs as runs_mod
from burststudio.studio import timeline as tl
from burststudio.studio.app import make_app
from burststudio.studio.screens.help_screen import HELP
from burststudio.studio.screens.results_screen import ResultsScreen
from burststudio.studio.widgets.chart import time_label, time_ticks
from burststudio.studio.widgets.run_ending import RunEnding
from burststudio.studio.widgets.run_list import COLUMNS, RunList, cut, fit_columns, short_name
from tests.studio.conftest import make_run, make_startup_run

DONE = "20260101-120000-kv-pressure-sim"
STOPPED = "20260101-121500-kv-pressure-url"
STARTUP = "20260101-123000-kv-pressure-vllm"


def _runs(runs_dir) -> None:
    make_run(runs_dir, DONE, episodes=[(100.0, 130.0)])
    make_run(runs_dir, STOPPED, reason="stopped", not_sent=217, failed_share=0.25,
             target={"kind": "url", "url": "http://127.0.0.1:8000", "model": "tiny"})
    make_startup_run(runs_dir, STARTUP)


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _cells(run_list: RunList, name: str) -> list[str]:
    return [str(c) for c in run_list.get_row(name)]


def test_a_stopped_run_and_a_start_up_run_say_how_they_ended(studio_config):
    _runs(studio_config.runs_dir)

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("f3")
            await _settle(pilot)
            screen = app.results_screen
            run_list = screen.query_one(RunList)
            assert [r.name for r in run_list.runs] == [DONE, STOPPED, STARTUP]
            assert "ended" in run_list.shown
            assert _cells(run_list, STOPPED)[2:5] == ["stopped", "1,200", "299"]
            assert _cells(run_list, STARTUP)[2:] == ["start-up", "-", "-", "-"]

            await pilot.press("down")
            await _settle(pilot)
            text = str(screen.query_one(RunEnding).render())
            assert "target url http://127.0.0.1:8000 model tiny" in text
            assert "stopped: 1,200 of 1,417 sent = 901 finished + 299 failed + 0 cancelled; 217 not sent" in text

            await pilot.press("down")
            await _settle(pilot)
            text = str(screen.query_one(RunEnding).render())
            assert "stopped during start-up: no requests" in text
            assert "vllm.log" in text
            # Nothing to chart, and nothing from the run before left on the charts.
            assert screen.drawn == [STARTUP]
            assert all(c.points == 0 for c in screen.query("Chart"))

    asyncio.run(run())


def test_compare_overlays_every_run_and_outlives_another_screen(studio_config):
    _runs(studio_config.runs_dir)

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("f3")
            await _settle(pilot)
            screen = app.results_screen
            one = screen.query_one("#latency-chart").points
            await pilot.press("space", "down", "space", "c")
            await _settle(pilot)
            assert screen.compared == [DONE, STOPPED] and screen.drawn == [DONE, STOPPED]
            both = screen.query_one("#latency-chart").points
            assert both > one // 2 and "0 " in screen.query_one("#kv-chart").border_subtitle
            assert "1 " in screen.query_one("#kv-chart").border_subtitle
            await pilot.press("f1")
            await pilot.press("f3")
            await _settle(pilot)
            assert isinstance(app.screen, ResultsScreen)
            assert screen.compared == [DONE, STOPPED] and screen.drawn == [DONE, STOPPED]
            assert f"1 {STOPPED}" in str(screen.query_one(RunEnding).render())
            await pilot.press("escape")
            await _settle(pilot)
            assert screen.compared == [] and len(screen.drawn) == 1

    asyncio.run(run())


def test_the_screenshot_goes_into_the_run_shown_and_says_where(studio_config, monkeypatch, tmp_path):
    _runs(studio_config.runs_dir)
    monkeypatch.setenv("HOME", str(tmp_path / "no-home"))  # no ~/Downloads to fall back on

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            saved = app.deliver_screenshot()
            assert saved is not None and saved.startswith(str(studio_config.root))
            await pilot.press("f3")
            await _settle(pilot)
            saved = app.deliver_screenshot()
            assert saved is not None
            shots = list((studio_config.runs_dir / DONE).glob("*.svg"))
            assert len(shots) == 1 and str(shots[0]) == saved
            await pilot.pause()
            assert any(saved in n.message for n in app._notifications)

    asyncio.run(run())


def test_h_writes_the_html_report_of_the_run_shown_and_says_where(studio_config):
    _runs(studio_config.runs_dir)

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f3")
            await _settle(pilot)
            shown = app.screen.shown[0].path
            await pilot.press("h")
            await _settle(pilot)
            page = shown / "report.html"
            assert page.is_file() and "<script" in page.read_text()
            assert str(page) in page.read_text() or shown.name in page.read_text()
            assert any(str(page) in n.message for n in app._notifications)

    asyncio.run(run())


def test_help_lists_every_key_of_the_results_screen():
    for binding in (*ResultsScreen.BINDINGS, *RunList.BINDINGS):
        for key in binding.key.split(","):
            assert f"| {key} |" in HELP or f"| {key}," in HELP, key
    assert "Screenshot" in HELP


# --- the pieces ------------------------------------------------------------------------------------------------------
def test_runs_without_a_summary_are_listed_with_their_state(tmp_path):
    make_startup_run(tmp_path, "20260101-000000-a-vllm")
    (tmp_path / "empty-start").mkdir()
    sweep = tmp_path / "20260101-000000-a-sim-sweep"
    (sweep / "scale-1").mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "run.json").write_text('{"name": "k", "complete": false}')
    found = {r.name: r for r in runs_mod.list_runs(tmp_path, active=tmp_path / "empty-start")}
    assert set(found) == {"20260101-000000-a-vllm", "empty-start", "killed"}
    assert found["20260101-000000-a-vllm"].ended == runs_mod.STARTUP
    assert found["20260101-000000-a-vllm"].log.name == "vllm.log"
    assert found["empty-start"].ended == runs_mod.RUNNING  # the studio's own engine is starting its target
    assert found["killed"].ended == runs_mod.KILLED


def test_columns_fit_and_the_name_gives_way_first():
    widths = {"ended": 8, "sent": 5, "failed": 6, "ttft": 11}
    keys = [c.key for c in COLUMNS]
    shown, name = fit_columns(200, 30, widths, 2)
    assert shown == keys and name == 30
    shown, name = fit_columns(54, 30, widths, 2)
    assert shown == keys and name == 54 - sum(w + 2 for w in widths.values()) - 2 == 14
    # Narrower: sent goes, then ended, then failed; TTFT p99 stays whole.
    shown, name = fit_columns(45, 30, widths, 2)
    assert shown == ["ended", "failed", "ttft"] and name == 12
    shown, name = fit_columns(40, 30, widths, 2)
    assert shown == ["failed", "ttft"] and name == 17
    shown, name = fit_columns(31, 30, widths, 2)
    assert shown == ["ttft"] and name == 31 - 13 - 2
    assert short_name("20260101-121500-kv-pressure-url") == "12:15 kv-pressure-url"
    assert cut("12:15 vllm-cpu-kv-pressure-url", 16) == "12:15 vl…ure-url"
    assert cut("short", 16) == "short"


def test_time_axis_ticks_are_few_and_in_one_unit():
    assert time_ticks(0, 18.6, 5) == [0.0, 5.0, 10.0, 15.0]
    assert time_label(time_ticks(0, 18.6, 5)) == ["0 s", "5 s", "10 s", "15 s"]
    assert time_label(time_ticks(0, 400, 4)) == ["0 min", "2 min", "4 min", "6 min"]
    assert time_label(time_ticks(0, 20000, 5)) == ["0 h", "2 h", "4 h"]
    assert len(time_ticks(0, 18.6, 2)) == 2


def test_timeline_windows_latency_failures_and_episodes():
    requests = pd.DataFrame({
        "outcome": ["ok"] * 8 + ["http_503", "timeout", "cancelled"],
        "scheduled_s": [0.5, 1.5, 2.5, 3.5, 10.5, 10.6, 10.7, 10.8, 10.9, 11.0, 11.1],
        "sent_s": [0.5, 1.5, 2.5, 3.5, 10.5, 10.6, 10.7, 10.8, 10.9, 11.0, 11.1],
        "first_s": [0.6, 1.6, 2.6, 3.6, 11.5, 11.6, 11.7, 11.8, np.nan, np.nan, np.nan],
        "end_s": [0.7, 1.7, 2.7, 3.7, 12.0, 12.1, 12.2, 12.3, 10.9, 16.0, 11.1],
    })
    metrics = pd.DataFrame({"t": [0.0, 5.0, 10.0, 15.0], "kv_cache_usage": [0.1, 0.2, 0.9, 0.3]})
    t = tl.timeline(requests, metrics, window_s=5.0)
    assert t.end_s == 16.0 and list(t.t) == [2.5, 7.5, 12.5, 17.5]
    assert list(t.arrivals_per_s * 5) == [4, 0, 7, 0]
    assert list(t.failed_per_s * 5) == [0, 0, 2, 0]  # the cancelled request is no failure
    assert list(t.ttft_t) == [2.5, 12.5]  # no point where nothing finished
    assert t.ttft_p50_ms == pytest.approx([100.0, 1000.0])
    assert list(t.kv_pct) == pytest.approx([10, 20, 90, 30])
    assert tl.window_for(400) == 5.0 and tl.window_for(18.6) == 0.25 and tl.window_for(86400) == 1800.0

    summary = {"burst": {"episodes": [{"start_s": 10, "end_s": 12}, {"start_s": 11, "end_s": 14},
                                      {"start_s": "x"}, {"start_s": 5, "end_s": 4}]}}
    assert tl.episodes(summary) == [(10.0, 12.0), (11.0, 14.0)]
    assert tl.episodes({"burst": {}}) == [] and tl.episodes(None) == []
    assert tl.merge(tl.episodes(summary) + [(20.0, 21.0)]) == [(10.0, 14.0), (20.0, 21.0)]
