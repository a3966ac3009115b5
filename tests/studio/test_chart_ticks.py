"""The Workload screen's axes: round ticks inside the limits whose labels never touch, time in a readable unit."""

import pytest

from burststudio.studio.widgets.chart import spaced_ticks, tick_labels
from burststudio.timeaxis import time_unit


@pytest.mark.parametrize("lo,hi", [(0, 2_000_000), (0, 3436), (14, 1794), (0, 0.35), (5, 1260), (0, 60.0)])
@pytest.mark.parametrize("width", [9, 10, 14, 24, 35, 76, 115])
def test_labels_never_run_together(lo, hi, width):
    ticks = spaced_ticks(lo, hi, width)
    assert all(lo <= t <= hi for t in ticks)
    assert len(ticks) <= max(2, width // 10)
    labels = tick_labels(ticks)
    cells = [width * (t - lo) / (hi - lo) for t in ticks]
    for (a, la), (b, lb) in zip(zip(cells, labels), zip(cells[1:], labels[1:])):
        assert b - a >= (len(la) + len(lb)) / 2 + 2, (ticks, labels)


def test_a_tick_survives_in_a_narrow_histogram():
    # An 80-column histogram is 10 cells: 0 lies below the first bin, so 1000 alone is shown (it used to be none).
    assert spaced_ticks(14, 1794, 10) == [1000.0]


@pytest.mark.parametrize("span,unit", [(90, "s"), (300, "min"), (3436, "min"), (20_035, "h"), (61 * 86400, "d")])
def test_time_axes_in_a_unit_for_their_span(span, unit):
    assert time_unit(span)[1] == unit


def test_a_chart_drawn_before_its_layout_is_drawn_again_at_its_width():
    """A draw made at one width (or before the chart had one: a studio's first preview) is made again when the
    width changes, so the points kept follow the chart's width instead of the width of the moment it was drawn."""
    import asyncio

    import numpy as np
    from textual.app import App

    from burststudio.studio.widgets.chart import Chart

    x = np.arange(5000.0)
    y = np.sin(x / 7.0)

    class One(App):
        def compose(self):
            yield Chart("rate", id="c")

    async def points_at(widths):
        seen = []
        app = One()
        async with app.run_test(size=(widths[0], 20)) as pilot:
            chart = app.query_one("#c", Chart)
            chart.draw_lines([(x, y, "white", "")])
            for w in widths:
                await pilot.resize_terminal(w, 20)
                await pilot.pause()
                seen.append(chart.points)
        return seen

    narrow, wide = asyncio.run(points_at([40, 160]))
    assert wide > narrow * 3, (narrow, wide)
    (fresh,) = asyncio.run(points_at([160]))
    assert wide == fresh
