"""Statistics of a workload: rate, burstiness and lengths, vectorised so a 1.4M-row trace takes well under a second.

`summarize(w)` returns a plain dict that `json.dumps` accepts as it is: every figure that is undefined for the
workload at hand (an empty or single-row workload, a window longer than the trace) is `None`, never NaN.

Definitions (shared by `inspect`, the studio's preview and the replay's burst view, which reuse the building blocks):

- Windows start at the first arrival (t = 0) and tile time as [k*w, (k+1)*w). Burstiness figures use only the
  *complete* windows, those that end at or before the last arrival, because a trailing partial window holds fewer
  requests by construction and would inflate the variance; if no window is complete the figure is `None`.
- `rate_rps` is 1 / mean inter-arrival time, i.e. (requests - 1) / duration_s, so it agrees with `interarrival_cv`.
- `interarrival_cv` is std / mean of the gaps between consecutive arrivals (sample std, ddof=1).
- `idc[w]` (index of dispersion of counts) is variance / mean of the per-window request counts (ddof=1): about 1 for
  Poisson arrivals, above 1 for bursty ones.
- `peak_to_mean_1s` is the busiest complete second's count over the mean count per second.
- Token figures (`prompt_tokens`, `output_tokens`, and the per-group token means) exclude rows the trace recorded as
  failed: their lengths are zeros in the traces that flag failures and would drag every quantile down.
- `failed_share` is the share of rows recorded as failed (0.0 where the trace has no `failed` column).
- `by_source` / `by_model` appear only where the workload has those columns; per value: `requests`, `share` (of all
  rows), `rate_rps` (its requests over the whole workload's duration), `failed_share`, `prompt_tokens_mean`,
  `output_tokens_mean`. A missing value is listed under "(none)".
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from burststudio.workload.model import Workload

# The windows `summarize` reports the index of dispersion at, as (key, seconds).
IDC_WINDOWS: tuple[tuple[str, float], ...] = (("1s", 1.0), ("10s", 10.0), ("60s", 60.0))
# Quantiles reported for token lengths, as (key, q).
TOKEN_QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
NONE_LABEL = "(none)"


def _num(x: Any) -> float | None:
    """A finite Python float, or None where the figure is undefined."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# Building blocks ------------------------------------------------------------------------------------------------
def interarrival_times(arrival_s: np.ndarray) -> np.ndarray:
    """Gaps between consecutive arrivals (length n-1; arrivals are sorted)."""
    a = np.asarray(arrival_s, dtype=np.float64)
    return np.diff(a) if a.size > 1 else np.empty(0, dtype=np.float64)


def coefficient_of_variation(values: np.ndarray) -> float | None:
    """std / mean (ddof=1); None for fewer than two values or a zero mean."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    mean = v.mean()
    if not mean > 0:
        return None
    return _num(v.std(ddof=1) / mean)


def counts_per_window(arrival_s: np.ndarray, window_s: float, *, complete_only: bool = False,
                      start_s: float = 0.0) -> np.ndarray:
    """Requests in each window [start + k*w, start + (k+1)*w), from `start_s` to the last arrival.

    With `complete_only`, the trailing window that the last arrival does not fill is dropped (see module doc); when
    no window is complete the result is empty.
    """
    if not window_s > 0:
        raise ValueError(f"window must be positive, got {window_s}")
    a = np.asarray(arrival_s, dtype=np.float64)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.floor((a - start_s) / window_s).astype(np.int64)
    idx = idx[idx >= 0]
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(idx)
    if complete_only:
        n_complete = int(math.floor((a[-1] - start_s) / window_s))
        counts = counts[:n_complete]
    return counts


def index_of_dispersion(arrival_s: np.ndarray, window_s: float) -> float | None:
    """Variance / mean of request counts over the complete windows of `window_s` seconds (ddof=1)."""
    counts = counts_per_window(arrival_s, window_s, complete_only=True)
    return dispersion_of_counts(counts)


def dispersion_of_counts(counts: np.ndarray) -> float | None:
    """Variance / mean (ddof=1) of a series of counts; None for fewer than two windows or no requests."""
    c = np.asarray(counts, dtype=np.float64)
    if c.size < 2:
        return None
    mean = c.mean()
    if not mean > 0:
        return None
    return _num(c.var(ddof=1) / mean)


def peak_to_mean(arrival_s: np.ndarray, window_s: float = 1.0) -> float | None:
    """The busiest complete window's count over the mean count per window."""
    counts = counts_per_window(arrival_s, window_s, complete_only=True)
    if counts.size == 0:
        return None
    mean = counts.mean()
    return _num(counts.max() / mean) if mean > 0 else None


def rate_rps(arrival_s: np.ndarray) -> float | None:
    """1 / mean inter-arrival time; None for fewer than two requests or zero duration."""
    a = np.asarray(arrival_s, dtype=np.float64)
    if a.size < 2:
        return None
    span = a[-1] - a[0]
    return _num((a.size - 1) / span) if span > 0 else None


