"""A run's story on one time axis: what was scheduled, sent and finished, the latencies, the server's state and the
failures, per time bin, from the journal's records and the /metrics samples.

A run of any length is cut into at most `MAX_BINS` bins of a round width, so a page or a chart draws a few hundred
points whatever the run's size; every value of a bin is computed from every request in it (exact percentiles per
bin, not of a sample). Times are seconds on the run's clock, as the journal keeps them. The same bins, of a width
the user sets (`replay.slice_s`, `--slice`), are the run's time slices: `slice_table` writes them as slices.parquet.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from burststudio.replay.fleet_summary import samples_by_replica
from burststudio.replay.overload import split_unsent
from burststudio.replay.summary import per_request
from burststudio.vocab import (ADMISSION_REJECTIONS_TOTAL, FAILURES, KV_CACHE_USAGE, OK, PREEMPTIONS_TOTAL, RUNNING,
                               WAITING)

MAX_BINS = 480
MIN_BINS = 30
REQUESTS_PER_BIN = 4
# Round bin widths, seconds: a bin is one of these, the smallest that keeps the run within MAX_BINS bins.
_WIDTHS = (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
           43200, 86400)


def bin_width(span_s: float, max_bins: int = MAX_BINS) -> float:
    for w in _WIDTHS:
        if span_s / w <= max_bins:
            return float(w)
    return float(math.ceil(span_s / max_bins / 86400) * 86400)


def _sample_interval(t: np.ndarray) -> float:
    """The median time between samples (0 without two)."""
    return float(np.median(np.diff(np.sort(t)))) if t.size > 1 else 0.0


def json_floats(x: np.ndarray, digits: int = 6) -> list[float | None]:
    """JSON-ready values: NaN and inf become null."""
    out = np.round(np.asarray(x, dtype=np.float64), digits)
    return [None if not math.isfinite(v) else float(v) for v in out]


def bin_of(t: np.ndarray, width: float, n: int) -> np.ndarray:
    """Each time's bin (finite times only); a time on a bin's edge (5.0 with 0.2 s bins) is in the bin it starts."""
    return np.clip(np.floor(t / width + 1e-9).astype(np.int64), 0, n - 1)


def _rate(t: np.ndarray, width: float, n: int) -> np.ndarray:
    t = t[np.isfinite(t)]
    idx = bin_of(t, width, n)
    return np.bincount(idx, minlength=n)[:n] / width


def binned_quantiles(t: np.ndarray, values: np.ndarray, width: float, n: int,
                     qs: tuple[float, ...]) -> list[np.ndarray]:
    """For each q, the q-quantile of `values` whose time `t` falls in each bin (NaN for an empty bin)."""
    keep = np.isfinite(t) & np.isfinite(values)
    t, values = t[keep], values[keep]
    out = [np.full(n, np.nan) for _ in qs]
    if not t.size:
        return out
    idx = bin_of(t, width, n)
    order = np.argsort(idx, kind="stable")
    idx, values = idx[order], values[order]
    bounds = np.searchsorted(idx, np.arange(n + 1))
    for b in np.flatnonzero(np.diff(bounds)):
        chunk = values[bounds[b]:bounds[b + 1]]
        for k, v in enumerate(np.quantile(chunk, qs)):
            out[k][b] = v
    return out


def chunk_gaps(records: list[dict[str, Any]], ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time of each chunk after the first, the gap before it), seconds, over the requests that finished."""
    times, gaps = [], []
    for r, good in zip(records, ok):
        chunks = r.get("chunks_us") or []
        if good and len(chunks) > 1 and r.get("sent_s") is not None:
            c = np.asarray(chunks, dtype=np.float64) / 1e6
            times.append(r["sent_s"] + c[1:])
            gaps.append(np.diff(c))
    if not times:
        return np.empty(0), np.empty(0)
    return np.concatenate(times), np.concatenate(gaps)


