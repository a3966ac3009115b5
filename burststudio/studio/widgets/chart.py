"""A titled chart (textual-plot's PlotWidget) with compact margins that redraws from whole series at once.

Every draw reduces each series to about twice the chart's width in points, so a chart costs the same whatever the
length of what it shows. The series' names show in the bottom border in their colours: textual-plot's own legend is
a widget that asks for a new layout of the whole screen each time a series is added, which at 4 redraws a second
of six charts cost more than everything else the Replay screen does.
"""

from __future__ import annotations

import math
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np
from textual.geometry import Size
from textual_plot import HiResMode, PlotWidget
from textual_plot.axis_formatter import AxisFormatter

from burststudio.studio.series import reduce_points
from burststudio.timeaxis import time_unit

# (x, y, style, label)
Series = tuple[np.ndarray, np.ndarray, str, str]
# Shaded spans of x (burst episodes): drawn first, in a colour the lines stand out against.
SHADE_STYLE = "#3a3a3a"
# Tick steps of a time axis in seconds: whole seconds, minutes and hours a reader counts in.
TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Two to `max_ticks` ticks in [lo, hi] at multiples of a step of TIME_STEPS_S, the smallest that keeps them
    few (two when even the widest leaves fewer); under two seconds of span, the decimal steps of nice_ticks."""
    span = hi - lo
    if not span > 0 or span < 2:
        return nice_ticks(lo, hi, max_ticks)

    def ticks(step: float) -> np.ndarray:
        return np.arange(np.ceil(lo / step - 1e-9) * step, hi + step * 1e-9, step) + 0.0

    best = ticks(TIME_STEPS_S[0])
    for step in TIME_STEPS_S:
        t = ticks(step)
        if len(t) < 2:
            break
        best = t
        if len(t) <= max(max_ticks, 2):
            break
    return [float(x) for x in best]


def time_label(ticks: Sequence[float]) -> list[str]:
    """Tick labels in the one unit that suits the whole axis: "30 s", "5 min", "2 h"."""
    div, unit = time_unit(max((abs(t) for t in ticks), default=0.0))
    return [f"{t / div:.4g} {unit}" for t in ticks]


class TimeAxisFormatter(AxisFormatter):
    def get_ticks(self, min_: float, max_: float, max_ticks: int = 8) -> list[float]:
        return time_ticks(min_, max_, max_ticks)

    def get_labels_for_ticks(self, ticks: Sequence[float]) -> list[str]:
        return time_label(ticks)


class Chart(PlotWidget, can_focus=False):
    DEFAULT_CSS = """
    Chart { border: round $primary-background-lighten-2; border-title-color: $text-muted; min-height: 6;
            border-subtitle-align: right; border-subtitle-color: $text-muted; }
    """

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None,
                 y_labels: bool = True, time_axis: bool = False, spaced_x: bool = False) -> None:
        super().__init__(id=id, classes=classes, allow_pan_and_zoom=False)
        self.border_title = title
        self.points = 0
        self._drawing = False
        self._legend_text: str | None = None
        # A histogram's density axis says nothing a reader needs: without it a narrow chart keeps its bars.
        self.y_labels = y_labels
        # x in seconds, ticked and labelled in s, min or h (the Results charts of a run over time)
        self.time_axis = time_axis
        # x ticks by spaced_ticks: few, inside the limits, labels never touching (the Workload screen's charts).
        self.spaced_x = spaced_x
        # The last draw, made again when the size changes: the points kept, the bars merged and the ticks depend on
        # it, and a draw can come before the chart is laid out (the first preview of a studio often does).
        self._redraw: Callable[[], int] | None = None
        self._drawn_size = Size(0, 0)

    def on_mount(self) -> None:
        super().on_mount()
        if self.time_axis:
            self.set_x_formatter(TimeAxisFormatter())
        self.margin_top = 0
        self.margin_bottom = 1
        self.margin_left = 7 if self.y_labels else 1
        if not self.y_labels:
            self.set_yticks([])
        self.show_legend(is_visible=False)

    def on_resize(self) -> None:
        if self._redraw is not None and self.size != self._drawn_size:
            self._redraw()

    def _remember(self, redraw: Callable[[], int]) -> None:
        self._redraw = redraw
        self._drawn_size = self.size

    def _rerender(self) -> None:
        # Inside a draw the plot is drawn once at its end; outside one (a theme change, a resize) as textual-plot does.
        self._needs_rerender = True
        if not self._drawing:
            self.refresh()

    @contextmanager
    def _draw(self) -> Iterator[None]:
        """Draw the plot into its canvases once, at the end, each canvas asking for one repaint.

        textual-plot draws in render(): every pixel and label it sets there asks for another repaint of its canvas,
        so one redraw cost two or three passes of the compositor over the whole chart. Drawn here, the canvases are
        painted once and the plot widget itself (which shows nothing of its own) not at all.
        """
        self._drawing = True
        try:
            yield
        finally:
            self._drawing = False
        if self._needs_canvas_resize or not self.size:
            # Not laid out yet, or resized: render() sizes the canvases first, then draws.
            self.refresh()
            return
        with ExitStack() as stack:
            for canvas in self.query("Canvas"):  # textual-plot's plot and margin canvases
                stack.enter_context(canvas.batch_refresh())
            self._render_plot()
        self._needs_rerender = False

    def _ticks(self, xlimits: tuple[float, float], ylimits: tuple[float, float]) -> None:
        """Few enough ticks that their labels never run into each other, at round values."""
        width = max(self.size.width - self.margin_left - 2, 8)
        height = max(self.size.height - self.margin_bottom - 2, 2)
        if self.time_axis:
            self.set_xticks(spaced_ticks(*xlimits, width, ticks_for=time_ticks, labels_for=time_label))
        elif self.spaced_x:
            self.set_xticks(spaced_ticks(*xlimits, width))
        else:
            self.set_xticks(nice_ticks(*xlimits, max(2, width // 8)))
        if self.y_labels:
            self.set_yticks(nice_ticks(*ylimits, max(2, min(5, height // 2 + 1))))

    def _legend(self, series: Sequence[Series]) -> None:
        labels = [f"[{style}]━[/] {label}" for _, _, style, label in series if label]
        text = "  ".join(labels)
        # Compared with what was set, not with border_subtitle (which reads back parsed, so never equal): setting it
        # repaints the whole chart.
        if text != self._legend_text:
            self._legend_text = text
            self.border_subtitle = text

    def _max_points(self) -> int:
        return max(2 * max(self.size.width - self.margin_left, 10), 20)

    def draw_lines(self, series: Sequence[Series], *, ymin: float | None = 0.0,
                   xlimits: tuple[float, float] | None = None, shade: Sequence[tuple[float, float]] = ()) -> int:
        """Replace what the chart shows with these line series over the shaded spans of x; returns the points
        drawn."""
        with self._draw():
            self.clear()
            points = 0
            limit = self._max_points()
            self._shade(series, shade, ymin, xlimits)
            for x, y, style, label in series:
                if len(x) == 0:
                    continue
                rx, ry = reduce_points(np.asarray(x, dtype=float), np.asarray(y, dtype=float), limit)
                self.plot(rx, ry, line_style=style, hires_mode=HiResMode.BRAILLE)
                points += len(rx)
            self._legend(series)
            self._limits(series, ymin, xlimits)
        self.points = points
        self._remember(lambda: self.draw_lines(series, ymin=ymin, xlimits=xlimits, shade=shade))
        return points

    def _shade(self, series: Sequence[Series], spans: Sequence[tuple[float, float]], ymin: float | None,
               xlimits: tuple[float, float] | None) -> None:
        """Full-height blocks over the spans (cut to the x limits), under the lines drawn after them."""
        ys = [np.asarray(y, dtype=float) for _, y, _, _ in series if len(y)]
        if not spans or not ys:
            return
        top = max(float(np.nanmax(y)) for y in ys) * 1.05
        lo = ymin if ymin is not None else min(float(np.nanmin(y)) for y in ys)
        if not top > lo:
            top = lo + 1.0
        x0, x1 = xlimits if xlimits is not None else (-np.inf, np.inf)
        for a, b in spans:
            a, b = max(a, x0), min(b, x1)
            if b > a:
                self.bar([(a + b) / 2], [top], width=b - a, bar_style=SHADE_STYLE)

    def draw_bars(self, x: np.ndarray, y: np.ndarray, width: float, style: str = "#5f87af",
                  overlay: Sequence[Series] = ()) -> int:
        self._remember(lambda x=x, y=y, width=width: self.draw_bars(x, y, width, style, overlay))
        self.clear()
        if len(x) == 0:
            self.points = 0
            return 0
        # A bar narrower than one half-cell is not drawn at all: merge neighbouring bins until each gets one.
        cells = max(self.size.width - self.margin_left - 4, 4)
        k = int(np.ceil(len(x) / (2 * cells)))
        if k > 1:
            n = len(x) // k * k
            x = np.asarray(x[:n], dtype=float).reshape(-1, k).mean(axis=1)
            y = np.asarray(y[:n], dtype=float).reshape(-1, k).mean(axis=1)
            width = width * k
        self.bar(np.asarray(x, dtype=float), np.asarray(y, dtype=float), width=width * 0.9, bar_style=style,
                 hires_mode=HiResMode.QUADRANT)
        points = len(x)
        for ox, oy, ostyle, label in overlay:
            if len(ox):
                self.plot(ox, oy, line_style=ostyle, hires_mode=HiResMode.BRAILLE)
                points += len(ox)
        self._legend(overlay)
        xl = (float(x[0] - width / 2), float(x[-1] + width / 2))
        # The bars set the scale: a fitted density that shoots up near zero is cut at the top, not the bars squashed.
        bars_top = float(np.max(y))
        curve_top = max((float(np.max(oy)) for _, oy, _, _ in overlay if len(oy)), default=0.0)
        top = min(max(bars_top, curve_top), bars_top * 1.3) if bars_top > 0 else curve_top
        yl = (0.0, top * 1.05 if top > 0 else 1.0)
        self.set_xlimits(*xl)
        self.set_ylimits(*yl)
        self._ticks(xl, yl)
        self.points = points
        return points

    def _limits(self, series: Sequence[Series], ymin: float | None, xlimits: tuple[float, float] | None) -> None:
        ys = [np.asarray(y, dtype=float) for _, y, _, _ in series if len(y)]
        xs = [np.asarray(x, dtype=float) for x, _, _, _ in series if len(x)]
        if not ys:
            self.set_xlimits(0.0, 1.0)
            self.set_ylimits(0.0, 1.0)
            self._ticks((0.0, 1.0), (0.0, 1.0))
            return
        top = max(float(np.nanmax(y)) for y in ys)
        lo = ymin if ymin is not None else min(float(np.nanmin(y)) for y in ys)
        yl = (lo, top * 1.05 if top > lo else lo + 1.0)
        self.set_ylimits(*yl)
        if xlimits is None:
            x0 = min(float(x[0]) for x in xs)
            x1 = max(float(x[-1]) for x in xs)
            xlimits = (x0, x1 if x1 > x0 else x0 + 1.0)
        self.set_xlimits(*xlimits)
        self._ticks(xlimits, yl)


def nice_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Two to `max_ticks` ticks in [lo, hi] at multiples of 1, 2 or 5 times a power of ten (the widest such step
    that still leaves two)."""
    span = hi - lo
    if not span > 0:
        return [lo]
    max_ticks = max(max_ticks, 2)
    power = 10.0 ** np.floor(np.log10(span))
    best: list[float] = [lo, hi]
    for step in (m * power * f for f in (1.0, 0.1, 0.01) for m in (5.0, 2.0, 1.0)):
        # A tick a hair below the lower limit (a histogram starting at its first bin's edge) still counts.
        first = np.ceil(lo / step - 0.05) * step
        ticks = np.arange(first, hi + step * 1e-9, step)
        if len(ticks) > max_ticks:
            break
        if len(ticks) >= 2:
            best = [float(f"{t:.10g}") + 0.0 for t in ticks]
            if len(ticks) * 2 > max_ticks:
                break
    return best


