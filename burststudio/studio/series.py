"""Ring buffers for live series and the reduction of a series to about twice a chart's width in points.

A chart redrawn at 4-5 Hz must not grow with the run: each series keeps a fixed number of the latest samples, and a
chart draws at most a couple of points per terminal cell.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """The latest `capacity` (x, y) samples, oldest first when read."""

    __slots__ = ("capacity", "_x", "_y", "_n", "_head", "appended")

    def __init__(self, capacity: int = 4096):
        self.capacity = capacity
        self._x = np.zeros(capacity, dtype=np.float64)
        self._y = np.zeros(capacity, dtype=np.float64)
        self._n = 0
        self._head = 0
        self.appended = 0  # samples ever appended: a reader redraws only when it changed

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        self._x[self._head] = x
        self._y[self._head] = y
        self._head = (self._head + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)
        self.appended += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._n < self.capacity:
            return self._x[: self._n].copy(), self._y[: self._n].copy()
        order = np.r_[self._head : self.capacity, 0 : self._head]
        return self._x[order], self._y[order]

    def clear(self) -> None:
        self._n = 0
        self._head = 0


def reduce_points(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: each bucket of consecutive samples keeps its maximum, so a spike stays visible."""
    n = len(x)
    if n <= max_points or max_points < 2:
        return np.asarray(x), np.asarray(y)
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    starts = edges[:-1]
    ys = np.maximum.reduceat(np.asarray(y), starts)
    return np.asarray(x)[starts], ys