def _sample_series(samples: list[dict[str, Any]], width: float, n: int) -> dict[str, list[float | None]]:
    """Gauges as each bin's peak, counters as each bin's increase per second. A fleet's are the fleet's, as its
    summary and live charts show it: the fullest replica's KV cache, the sums over the replicas of the rest (each
    replica's counters differ by what they counted before the run: one replica's step to the next is no increase)."""
    groups = samples_by_replica(samples)
    if len(groups) < 2:
        return _one_series(samples, width, n)
    parts = [_one_series(g, width, n) for g in groups.values()]
    out: dict[str, list[float | None]] = {}
    for key in dict.fromkeys(k for p in parts for k in p):
        rows = np.array([[np.nan if x is None else x for x in p[key]] for p in parts if key in p], dtype=np.float64)
        if key == KV_CACHE_USAGE:
            out[key] = json_floats(np.fmax.reduce(rows, axis=0))
        else:
            out[key] = json_floats(np.where(np.isfinite(rows).any(axis=0), np.nansum(rows, axis=0), np.nan))
    return out


def _one_series(samples: list[dict[str, Any]], width: float, n: int) -> dict[str, list[float | None]]:
    if not samples:
        return {}
    t = np.array([s.get("t", np.nan) for s in samples], dtype=np.float64)

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if s.get(key) is None else s[key] for s in samples], dtype=np.float64)

    idx = np.where(np.isfinite(t), bin_of(np.nan_to_num(t), width, n), -1)
    out: dict[str, list[float | None]] = {}
    for key in (KV_CACHE_USAGE, RUNNING, WAITING):
        v = col(key)
        peak = np.full(n, np.nan)
        good = (idx >= 0) & np.isfinite(v)
        if good.any():
            np.fmax.at(peak, idx[good], v[good])
            # A gauge holds its value until the next sample: carry it over a bin no sample fell in.
            last = int(idx[good].max())
            have = np.where(np.isfinite(peak[:last + 1]), np.arange(last + 1), 0)
            peak[:last + 1] = peak[np.maximum.accumulate(have)]
            out[key] = json_floats(peak)
    for key in (PREEMPTIONS_TOTAL, ADMISSION_REJECTIONS_TOTAL):
        v = col(key)
        good = (idx >= 0) & np.isfinite(v)
        if good.sum() < 2:
            continue
        inc = np.zeros(n)
        step = np.maximum(np.diff(v[good]), 0)  # a counter that restarts counts from its new value
        np.add.at(inc, idx[good][1:], step)
        out[key] = json_floats(inc / width)
    return out


