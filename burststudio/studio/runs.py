"""Reading run directories (summary.json, requests.parquet, metrics.parquet) for the Results screen.

The replay engine writes these; this module only reads and flattens them, tolerating a run that never finished
(no summary yet) or a server that had no /metrics (no metrics file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# (label, key path in summary.json, unit scale, format)
FIGURES: tuple[tuple[str, tuple[str, ...], float, str], ...] = (
    ("sent", ("sent",), 1, "{:,.0f}"),
    ("finished", ("finished",), 1, "{:,.0f}"),
    ("failed", ("failed",), 1, "{:,.0f}"),
    ("cancelled", ("cancelled",), 1, "{:,.0f}"),
    ("goodput", ("goodput", "share"), 100, "{:.1f}%"),
    ("req/s", ("throughput", "requests_per_s"), 1, "{:.2f}"),
    ("out tok/s", ("throughput", "output_tokens_per_s"), 1, "{:.1f}"),
    ("TTFT p50 ms", ("ttft_s", "p50"), 1000, "{:.1f}"),
    ("TTFT p99 ms", ("ttft_s", "p99"), 1000, "{:.1f}"),
    ("ITL p50 ms", ("itl_s", "p50"), 1000, "{:.1f}"),
    ("ITL p99 ms", ("itl_s", "p99"), 1000, "{:.1f}"),
    ("TPOT p99 ms", ("tpot_s", "p99"), 1000, "{:.1f}"),
    ("E2E p99 s", ("e2e_s", "p99"), 1, "{:.2f}"),
    ("lateness p99 ms", ("dispatch_lateness_s", "p99"), 1000, "{:.2f}"),
    ("KV peak", ("kv_cache_usage_peak",), 100, "{:.0f}%"),
    ("waiting peak", ("waiting_peak",), 1, "{:,.0f}"),
    ("preemptions", ("preemptions",), 1, "{:,.0f}"),
)


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
        summary_path = d / "summary.json"
        summary = None
        if summary_path.is_file():
            try:
                summary = json.loads(summary_path.read_text())
            except (OSError, ValueError):
                summary = None
        if summary is not None or (d / "preset.toml").is_file():
            out.append(Run(d, summary))
    return out


def dig(summary: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    node: Any = summary
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def figure(summary: dict[str, Any] | None, path: tuple[str, ...], scale: float, fmt: str) -> str:
    value = dig(summary, path)
    if value is None or isinstance(value, (dict, list)):
        return "-"
    try:
        return fmt.format(float(value) * scale)
    except (TypeError, ValueError):
        return str(value)


def failures_line(summary: dict[str, Any] | None) -> str:
    by_class = dig(summary, ("failures_by_class",)) or {}
    parts = [f"{k} {v}" for k, v in sorted(by_class.items()) if v]
    return ", ".join(parts) if parts else "none"


# (label, key in each group of summary["burst"], key inside it or None, scale, format)
BURST_FIGURES: tuple[tuple[str, str, str | None, float, str], ...] = (
    ("requests", "requests", None, 1, "{:,.0f}"),
    ("req/s", "rate_rps", None, 1, "{:.2f}"),
    ("failed share", "failed_share", None, 100, "{:.1f}%"),
    ("TTFT p99 ms", "ttft_s", "p99", 1000, "{:.1f}"),
    ("TPOT p99 ms", "tpot_s", "p99", 1000, "{:.1f}"),
    ("E2E p99 s", "e2e_s", "p99", 1, "{:.2f}"),
)


def burst_rows(summary: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(figure, busiest windows, calm windows) rows from the summary's `burst` view (replay.summary.burst_view),
    or one row with its note when the run was too short to have both."""
    burst = dig(summary, ("burst",))
    if not isinstance(burst, dict):
        return []
    busy, calm = burst.get("busy"), burst.get("calm")
    if not isinstance(busy, dict) or not isinstance(calm, dict):
        return [("bursts", str(burst.get("note") or "not enough windows"), "")]
    rows = []
    for label, key, sub, scale, fmt in BURST_FIGURES:
        cells = []
        for group in (busy, calm):
            value = group.get(key)
            if sub is not None:
                value = value.get(sub) if isinstance(value, dict) else None
            cells.append("-" if value is None else fmt.format(float(value) * scale))
        rows.append((label, cells[0], cells[1]))
    return rows


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
    ok = requests[requests["outcome"] == "ok"]
    return ((ok["first_s"] - ok["sent_s"]).dropna() * 1000.0).to_numpy(dtype=float)