def tick_labels(ticks: list[float]) -> list[str]:
    """The labels textual-plot writes for these ticks (decimals from the step, as its NumericAxisFormatter)."""
    if not ticks:
        return []
    power = math.floor(math.log10(ticks[1] - ticks[0])) if len(ticks) >= 2 and ticks[1] > ticks[0] else 0
    decimals = -min(0, power)
    return [f"{t:.{decimals}f}" for t in ticks]


def spaced_ticks(lo: float, hi: float, width: int, *,
                 ticks_for: Callable[[float, float, int], list[float]] | None = None,
                 labels_for: Callable[[list[float]], list[str]] | None = None) -> list[float]:
    """Round ticks inside [lo, hi] whose labels, each centred on its tick, leave at least two cells between
    neighbours in a plot `width` cells wide (an 80-column histogram is 10 cells: one or two ticks). The candidates
    come from `ticks_for(lo, hi, max_ticks)` (nice_ticks; time_ticks on a time axis), their labels from
    `labels_for` (tick_labels; time_label), so every axis follows the one spacing rule."""
    ticks_for = ticks_for or nice_ticks
    labels_for = labels_for or tick_labels
    if not hi > lo:
        return [lo]
    single: list[float] = []
    for max_ticks in range(max(2, width // 10), 1, -1):
        ticks = [t for t in ticks_for(lo, hi, max_ticks) if lo - 1e-9 * (hi - lo) <= t <= hi + 1e-9 * (hi - lo)]
        labels = labels_for(ticks)
        if len(ticks) >= 2:
            cells = width * (ticks[1] - ticks[0]) / (hi - lo)
            if cells >= max(len(x) for x in labels) + 2:
                return ticks
            # Too crowded: the tick nearest the middle alone, if nothing sparser fits.
            middle = min(ticks, key=lambda t: abs(t - (lo + hi) / 2))
            single = single or [middle]
        elif len(ticks) == 1:
            single = single or ticks
    return [t for t in single if len(labels_for([t])[0]) < width]
