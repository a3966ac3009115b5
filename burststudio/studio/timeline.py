"""A finished run over time, for the Results charts: arrivals, failures and TTFT per window, KV-cache usage, and the
burst episodes of its summary, all on one clock (seconds from the run's start, as the journal and samples keep it).

Pure numpy/pandas, no Textual: the screen draws what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from burststudio.figures import dig
from burststudio.replay.fleet_summary import fullest
from burststudio.replay.timeline import bin_width, binned_quantiles
from burststudio.vocab import CANCELLED, KV_CACHE_USAGE, OK, REPLICA, SAMPLE_TIME

# A run gets the narrowest round window (replay.timeline.bin_width) that leaves at most WINDOWS_PER_RUN windows.
WINDOWS_PER_RUN = 80


@dataclass
class Timeline:
    window_s: float
    t: np.ndarray  # window centres, s
    arrivals_per_s: np.ndarray  # requests scheduled in the window, per second
    failed_per_s: np.ndarray  # requests sent in the window that failed, per second
    ttft_t: np.ndarray  # centres of the windows with at least one finished request
    ttft_p50_ms: np.ndarray
    ttft_p99_ms: np.ndarray
    kv_t: np.ndarray  # sample times, s
    kv_pct: np.ndarray  # KV-cache usage, %
    end_s: float  # the last thing that happened

    @property
    def empty(self) -> bool:
        return self.t.size == 0 and self.kv_t.size == 0


def window_for(span_s: float) -> float:
    """The narrowest round window that cuts `span_s` into at most WINDOWS_PER_RUN windows."""
    return bin_width(span_s, WINDOWS_PER_RUN)


def _column(table, name: str) -> np.ndarray:
    if table is None or name not in getattr(table, "columns", ()):
        return np.zeros(0)
    return table[name].to_numpy(dtype=float, na_value=np.nan)


def span_of(requests, metrics) -> float:
    """Seconds from the run's start to the last request's end or the last sample."""
    ends = [np.nanmax(x) for x in (_column(requests, "end_s"), _column(requests, "scheduled_s"),
                                    _column(metrics, SAMPLE_TIME)) if x.size and np.isfinite(x).any()]
    return float(max(ends)) if ends else 0.0


def timeline(requests, metrics, window_s: float | None = None) -> Timeline:
    """The run's series (`requests` and `metrics` the run's parquet tables as DataFrames, either may be None);
    `window_s` defaults to `window_for` the run's span (compared runs pass one window for all)."""
    end = span_of(requests, metrics)
    w = window_s or window_for(end)
    n = max(int(np.ceil(end / w)), 1) if end > 0 else 0
    edges = np.arange(n + 1) * w
    centres = edges[:-1] + w / 2
    empty = np.zeros(0)
    arrivals = failed = empty
    ttft_t, p50, p99 = empty, empty, empty
    if requests is not None and len(requests) and n:
        outcome = requests["outcome"].to_numpy(dtype=object) if "outcome" in requests.columns else None
        scheduled = _column(requests, "scheduled_s")
        sent = _column(requests, "sent_s")
        sent = np.where(np.isfinite(sent), sent, scheduled)
        arrivals = np.histogram(scheduled[np.isfinite(scheduled)], edges)[0] / w
        if outcome is not None:
            bad = (outcome != OK) & (outcome != CANCELLED)
            failed = np.histogram(sent[bad & np.isfinite(sent)], edges)[0] / w
            ok = (outcome == OK) & np.isfinite(sent)
            ttft = (_column(requests, "first_s") - sent)[ok] * 1e3
            at = sent[ok]
            keep = np.isfinite(ttft)
            p50, p99 = binned_quantiles(at[keep], ttft[keep], w, n, (0.5, 0.99))
            have = np.isfinite(p50)  # no point where nothing finished
            ttft_t, p50, p99 = centres[have], p50[have], p99[have]
        else:
            failed = np.zeros(n)
    kv_t = _column(metrics, SAMPLE_TIME)
    kv = _column(metrics, KV_CACHE_USAGE) * 100.0
    if kv.size != kv_t.size:
        kv_t, kv = empty, empty
    elif metrics is not None and REPLICA in metrics.columns and metrics[REPLICA].nunique() > 1:
        # A fleet's samples interleave its replicas: one line, the fullest replica, as the summary's KV peak is.
        kv_t, kv = fullest(kv_t, kv, metrics[REPLICA].to_numpy(dtype=object))
    ok_kv = np.isfinite(kv_t) & np.isfinite(kv)
    return Timeline(window_s=w, t=centres if arrivals.size else empty, arrivals_per_s=arrivals,
                    failed_per_s=failed, ttft_t=ttft_t, ttft_p50_ms=p50, ttft_p99_ms=p99, kv_t=kv_t[ok_kv],
                    kv_pct=kv[ok_kv], end_s=end)


def episodes(summary: Any) -> list[tuple[float, float]]:
    """The burst episodes of a summary (summary["burst"]["episodes"]: {"start_s", "end_s"} in run seconds), or none
    when the summary has no such list; entries it cannot read are left out."""
    raw = dig(summary, ("burst", "episodes"))
    out: list[tuple[float, float]] = []
    if not isinstance(raw, list):
        return out
    for e in raw:
        if not isinstance(e, dict):
            continue
        a, b = e.get("start_s"), e.get("end_s")
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in (a, b)) and b > a:
            out.append((float(a), float(b)))
    return out


def merge(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping spans as one (the episodes of several compared runs shaded once)."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
