"""The warm-up as a stage of its own on the Replay screen: the engine's `warmup` events say how far it is, then that
it is done, before the run's progress takes over the line."""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from burststudio.studio.app import make_app
from burststudio.studio.live import LiveRun
from burststudio.vocab import (EV_PROGRESS, EV_WARMUP, WARMUP_DONE, WARMUP_FIELDS, WARMUP_RUNNING, ProgressEvent,
                               WarmupEvent)


def _warmup(state: str, ended: int, failed: int = 0) -> WarmupEvent:
    event = WarmupEvent(event=EV_WARMUP, t=None, state=state, requests=8, ended=ended, failed=failed, elapsed_s=1.25)
    assert set(event) <= set(WARMUP_FIELDS)
    return event


def test_live_run_says_the_warmup_stage():
    live = LiveRun()
    assert live.warmup_line() == ""
    live.feed(_warmup(WARMUP_RUNNING, 3, failed=1))
    assert "warming up: 3/8 requests ended, 1 failed (not measured)" in live.warmup_line()
    live.feed(_warmup(WARMUP_DONE, 8))
    assert live.warmup_line().startswith("warm-up done: 8 requests in 1.2 s (not measured)")


def test_the_replay_screen_shows_the_warmup_then_the_run(studio_config):
    studio_config.redraw_hz = 0.01

    async def run():
        app = make_app(studio_config)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f2")
            await pilot.pause()
            screen = app.replay_screen
            state = screen.query_one("#run-state", Static)
            screen._event(_warmup(WARMUP_RUNNING, 5))
            screen.redraw()
            assert "warming up: 5/8" in str(state.render())
            screen._event(_warmup(WARMUP_DONE, 8))
            screen.redraw()
            assert "warm-up done: 8 requests" in str(state.render())
            screen._event(ProgressEvent(event=EV_PROGRESS, t=0.25, sent=3, finished=1, failed=0, in_flight=2,
                                        planned=10, by_class={}, requests=[]))
            screen.redraw()
            assert "sent 3/10" in str(state.render())

    asyncio.run(run())
