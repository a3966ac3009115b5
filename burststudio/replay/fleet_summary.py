"""The fleet part of a run's summary: the fleet's server figures, one row per replica, and the imbalance.

A fleet's samples each carry their `replica` (vocab REPLICA). Fleet figures: the KV peak is the fullest replica's,
the running and waiting peaks are those of the fleet's sum (the k-th sample of every replica taken as one moment:
the scrapers sample together), counters are summed over the replicas.

Who served a request (`replica_source`): `client` when the records name it (the client routed, or the simulated
router did); `counters` when a router routed and did not say, so a replica's requests are its own
request_success_total delta and its latency figures are unknown (null).

Imbalance is the busiest replica's load over the mean load, load being the requests a replica got (`client`) or
finished (`counters`): `overall` over the run, `busy` over the busiest windows of `burst_window_s` (those with at
least the 90th percentile of arrivals: where a burst lands unevenly). 1.0 is an even spread; N (replicas) is all on
one. Each replica's row has its own `busy` view: the requests that arrived in those windows, how many failed, their
TTFT.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from burststudio.vocab import (CANCELLED, HTTP_429, HTTP_503, OK, PREFIX_CACHE_HITS_TOTAL, PREFIX_CACHE_QUERIES_TOTAL, REPLICA, REPLICA_BY_CLIENT,
                               REPLICA_BY_COUNTERS, REQUEST_SUCCESS_TOTAL, RUNNING, SAMPLE_TIME, WAITING)

BUSY_QUANTILE = 0.9


def samples_by_replica(samples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        name = s.get(REPLICA)
        if name is not None:
            out.setdefault(str(name), []).append(s)
    return out


def fullest(t: np.ndarray, values: np.ndarray, replicas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fleet's gauge as its fullest replica's: at every sample time, the highest of each replica's latest value
    (a replica before its first sample counts for nothing). Sorted by time; NaN times or values left out."""
    keep = np.isfinite(t) & np.isfinite(values)
    t, values, replicas = t[keep], values[keep], replicas[keep]
    times = np.unique(t)
    out = np.full(times.size, np.nan)
    for name in dict.fromkeys(replicas.tolist()):
        mine = replicas == name
        order = np.argsort(t[mine], kind="stable")
        rt, rv = t[mine][order], values[mine][order]
        at = np.searchsorted(rt, times, side="right") - 1
        out = np.fmax(out, np.where(at >= 0, rv[np.maximum(at, 0)], np.nan))
    return times, out


def fleet_server_figures(by_replica: dict[str, list[dict[str, Any]]], server_figures: Callable) -> dict[str, Any]:
    figs = {name: server_figures(s) for name, s in by_replica.items()}

    def fmax(key: str) -> float | None:
        vals = [f[key] for f in figs.values() if f.get(key) is not None]
        return max(vals) if vals else None

    def fsum(key: str) -> float | None:
        vals = [f[key] for f in figs.values() if f.get(key) is not None]
        return float(sum(vals)) if vals else None

    def summed_peak(key: str) -> float | None:
        series = [[s[key] for s in ss if s.get(key) is not None] for ss in by_replica.values()]
        series = [x for x in series if x]
        if not series:
            return None
        n = min(len(x) for x in series)
        return float(max(sum(x[k] for x in series) for k in range(n))) if n else None

    def delta(ss: list[dict[str, Any]], key: str) -> float | None:
        vals = [s[key] for s in ss if s.get(key) is not None]
        return float(vals[-1] - vals[0]) if vals else None

    hits = [delta(ss, PREFIX_CACHE_HITS_TOTAL) for ss in by_replica.values()]
    queries = [delta(ss, PREFIX_CACHE_QUERIES_TOTAL) for ss in by_replica.values()]
    h = sum(x for x in hits if x is not None)
    q = sum(x for x in queries if x is not None)
    return {
        "kv_cache_usage_peak": fmax("kv_cache_usage_peak"),
        "waiting_peak": summed_peak(WAITING),
        "running_peak": summed_peak(RUNNING),
        "preemptions": fsum("preemptions"),
        "admission_rejections": fsum("admission_rejections"),
        "prefix_cache_hit_rate": (h / q) if q else None,
        "metrics_samples": sum(len(s) for s in by_replica.values()),
    }


