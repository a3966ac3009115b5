"""Reading run directories (summary.json, requests.parquet, metrics.parquet) for the Results screen.

The replay engine writes these; this module only reads and flattens them, tolerating a run that never finished
(no summary yet) or a server that had no /metrics (no metrics file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from burststudio import figures, rundir
from burststudio.errors import UserError
from burststudio.figures import dig
from burststudio.vocab import OK

FIGURES = figures.pick("sent", "finished", "failed", "cancelled", "goodput", "requests_per_s", "output_tokens_per_s",
                       "ttft_p50", "ttft_p99", "itl_p50", "itl_p99", "tpot_p99", "e2e_p99", "lateness_p99", "kv_peak",
                       "waiting_peak", "preemptions")


@dataclass
class Run:
    path: Path
    summary: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.path.name


def list_runs(runs_dir: Path) -> list[Run]:
    """Run directories (newest name last), with their summary when one was written."""
    if not runs_dir.is_dir():
        return []
    out = []
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            summary = rundir.read_summary(d)
        except UserError:  # a summary of the wrong shape: listed without figures; `report` names the problem
            summary = None
        if summary is not None or (d / rundir.PRESET).is_file():
            out.append(Run(d, summary))
    return out


def figure(summary: dict[str, Any] | None, key: str) -> str:
    """One figure of `figures.FIGURES`, by key, as the studio shows it."""
    return figures.show(summary, figures.BY_KEY[key])


def failures_line(summary: dict[str, Any] | None) -> str:
    by_class = dig(summary, ("failures_by_class",)) or {}
    parts = [f"{k} {v}" for k, v in sorted(by_class.items()) if v]
    return ", ".join(parts) if parts else "none"


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


def _short(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def read_table(path: Path):
    """A parquet file as a pandas DataFrame, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    except Exception:
        return None


def ttft_ms(requests) -> Any:
    """TTFT in ms of the successful requests of a requests.parquet table (first chunk - sent)."""
    ok = requests[requests["outcome"] == OK]
    return ((ok["first_s"] - ok["sent_s"]).dropna() * 1000.0).to_numpy(dtype=float)
