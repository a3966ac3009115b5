"""What a run ran against and how it ended, above its figures: the target (kind, URL, model), the reason it ended and
every planned request accounted for (sent, not sent, lost in flight); for a run with no summary, why it has none."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import Static

from burststudio import figures
from burststudio.studio.runs import KILLED, RUNNING, STARTUP, UNREADABLE, Run

_NO_SUMMARY = {
    STARTUP: "no requests: the target never became healthy",
    RUNNING: "the engine is still writing it (g reads runs/ again)",
    KILLED: "no summary: `burststudio report {path}` rebuilds it from the journal",
    UNREADABLE: "summary.json is not what a run writes: `burststudio report {path}` says what is wrong",
}


def ending_lines(run: Run) -> list[str]:
    """The run's target and ending, as markup lines."""
    s = run.summary
    if s is None:
        state = run.pending or KILLED
        lines = [f"[b]{escape(state)}[/]: {escape(_NO_SUMMARY.get(state, '').format(path=run.path))}"]
        if run.log is not None:
            lines.append(f"[dim]target log[/] {escape(str(run.log))}")
        return lines
    ended = figures.ended(s)
    colour = "green" if ended == figures.REASONS["done"] else "yellow"
    return [f"[dim]target[/] {escape(figures.target(s))}",
            f"[b {colour}]{escape(ended)}[/]: {escape(figures.accounting(s))}"]


class RunEnding(Static):
    DEFAULT_CSS = """
    RunEnding { height: auto; margin: 0 0 1 0; }
    """

    def show_runs(self, runs: list[Run]) -> None:
        if not runs:
            self.update("")
            return
        if len(runs) == 1:
            self.update("\n".join([f"[b]{escape(runs[0].name)}[/]", *ending_lines(runs[0])]))
            return
        lines = []
        for k, run in enumerate(runs):
            lines.append(f"[b]{k}[/] {escape(run.name)}")
            lines.extend(f"  {line}" for line in ending_lines(run))
        self.update("\n".join(lines))