def quantiles(values: np.ndarray, qs: Iterable[float] = (0.5, 0.9, 0.99)) -> list[float | None]:
    """Quantiles (numpy's linear interpolation) of `values`; Nones for an empty array."""
    qs = list(qs)
    v = np.asarray(values)
    if v.size == 0:
        return [None] * len(qs)
    return [_num(x) for x in np.quantile(v, qs)]


def length_summary(values: np.ndarray) -> dict[str, float | None]:
    """{"mean", "p50", "p90", "p99", "max"} of a length column (all None when empty)."""
    v = np.asarray(values)
    keys = [k for k, _ in TOKEN_QUANTILES]
    if v.size == 0:
        return {"mean": None, **{k: None for k in keys}, "max": None}
    qv = quantiles(v, [q for _, q in TOKEN_QUANTILES])
    return {"mean": _num(v.mean()), **dict(zip(keys, qv)), "max": _num(v.max())}


def group_codes(w: Workload, column: str) -> tuple[np.ndarray, list[str]]:
    """Integer codes per row and the labels they stand for (missing values -> NONE_LABEL), via arrow's encoder."""
    import pyarrow.compute as pc

    col = w.table.column(column)
    if col.null_count:
        col = pc.fill_null(col, NONE_LABEL)
    enc = pc.dictionary_encode(col).combine_chunks()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    labels = [str(x) for x in enc.dictionary.to_pylist()]
    return codes, labels


def breakdown(w: Workload, column: str) -> dict[str, dict[str, float | int | None]]:
    """Per value of `column`: requests, share, rate_rps, failed_share and token means (see module doc)."""
    n = len(w)
    if n == 0:
        return {}
    codes, labels = group_codes(w, column)
    k = len(labels)
    failed = w.failed
    ok = ~failed
    count = np.bincount(codes, minlength=k)
    n_failed = np.bincount(codes, weights=failed, minlength=k)
    n_ok = np.bincount(codes, weights=ok, minlength=k)
    p_sum = np.bincount(codes, weights=np.where(ok, w.prompt_tokens, 0), minlength=k)
    o_sum = np.bincount(codes, weights=np.where(ok, w.output_tokens, 0), minlength=k)
    duration = w.duration_s
    out: dict[str, dict[str, float | int | None]] = {}
    for i in np.argsort(-count, kind="stable"):
        c = int(count[i])
        out[labels[i]] = {
            "requests": c,
            "share": _num(c / n),
            "rate_rps": _num(c / duration) if duration > 0 else None,
            "failed_share": _num(n_failed[i] / c) if c else None,
            "prompt_tokens_mean": _num(p_sum[i] / n_ok[i]) if n_ok[i] else None,
            "output_tokens_mean": _num(o_sum[i] / n_ok[i]) if n_ok[i] else None,
        }
    return out


# The summary ----------------------------------------------------------------------------------------------------
def summarize(w: Workload) -> dict[str, Any]:
    """The figures `inspect` shows, as a JSON-ready dict (keys and definitions in the module doc)."""
    n = len(w)
    a = w.arrival_s if n else np.empty(0)
    failed = w.failed
    ok = ~failed
    prompt = w.prompt_tokens[ok] if n else np.empty(0, dtype=np.int64)
    output = w.output_tokens[ok] if n else np.empty(0, dtype=np.int64)
    out: dict[str, Any] = {
        "requests": n,
        "duration_s": _num(w.duration_s),
        "rate_rps": rate_rps(a),
        "interarrival_cv": coefficient_of_variation(interarrival_times(a)),
        "idc": {key: index_of_dispersion(a, win) for key, win in IDC_WINDOWS},
        "peak_to_mean_1s": peak_to_mean(a, 1.0),
        "prompt_tokens": length_summary(prompt),
        "output_tokens": length_summary(output),
        "failed_share": _num(failed.mean()) if n else None,
    }
    for column, key in (("source", "by_source"), ("model", "by_model")):
        if w.has(column):
            out[key] = breakdown(w, column)
    return out


def json_safe(obj: Any) -> Any:
    """A copy of nested dicts/lists with numpy scalars made Python and NaN/inf made None (valid JSON)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def arrival_windows(arrival_s: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(duration, rate, gap CV) of consecutive windows covering the trace; CV 1 where a window has < 2 gaps."""
    a = np.asarray(arrival_s, dtype=np.float64)
    span = float(a[-1])
    k = max(1, math.ceil(span / window_s))
    dur = np.full(k, float(window_s))
    dur[-1] = span - (k - 1) * window_s if span > (k - 1) * window_s else float(window_s)
    idx = np.minimum(np.floor(a / window_s).astype(np.int64), k - 1)
    counts = np.bincount(idx, minlength=k)
    g = np.diff(a)
    same = idx[1:] == idx[:-1]
    gi, gg = idx[1:][same], g[same]
    m = np.bincount(gi, minlength=k).astype(np.float64)
    with np.errstate(all="ignore"):
        mean = np.bincount(gi, weights=gg, minlength=k) / m
        var = np.maximum(np.bincount(gi, weights=gg * gg, minlength=k) / m - mean**2, 0.0) * m / np.maximum(m - 1, 1)
        cv = np.sqrt(var) / mean
    cv = np.where((m >= 2) & np.isfinite(cv) & (cv > 0), cv, 1.0)
    return dur, counts / dur, cv
