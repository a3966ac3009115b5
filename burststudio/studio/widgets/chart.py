"""A titled chart (textual-plot's PlotWidget) with compact margins that redraws from whole series at once.

Every draw reduces each series to about twice the chart's width in points, so a chart costs the same whatever the
length of what it shows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from textual_plot import HiResMode, PlotWidget

from burststudio.studio.series import reduce_points

# (x, y, style, label)
Series = tuple[np.ndarray, np.ndarray, str, str]


class Chart(PlotWidget, can_focus=False):
    DEFAULT_CSS = """
    Chart { border: round $primary-background-lighten-2; border-title-color: $text-muted; min-height: 6; }
    """

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.border_title = title
        self.points = 0

    def on_mount(self) -> None:
        super().on_mount()
        self.margin_top = 0
        self.margin_bottom = 2
        self.margin_left = 7

    def _max_points(self) -> int:
        return max(2 * max(self.size.width - self.margin_left, 10), 20)

    def draw_lines(self, series: Sequence[Series], *, ymin: float | None = 0.0, xlimits: tuple[float, float] | None = None) -> int:
        """Replace what the chart shows with these line series; returns the points drawn."""
        self.clear()
        points = 0
        limit = self._max_points()
        for x, y, style, label in series:
            if len(x) == 0:
                continue
            rx, ry = reduce_points(np.asarray(x, dtype=float), np.asarray(y, dtype=float), limit)
            self.plot(rx, ry, line_style=style, hires_mode=HiResMode.BRAILLE, label=label or None)
            points += len(rx)
        self._limits(series, ymin, xlimits)
        self.points = points
        return points

    def draw_bars(self, x: np.ndarray, y: np.ndarray, width: float, style: str = "steel_blue",
                  overlay: Sequence[Series] = ()) -> int:
        self.clear()
        if len(x) == 0:
            self.points = 0
            return 0
        self.bar(np.asarray(x, dtype=float), np.asarray(y, dtype=float), width=width * 0.9, bar_style=style,
                 hires_mode=HiResMode.QUADRANT)
        points = len(x)
        for ox, oy, ostyle, label in overlay:
            if len(ox):
                self.plot(ox, oy, line_style=ostyle, hires_mode=HiResMode.BRAILLE, label=label or None)
                points += len(ox)
        self.set_xlimits(float(x[0] - width / 2), float(x[-1] + width / 2))
        top = float(max(np.max(y), max((float(np.max(oy)) for _, oy, _, _ in overlay if len(oy)), default=0.0)))
        self.set_ylimits(0.0, top * 1.05 if top > 0 else 1.0)
        self.points = points
        return points

    def _limits(self, series: Sequence[Series], ymin: float | None, xlimits: tuple[float, float] | None) -> None:
        ys = [np.asarray(y, dtype=float) for _, y, _, _ in series if len(y)]
        xs = [np.asarray(x, dtype=float) for x, _, _, _ in series if len(x)]
        if not ys:
            self.set_xlimits(0.0, 1.0)
            self.set_ylimits(0.0, 1.0)
            return
        top = max(float(np.nanmax(y)) for y in ys)
        lo = ymin if ymin is not None else min(float(np.nanmin(y)) for y in ys)
        self.set_ylimits(lo, top * 1.05 if top > lo else lo + 1.0)
        if xlimits is None:
            x0 = min(float(x[0]) for x in xs)
            x1 = max(float(x[-1]) for x in xs)
            xlimits = (x0, x1 if x1 > x0 else x0 + 1.0)
        self.set_xlimits(*xlimits)