def story(records: list[dict[str, Any]], samples: list[dict[str, Any]] | None = None, *,
          width: float | None = None) -> dict[str, Any]:
    """The run's time series (module doc): `t` the bins' start times, then one list per series (null where a bin has
    no value). Rates are per second; latencies in seconds. `width` fixes the bins' width (time slices)."""
    samples = samples or []
    sent_records, unsent = split_unsent(records)
    a = per_request(sent_records)
    sched_all = np.concatenate([a["scheduled"], np.array([r.get("scheduled_s", np.nan) for r in unsent],
                                                         dtype=np.float64)])
    ends = [a["scheduled"], a["sent"], a["end"], sched_all,
            np.array([s.get("t", np.nan) for s in samples], dtype=np.float64)]
    finite = [e[np.isfinite(e)] for e in ends]
    span = max([float(e.max()) for e in finite if e.size] or [1.0])
    # A few requests a bin at least (a percentile of one request is noise), and no bin shorter than the interval
    # between /metrics samples (a gauge would show gaps, a counter spikes).
    if width is None:
        bins = int(min(MAX_BINS, max(MIN_BINS, a["sent"].size // REQUESTS_PER_BIN)))
        # A fleet's replicas are sampled together: the interval is one replica's.
        one = next(iter(samples_by_replica(samples).values()), samples)
        t_one = np.array([s.get("t", np.nan) for s in one], dtype=np.float64)
        width = max(bin_width(max(span, 1e-9), bins), bin_width(_sample_interval(t_one[np.isfinite(t_one)]), 1))
    n = int(np.floor(span / width + 1e-9)) + 1
    outcome = a["outcome"]
    ok = outcome == OK
    ttft50, ttft99 = binned_quantiles(a["sent"], np.where(ok, a["ttft"], np.nan), width, n, (0.5, 0.99))
    gap_t, gaps = chunk_gaps(sent_records, ok)
    itl50, itl99 = binned_quantiles(gap_t, gaps, width, n, (0.5, 0.99))
    (late99,) = binned_quantiles(a["scheduled"], a["lateness"], width, n, (0.99,))
    failures = {c: json_floats(_rate(a["end"][outcome == c], width, n))
                for c in FAILURES if (outcome == c).any()}
    groups = samples_by_replica(samples)
    return {
        "bin_s": width,
        "t": json_floats(np.arange(n) * width, 3),
        "scheduled_per_s": json_floats(_rate(sched_all, width, n)),
        "sent_per_s": json_floats(_rate(a["sent"], width, n)),
        "finished_per_s": json_floats(_rate(a["end"][ok], width, n)),
        "ttft_p50_s": json_floats(ttft50), "ttft_p99_s": json_floats(ttft99),
        "itl_p50_s": json_floats(itl50), "itl_p99_s": json_floats(itl99),
        "lateness_p99_s": json_floats(late99),
        "failures_per_s": failures,
        "server": _sample_series(samples, width, n),
        # A fleet: each replica's own gauges and counters, on the same bins (the report's panel per replica).
        "replicas": {name: _one_series(g, width, n) for name, g in groups.items()} if len(groups) > 1 else {},
    }


# slices.parquet: column -> (series of `story`, scale). Counts are per slice (a rate times the width).
SLICE_COLUMNS = (
    ("scheduled", "scheduled_per_s"), ("sent", "sent_per_s"), ("finished", "finished_per_s"),
    ("ttft_p50_s", "ttft_p50_s"), ("ttft_p99_s", "ttft_p99_s"), ("itl_p50_s", "itl_p50_s"),
    ("itl_p99_s", "itl_p99_s"), ("lateness_p99_s", "lateness_p99_s"),
)
SLICES = "slices.parquet"


def slice_table(records: list[dict[str, Any]], samples: list[dict[str, Any]], width: float):
    """The run's time slices of `width` seconds as an arrow table: start_s, end_s, requests scheduled / sent /
    finished / failed in each, TTFT and ITL p50 and p99, lateness p99, and the server's KV-cache and waiting peaks."""
    import pyarrow as pa

    s = story(records, samples, width=width)
    n = len(s["t"])
    cols: dict[str, Any] = {"start_s": s["t"], "end_s": [t + width for t in s["t"]]}
    for name, key in SLICE_COLUMNS:
        v = s[key]
        cols[name] = ([None if x is None else int(round(x * width)) for x in v] if key.endswith("_per_s") else v)
    failed = np.zeros(n)
    for per_s in s["failures_per_s"].values():
        failed += np.nan_to_num(np.array(per_s, dtype=np.float64))
    cols["failed"] = [int(round(x * width)) for x in failed]
    for cls, per_s in s["failures_per_s"].items():
        cols[f"failed_{cls}"] = [int(round((x or 0) * width)) for x in per_s]
    for key, name in (("kv_cache_usage", "kv_cache_usage_peak"), ("waiting", "waiting_peak")):
        cols[name] = s["server"].get(key, [None] * n)
    return pa.table({k: pa.array(v, type=pa.int64() if k in ("scheduled", "sent", "finished", "failed")
                                  or k.startswith("failed_") else pa.float64()) for k, v in cols.items()})