def _busy_windows(sched: np.ndarray, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(window index of each request, indices of the busiest windows)."""
    t = np.where(np.isfinite(sched), sched, np.nan)
    if not np.isfinite(t).any():
        return np.full(t.size, -1), np.empty(0, dtype=np.int64)
    w = np.where(np.isfinite(t), np.floor((t - np.nanmin(t)) / window_s), -1).astype(np.int64)
    counts = np.bincount(w[w >= 0])
    level = np.quantile(counts[counts > 0], BUSY_QUANTILE)
    return w, np.flatnonzero(counts >= max(level, 1))


def _ratio(loads: list[float]) -> float | None:
    mean = float(np.mean(loads)) if loads else 0.0
    return float(max(loads) / mean) if mean > 0 else None


def _counter_at(ss: list[dict[str, Any]], key: str, t: float) -> float | None:
    pts = [(s[SAMPLE_TIME], s[key]) for s in ss if s.get(key) is not None and s.get(SAMPLE_TIME) is not None]
    if not pts:
        return None
    ts, vs = zip(*pts)
    return float(np.interp(t, ts, vs))


def fleet_view(records: list[dict[str, Any]], a: dict[str, np.ndarray], ok: np.ndarray,
               by_replica: dict[str, list[dict[str, Any]]], window_s: float, server_figures: Callable,
               stat: Callable) -> dict[str, Any] | None:
    """`replicas`, `imbalance` and `replica_source` of a fleet's run; None for a run against one server."""
    names_rec = np.array([r.get(REPLICA) for r in records], dtype=object)
    named = sorted({str(n) for n in names_rec if n is not None} | set(by_replica), key=_order)
    if len(named) < 2:
        return None
    source = REPLICA_BY_CLIENT if any(n is not None for n in names_rec) else REPLICA_BY_COUNTERS
    outcome = a["outcome"]
    win, busy = _busy_windows(a["scheduled"], window_s)
    rows, loads, busy_loads = [], [], []
    for name in named:
        figs = server_figures(by_replica.get(name, []))
        row: dict[str, Any] = {"replica": name}
        if source == REPLICA_BY_CLIENT:
            mine = names_rec == name
            n_ok = int((ok & mine).sum())
            failed = int((mine & (outcome != OK) & (outcome != CANCELLED)).sum())
            rejected_seen = int((mine & np.isin(outcome, (HTTP_503, HTTP_429))).sum())
            row.update(requests=int(mine.sum()), finished=n_ok, failed=failed,
                       ttft_s=stat(a["ttft"][ok & mine], failed_excluded=failed),
                       e2e_s=stat(a["e2e"][ok & mine], failed_excluded=failed))
            loads.append(float(mine.sum()))
            in_busy = mine & np.isin(win, busy)
            busy_loads.append(float(in_busy.sum()))
            # The burst view of this replica: what arrived in the busiest windows, and how it fared.
            row["busy"] = {"requests": int(in_busy.sum()), "failed": int((in_busy & (outcome != OK)
                                                                          & (outcome != CANCELLED)).sum()),
                           "ttft_s": stat(a["ttft"][ok & in_busy])}
        else:
            ss = by_replica.get(name, [])
            vals = [s[REQUEST_SUCCESS_TOTAL] for s in ss if s.get(REQUEST_SUCCESS_TOTAL) is not None]
            done = float(vals[-1] - vals[0]) if vals else 0.0
            rejected_seen = 0
            row.update(requests=int(done), finished=int(done), failed=None, ttft_s=None, e2e_s=None)
            loads.append(done)
            start = np.nanmin(a["scheduled"]) if np.isfinite(a["scheduled"]).any() else 0.0
            b = 0.0
            for w in busy:
                lo = _counter_at(ss, REQUEST_SUCCESS_TOTAL, start + w * window_s)
                hi = _counter_at(ss, REQUEST_SUCCESS_TOTAL, start + (w + 1) * window_s)
                b += (hi - lo) if lo is not None and hi is not None else 0.0
            busy_loads.append(b)
            row["busy"] = {"requests": int(b), "failed": None, "ttft_s": None}
        rejections = figs.get("admission_rejections")
        row.update(kv_cache_usage_peak=figs.get("kv_cache_usage_peak"), waiting_peak=figs.get("waiting_peak"),
                   running_peak=figs.get("running_peak"), preemptions=figs.get("preemptions"),
                   rejections=rejections if rejections is not None else rejected_seen,
                   prefix_cache_hit_rate=figs.get("prefix_cache_hit_rate"))
        rows.append(row)
    return {"replica_source": source, "replicas": rows,
            "imbalance": {"overall": _ratio(loads), "busy": _ratio(busy_loads), "busy_windows": int(busy.size),
                          "window_s": window_s, "load": "requests" if source == REPLICA_BY_CLIENT else "finished"}}


def _order(name: str) -> tuple[int, Any]:
    return (0, int(name)) if name.isdigit() else (1, name)

