"""What the Replay screen redraws: only charts whose series changed, slow charts at most once a SLOW_PERIOD_S, nothing
while another screen is shown, and each chart drawn into its canvases at once (not later, in render)."""

from __future__ import annotations

import asyncio

from burststudio.studio.app import make_app
from burststudio.studio.screens.replay_screen import LIVE_CHARTS, SLOW_CHARTS, SLOW_PERIOD_S
from burststudio.studio.widgets.chart import Chart
from burststudio.vocab import (EV_PROGRESS, EV_SAMPLE, EVENT_TIME, EVENT_TYPE, KV_CACHE_USAGE, OK, PREEMPTIONS_TOTAL,
                               PROGRESS_FIELDS, RUNNING, WAITING, ProgressEvent)

ALL_CHARTS = {chart_id for chart_id, _ in LIVE_CHARTS}
BRAILLE = range(0x2801, 0x2900)  # a braille cell with at least one dot


def _progress(t: float, n: int) -> ProgressEvent:
    event = ProgressEvent(event=EV_PROGRESS, t=t, sent=n, finished=n - 5, failed=0, in_flight=5, planned=1000,
                          by_class={}, ttft_p50_s=0.04 + t / 100, ttft_p99_s=0.05 + t / 100, itl_p50_s=0.005,
                          itl_p99_s=0.006, lateness_p99_s=0.001,
                          requests=[[n - 1, OK, 100, 64, 0.04, 0.4, 0.005, 0.0001]])
    assert set(event) <= set(PROGRESS_FIELDS)
    return event


def _sample(t: float) -> dict:
    return {EVENT_TYPE: EV_SAMPLE, EVENT_TIME: t, KV_CACHE_USAGE: 0.2 + t / 10, RUNNING: 5, WAITING: 1,
            PREEMPTIONS_TOTAL: 0}


def _plot_has_dots(chart: Chart) -> bool:
    buffer = chart.query_one("#plot")._buffer
    return any(ord(c) in BRAILLE for row in buffer for c in row)


def test_the_replay_screen_redraws_only_what_changed_and_is_shown(studio_config, monkeypatch):
    drawn: list[str] = []
    original = Chart.draw_lines

    def recording(self, *args, **kwargs):
        drawn.append(self.id)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Chart, "draw_lines", recording)
    # The screen's own 4 Hz timer must not draw between the steps below.
    studio_config.redraw_hz = 0.01

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f2")
            await pilot.pause()
            screen = app.replay_screen
            n = 0
            for k in range(3):  # three ticks: the rate needs two to have a first point
                n += 50
                screen._event(_progress(0.25 * (k + 1), n))
            screen._event(_sample(0.5))
            # Showing the screen drew the (empty) charts: let their slow period pass.
            screen._drawn_at.clear()
            drawn.clear()
            screen.redraw()
            assert set(drawn) == ALL_CHARTS
            # Drawn now, into the canvases: the plot shows its line before any render.
            chart = screen.query_one("#latency-live", Chart)
            assert not chart._needs_rerender and _plot_has_dots(chart)

            # Nothing new: nothing drawn.
            drawn.clear()
            screen.redraw()
            assert drawn == []

            # New progress and a sample within SLOW_PERIOD_S: the fast charts only.
            screen._event(_progress(1.0, n + 50))
            screen._event(_sample(1.0))
            drawn.clear()
            screen.redraw()
            assert set(drawn) == ALL_CHARTS - SLOW_CHARTS
            # Once the period is up, the slow charts catch up (their series changed meanwhile).
            screen._drawn_at = {k: v - SLOW_PERIOD_S for k, v in screen._drawn_at.items()}
            screen._event(_progress(1.25, n + 100))
            drawn.clear()
            screen.redraw()
            assert SLOW_CHARTS <= set(drawn)

            # Another screen shown: events are read and kept, nothing drawn; back on the Replay screen, all of it.
            await pilot.press("f1")
            await pilot.pause()
            screen._event(_progress(1.5, n + 150))
            screen._event(_sample(1.5))
            drawn.clear()
            screen.redraw()
            assert drawn == []
            assert screen.live.progress["sent"] == n + 150
            assert screen.query_one("#latest").rows[-1][0] == str(n + 149)
            await pilot.press("f2")
            await pilot.pause()
            assert set(drawn) >= {"kv-live", "queue-live", "rate-live"}

    asyncio.run(run())
