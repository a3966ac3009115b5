"""Reading run directories (summary.json, requests.parquet, metrics.parquet) for the Results screen.

The replay engine writes these; this module only reads and flattens them, tolerating a run that never finished
(no summary yet) or a server that had no /metrics (no metrics file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from burststudio import figures, rundir
from burststudio.figures import dig

FIGURES = figures.pick("sent", "finished", "failed", "cancelled", "goodput", "requests_per_s", "output_tokens_per_s",
                       "ttft_p50", "ttft_p99", "itl_p50", "itl_p99", "tpot_p99", "e2e_p99", "lateness_p99", "kv_peak",
                       "waiting_peak", "preemptions")


# How a run directory without a summary ended, as the Results screen says it.
RUNNING = "running"
STARTUP = "stopped during start-up"  # the target never got healthy: no run.json, no request sent
KILLED = "did not finish"  # run.json, but the engine was killed before it wrote a summary


@dataclass
class Run:
    path: Path
    summary: dict[str, Any] | None
    # The state of a run that has no summary (RUNNING, STARTUP or KILLED); a run with one says it in its summary.
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
    as running, killed or stopped during start-up. `active` is a run directory an engine is known to write now
    (the studio's own), still starting its target when it holds no run.json yet."""
    if not runs_dir.is_dir():
        return []
    out = []
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        summary = rundir.read_summary(d)
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


def burst_rows(summary: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(figure, busiest windows, calm windows) rows from the summary's `burst` view (replay.summary.burst_view),
    or one row with its note when the run was too short to have both."""
    burst = dig(summary, ("burst",))
    if not isinstance(burst, dict):
        return []
    busy, calm = burst.get("busy"), burst.get("calm")
    if not isinstance(busy, dict) or not isinstance(calm, dict):
        return [("bursts", str(burst.get("note") or "not enough windows"), "")]
    return [(f.label, figures.show(busy, f), figures.show(calm, f)) for f in figures.BURST_FIGURES]


def read_table(path: Path):
    """A parquet file as a pandas DataFrame, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    except Exception:
        return None
