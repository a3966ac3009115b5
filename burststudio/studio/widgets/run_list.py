"""The runs in runs/, one row each; `space` marks runs to compare."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable

from burststudio.studio.runs import Run, figure


class RunList(DataTable):
    BINDINGS = [Binding("space", "toggle_mark", "Mark")]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.runs: list[Run] = []
        self.marked: set[str] = set()

    def on_mount(self) -> None:
        self.add_column(" ", key="mark", width=1)
        self.add_column("run", key="run")
        self.add_column("sent", key="sent")
        self.add_column("failed", key="failed")
        self.add_column("TTFT p99 ms", key="ttft")

    def set_runs(self, runs: list[Run]) -> None:
        self.runs = runs
        self.marked &= {r.name for r in runs}
        self.clear()
        for run in runs:
            s = run.summary
            self.add_row("*" if run.name in self.marked else " ", run.name,
                         figure(s, "sent"), figure(s, "failed"),
                         figure(s, "ttft_p99") if s else "(running)", key=run.name)

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
