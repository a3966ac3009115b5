"""Reading run directories (summary.json, requests.parquet, metrics.parquet) for the Results screen.

The replay engine writes these; this module only reads and flattens them, tolerating a run that never finished
(no summary yet) or a server that had no /metrics (no metrics file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from burststudio import figures, rundir
from burststudio.errors import UserError
from burststudio.figures import dig

FIGURES = figures.pick("sent", "finished", "failed", "cancelled", "goodput", "requests_per_s", "output_tokens_per_s",
                       "ttft_p50", "ttft_p99", "itl_p50", "itl_p99", "tpot_p99", "e2e_p99", "lateness_p99", "kv_peak",
                       "waiting_peak", "preemptions")


# How a run directory without a summary ended, as the Results screen says it.
RUNNING = "running"
STARTUP = "stopped during start-up"  # the target never got healthy: no run.json, no request sent
KILLED = "did not finish"  # run.json, but the engine was killed before it wrote a summary
UNREADABLE = "summary unreadable"  # a summary.json of the wrong shape, not one cut short (`report` says why)


@dataclass
class Run:
    path: Path
    summary: dict[str, Any] | None
    # The state of a run that has no summary (RUNNING, STARTUP, KILLED or UNREADABLE); a run with one says it in its
    # summary.
    pending: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ended(self) -> str:
        """How the run ended: "done", "stopped", "the target died", ... or one of the states above."""
        if self.summary is not None:
            return figures.ended(self.summary)
        return self.pending or KILLED

    @property
    def log(self) -> Path | None:
        """The target's log in the run directory (vLLM's, the simulator's), when it wrote one."""
        logs = sorted(self.path.glob("*.log"))
        return logs[0] if logs else None


def _startup_only(d: Path) -> bool:
    """A folder the engine made for a run whose target never answered: nothing in it but the target's log (or
    nothing at all). Sweep folders (their scales inside) and other folders do not look like this."""
    try:
        return all(p.is_file() and p.suffix == ".log" for p in d.iterdir())
    except OSError:
        return False


def list_runs(runs_dir: Path, active: Path | None = None) -> list[Run]:
    """Run directories (newest name last), with their summary when one was written; a run without one is listed
    as running, killed, stopped during start-up, or with its summary unreadable. `active` is a run directory an engine is known to write now
    (the studio's own), still starting its target when it holds no run.json yet."""
    if not runs_dir.is_dir():
        return []
    out = []
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            summary = rundir.read_summary(d)
        except UserError:  # a summary of the wrong shape: listed without figures; `report` names the problem
            out.append(Run(d, None, UNREADABLE))
            continue
        if summary is not None:
            out.append(Run(d, summary))
        elif active is not None and d == Path(active):
            out.append(Run(d, None, RUNNING))
        elif (d / rundir.RUN_INFO).is_file():
            out.append(Run(d, None, RUNNING if rundir.is_being_written(d) else KILLED))
        elif (d / rundir.PRESET).is_file() or _startup_only(d):
            out.append(Run(d, None, STARTUP))
    return out


def figure(summary: dict[str, Any] | None, key: str) -> str:
    """One figure of `figures.FIGURES`, by key, as the studio shows it."""
    return figures.show(summary, figures.BY_KEY[key])


failures_line = figures.failures


def client_cell(summary: dict[str, Any] | None) -> str:
    """Whether the client's own delays got into the figures (replay/client_limits.py), in a word."""
    limited = dig(summary, ("client", "limited"))
    if limited is None:
        return "-" if dig(summary, ("client",)) is None else "not judged"
    return "[yellow]limited[/]" if limited else "kept up"


def warnings(summary: dict[str, Any] | None) -> list[str]:
    """The lines a run's figures cannot be read without (markup): the client's own delays in them, the server
    falling behind the schedule."""
    out = []
    client = dig(summary, ("client", "note"))
    if client and dig(summary, ("client", "limited")):
        out.append(f"[yellow]warning:[/] {escape(str(client))}")
    behind = dig(summary, ("overload", "note"))
    if behind:
        out.append(f"[yellow]overload:[/] {escape(str(behind))}")
    return out


def burst_rows(summary: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(figure, burst episodes, calm) rows from the summary's `burst` view (replay/bursts.py), or one row with its
    note when there was no burst or the run was too short for the view."""
    burst = dig(summary, ("burst",))
    if not isinstance(burst, dict):
        return []
    busy, calm = burst.get("busy"), burst.get("calm")
    if not isinstance(busy, dict) or not isinstance(calm, dict) or not burst.get("episodes"):
        return [("bursts", str(burst.get("note") or "not enough windows"), "")]
    return [(f.label, figures.show(busy, f), figures.show(calm, f)) for f in figures.BURST_FIGURES]


def episode_rows(summary: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) rows for each burst episode of the summary: when it was with its requests and failures, then
    its TTFT p50 / p99."""
    episodes = dig(summary, ("burst", "episodes"))
    if not isinstance(episodes, list):
        return []
    by_key = {f.key: f for f in figures.EPISODE_FIGURES}
    rows = []
    for k, ep in enumerate(e for e in episodes if isinstance(e, dict)):
        show = lambda key: figures.show(ep, by_key[key])  # noqa: E731
        rows.append((f"episode {k + 1}: {figures.episode_span(ep)}",
                     f"{show('requests')} req, {show('failed')} failed"))
        rows.append(("  TTFT p50 / p99 ms", f"{show('ttft_p50')} / {show('ttft_p99')}"))
    return rows


def read_table(path: Path):
    """A parquet file as a pandas DataFrame, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    except Exception:
        return None
