"""The Workload screen's axes: round ticks inside the limits whose labels never touch, time in a readable unit."""

import pytest

from burststudio.studio.widgets.chart import spaced_ticks, tick_labels, time_unit


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


@pytest.mark.parametrize("span,unit", [(300, "s"), (3436, "min"), (20_035, "h"), (61 * 86400, "d")])
def test_time_axes_in_a_unit_for_their_span(span, unit):
    assert time_unit(span)[1] == unit
