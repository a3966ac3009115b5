"""The runs in runs/, one row each; `space` marks runs to compare.

No column ever cuts a number: each figure column is as wide as its widest cell or its header (which names the
unit), and the run's name takes the room left, its middle cut with an ellipsis (the start and the end, which
names the target kind, stay). When even a short name would not fit, the columns that matter least go first (sent,
then how the run ended), so an 80-column terminal still shows each run's TTFT p99 whole.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from burststudio import figures
from burststudio.studio.runs import KILLED, RUNNING, STARTUP, UNREADABLE, Run, figure

# runs/<YYYYmmdd-HHMMSS>-<rest> (rundir.default_run_dir): the list shows "HH:MM <rest>" (the panel the full name).
_STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(.+)$")
# How a run ended, in the list's few letters (the Results panel says it in full).
_ENDED_SHORT = {figures.REASONS["done"]: "done", figures.REASONS["stopped"]: "stopped",
                figures.REASONS["target_died"]: "died", figures.REASONS["write_failed"]: "write err",
                figures.REASONS["limits"]: "limits", figures.NOT_FINISHED: "killed", KILLED: "killed",
                RUNNING: "running", STARTUP: "start-up", UNREADABLE: "bad file"}
MIN_NAME = 12  # below this a name says nothing; a column goes instead
ELLIPSIS = "…"


def split_name(name: str) -> tuple[str, str]:
    """("HH:MM" it started, the rest) of a default run name; ("", name) for any other."""
    m = _STAMP.match(name)
    if not m:
        return "", name
    _, _, _, h, mi, _, rest = m.groups()
    return f"{h}:{mi}", rest


def short_name(name: str) -> str:
    """The run's name as the list shows it: "12:00 vllm-cpu-kv-pressure-sim"."""
    started, rest = split_name(name)
    return f"{started} {rest}" if started else rest


def cut(text: str, width: int) -> str:
    """`text` in at most `width` cells: its middle replaced by an ellipsis when it is longer."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    tail = (width - 1) // 2
    return text[: width - 1 - tail] + ELLIPSIS + (text[-tail:] if tail else "")


class Column(NamedTuple):
    key: str
    label: str
    cell: Callable[[Run], str]
    keep: int  # the lower, the longer it stays when the list is narrow


def _figure(key: str) -> Callable[[Run], str]:
    return lambda run: figure(run.summary, key) if run.summary is not None else figures.MISSING


# In the order shown, after the mark and the name.
COLUMNS: tuple[Column, ...] = (
    Column("ended", "ended", lambda run: _ENDED_SHORT.get(run.ended, run.ended), 2),
    Column("sent", figures.BY_KEY["sent"].label, _figure("sent"), 3),
    Column("failed", figures.BY_KEY["failed"].label, _figure("failed"), 1),
    Column("ttft", figures.BY_KEY["ttft_p99"].label, _figure("ttft_p99"), 0),
)
_RIGHT = {"sent", "failed", "ttft"}


def fit_columns(width: int, name_width: int, widths: dict[str, int], padding: int) -> tuple[list[str], int]:
    """The columns (keys, in COLUMNS order) that fit in `width` cells beside a name of at least MIN_NAME (or its
    own width when shorter), and the name's width. Each column costs its width plus `padding`."""
    want = min(name_width, MIN_NAME)
    chosen = [c.key for c in COLUMNS]
    for c in sorted(COLUMNS, key=lambda c: -c.keep):
        used = sum(widths[k] + padding for k in chosen)
        if width - used - padding >= want:
            break
        chosen.remove(c.key)
    used = sum(widths[k] + padding for k in chosen)
    return chosen, max(min(name_width, width - used - padding), 1)


class RunList(DataTable):
    BINDINGS = [Binding("space", "toggle_mark", "Mark")]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.runs: list[Run] = []
        self.marked: set[str] = set()
        self.shown: list[str] = []  # the figure columns shown now (keys of COLUMNS)
        self._layout: tuple[list[str], int] | None = None

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self) -> None:
        if self._fit() != self._layout:
            keep = self.current()
            self._rebuild(keep.name if keep else None)

    def set_runs(self, runs: list[Run]) -> None:
        keep = self.current()
        self.runs = runs
        self.marked &= {r.name for r in runs}
        self._rebuild(keep.name if keep else None)

    def _cells(self) -> list[dict[str, str]]:
        return [{"name": short_name(r.name), **{c.key: c.cell(r) for c in COLUMNS}} for r in self.runs]

    def _fit(self) -> tuple[list[str], int]:
        cells = self._cells()
        widths = {c.key: max([len(c.label)] + [len(row[c.key]) for row in cells]) for c in COLUMNS}
        name = max([len("run")] + [len(row["name"]) for row in cells])
        pad = 2 * self.cell_padding
        # The mark column and room for the vertical scrollbar, so a list that grows a scrollbar keeps its layout.
        width = self.size.width - (1 + pad) - max(self.styles.scrollbar_size_vertical, 1)
        if width <= 0:
            width = 80
        return fit_columns(width, name, widths, pad)

    def _rebuild(self, keep: str | None = None) -> None:
        """Columns and rows again; the cursor stays on the run named `keep`."""
        if not self.is_mounted:
            return
        self._layout = self._fit()
        self.shown, name_width = self._layout
        self.clear(columns=True)
        self.add_column(" ", key="mark", width=1)
        self.add_column("run", key="run", width=name_width)
        for c in COLUMNS:
            if c.key in self.shown:
                self.add_column(Text(c.label, justify="right") if c.key in _RIGHT else c.label, key=c.key)
        for run, row in zip(self.runs, self._cells()):
            self.add_row("*" if run.name in self.marked else " ", cut(row["name"], name_width),
                         *(Text(row[k], justify="right") if k in _RIGHT else row[k] for k in self.shown),
                         key=run.name)
        for i, r in enumerate(self.runs):
            if r.name == keep:
                self.move_cursor(row=i)

    def current(self) -> Run | None:
        if not self.runs or self.cursor_row < 0 or self.cursor_row >= len(self.runs):
            return None
        return self.runs[self.cursor_row]

    def action_toggle_mark(self) -> None:
        run = self.current()
        if run is None:
            return
        self.marked ^= {run.name}
        self.update_cell(run.name, "mark", "*" if run.name in self.marked else " ")
