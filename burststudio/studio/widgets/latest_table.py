"""The latest finished requests of the running replay (the engine's progress events carry them), newest last.

It draws only the rows that fit its height, as fixed-width text: a DataTable growing and trimming rows at 4 Hz asked
for a new layout of the screen on every change, the largest cost of a live replay.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

from textual.content import Content
from textual.widgets import Static

from burststudio.vocab import OK

# (title, width); the outcome column is left-aligned, the figures right-aligned.
COLUMNS = (("#", 7), ("outcome", 13), ("prompt", 7), ("output", 7), ("TTFT ms", 9), ("ITL ms", 8), ("E2E s", 7),
           ("late ms", 8))


def _ms(x: Any) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def row_cells(r: Sequence[Any]) -> tuple[str, ...]:
    """One request row of replay.events ([i, outcome, prompt, output, ttft_s, e2e_s, itl_mean_s, lateness_s])."""
    i, outcome, prompt, output, ttft, e2e, itl, late = (list(r) + [None] * 8)[:8]
    return (str(i), str(outcome), f"{prompt or 0:,}", f"{output or 0:,}", _ms(ttft), _ms(itl),
            "-" if e2e is None else f"{e2e:.2f}", _ms(late))


def _line(cells: Sequence[str]) -> str:
    return " ".join(c.ljust(w)[:w] if k == 1 else c.rjust(w)[-w:] for k, (c, (_, w)) in enumerate(zip(cells, COLUMNS)))


HEADER = _line([name for name, _ in COLUMNS])


class LatestTable(Static):
    DEFAULT_CSS = """
    LatestTable { height: 1fr; padding: 0 1; }
    """

    def __init__(self, max_rows: int = 100, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: deque[tuple[str, ...]] = deque(maxlen=max_rows)
        self._stale = False

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def clear(self) -> None:
        self.rows.clear()
        self._draw()

    def add_requests(self, rows: Sequence[Sequence[Any]], draw: bool = True) -> None:
        """Keep these rows (the oldest fall off); `draw=False` while the table is not on screen."""
        if not rows:
            return
        self.rows.extend(row_cells(r) for r in rows)
        self._stale = True
        if draw:
            self._draw()

    def refresh_rows(self) -> None:
        """Draw the rows kept while the table was not on screen."""
        if self._stale:
            self._draw()

    def _draw(self) -> None:
        self._stale = False
        fits = max(self.size.height - 1, 0)
        parts = [Content.styled(HEADER, "bold")]
        if not self.rows:
            parts.append(Content.styled("the latest finished requests show here during a replay", "dim"))
        for cells in list(self.rows)[-fits:] if fits else []:
            line = _line(cells)
            parts.append(Content(line) if cells[1] == OK else Content.styled(line, "#ff5f5f"))
        self.update(Content("\n").join(parts), layout=False)
