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
    ("goodput", ("goodput",), 100, "{:.1f}%"),
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


def burst_rows(summary: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(figure, bursts, calm) rows from the summary's burst view, whatever its figures are."""
    burst = None
    for key in ("burst_view", "bursts", "burst"):
        burst = dig(summary, (key,))
        if isinstance(burst, dict):
            break
    if not isinstance(burst, dict):
        return []
    hot = burst.get("burst") or burst.get("bursts") or burst.get("busy") or {}
    calm = burst.get("calm") or {}
    rows = []
    for key in sorted(set(hot) | set(calm)):
        h, c = hot.get(key), calm.get(key)
        if isinstance(h, dict):
            h, c = h.get("p99"), (c or {}).get("p99") if isinstance(c, dict) else c
            key = f"{key} p99"
        rows.append((key, _short(h), _short(c)))
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


def pick_column(columns, *needles: str) -> str | None:
    """The first column whose name contains one of `needles` (in order of the needles)."""
    lowered = {c.lower(): c for c in columns}
    for needle in needles:
        for low, col in lowered.items():
            if needle in low:
                return col
    return None
