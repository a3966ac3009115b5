"""The `burst` section of a run's summary: burst episodes, and every request attributed by its arrival to an episode
or to the calm.

A burst does its harm after it too: the backlog it leaves drains for a while, and requests that arrive then wait as
long as those of the burst. Windows chosen by arrival rate alone count that drain as calm, and the calm then looks
as bad as the burst. An episode is therefore the high-rate windows plus their aftermath (docs/replay.md, "Bursts"):

1. Arrivals (scheduled times) are counted in windows of `burst_window_s` on the run's clock, from the window of the
   first arrival to that of the last. A window is *high-rate* when its count is above
   `max(rate_factor * m, m + NOISE_SIGMAS * sqrt(m), MIN_BURST_REQUESTS - 1)`, `m` the median count per window:
   a multiple of the typical rate, far enough above it that the noise of a steady (Poisson) stream at that rate
   does not pass (4 standard deviations: about one window in 30,000), and at least MIN_BURST_REQUESTS requests.
2. An episode starts at a high-rate window and goes on through the windows after it until one is *back to calm*:
   the requests outstanding during it (arrived by the schedule and not yet ended: waiting on the client, queued or
   running on the server) average no more than the calm windows' upper quartile, and the TTFT p50 of the requests
   that arrived in it and finished is no more than the p90 TTFT of the calm requests. The calm figures come from
   the windows outside every episode, so they are found again once the episodes are known (the drain at first
   counted as calm is taken out), until the episodes no longer change.
3. Windows in one unbroken stretch make one episode, so a burst that arrives while the last one drains merges
   with it. An episode that never got back to calm before the run ended says so (`recovered: false`).

Keys: `window_s`, `rate_factor`, `threshold_requests` (a high-rate window has more arrivals than this),
`median_requests` (m), `baseline` (`outstanding` and `ttft_p90_s` of the calm), `episodes` (one per episode:
`start_s`, `end_s`, `high_s` (seconds of high-rate windows in it), `recovered`, `requests`, `failed`,
`ttft_p50_s`, `ttft_p99_s`, `outstanding_peak`), and `busy` (the requests of every episode) and `calm` (the
others), each {windows, requests, rate_rps, failed, failed_share, ttft_s, e2e_s, tpot_s} (`busy` holds no request
when the run had no episode). `note` says when there was no burst, or why there is no view.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from burststudio.vocab import CANCELLED

NOISE_SIGMAS = 4.0
MIN_BURST_REQUESTS = 3
OUTSTANDING_POINTS = 8  # outstanding requests sampled this many times a window, averaged
CALM_OUTSTANDING_Q = 0.75
CALM_TTFT_Q = 0.9
MAX_PASSES = 8  # the episodes settle in two or three; a cap against a calm that keeps shrinking


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def threshold(counts: np.ndarray, rate_factor: float) -> tuple[float, float]:
    """(median count m, the count a high-rate window is above) for the arrival counts of the run's windows."""
    m = float(np.median(counts)) if counts.size else 0.0
    return m, max(rate_factor * m, m + NOISE_SIGMAS * math.sqrt(m), MIN_BURST_REQUESTS - 1.0)


def _outstanding(arrive: np.ndarray, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """How many requests have arrived by each time of `t` and not yet ended."""
    a = np.sort(arrive)
    e = np.sort(np.where(np.isfinite(end), end, np.inf))
    return np.searchsorted(a, t, side="right") - np.searchsorted(e, t, side="right")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[first, last + 1) of each stretch of True."""
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def burst_view(a: dict[str, np.ndarray], ok: np.ndarray, failed: np.ndarray, window_s: float, rate_factor: float,
               stat: Callable[..., dict[str, Any]], waiting: tuple[np.ndarray, np.ndarray] | None = None
               ) -> dict[str, Any] | None:
    """The section (module doc). `a` holds summary.per_request's arrays of the sent requests, `ok` and `failed`
    their masks, `stat` is summary.stat; `waiting` (scheduled, end) are requests cancelled before they left, which
    were outstanding all the same."""
    sched, end, ttft = a["scheduled"], a["end"], a["ttft"]
    have = np.isfinite(sched)
    if have.sum() < 2:
        return None
    W = float(window_s)
    base: dict[str, Any] = {"window_s": W, "rate_factor": rate_factor}
    win = np.full(sched.size, -1, dtype=np.int64)
    win[have] = np.floor(sched[have] / W).astype(np.int64)
    w_first, w_last = int(win[have].min()), int(win[have].max())
    if w_last == w_first:
        return {**base, "episodes": [], "busy": None, "calm": None, "note": "fewer than two windows hold requests"}
    counts = np.bincount(win[have] - w_first, minlength=w_last - w_first + 1).astype(np.float64)
    m, limit = threshold(counts, rate_factor)

    # Outstanding requests, also after the last arrival: an episode may drain past the end of the schedule.
    arrive, leave = sched[have], end[have]
    if waiting is not None and waiting[0].size:
        arrive, leave = np.r_[arrive, waiting[0]], np.r_[leave, waiting[1]]
    last_end = float(np.nanmax(leave)) if np.isfinite(leave).any() else (w_last + 1) * W
    # One window past the last end: a backlog that drained as the run ended is back to calm there.
    n_eval = max(w_last + 1, int(math.floor(last_end / W)) + 2) - w_first
    grid = (w_first + np.arange(n_eval)[:, None] + (np.arange(OUTSTANDING_POINTS)[None, :] + 0.5)
            / OUTSTANDING_POINTS) * W
    out_mean = _outstanding(arrive, leave, grid.ravel()).reshape(grid.shape).mean(axis=1)

    rel = win - w_first  # each request's window, from 0
    good = have & ok & np.isfinite(ttft)
    ttft_p50 = np.full(n_eval, np.nan)
    for w in np.unique(rel[good]):
        ttft_p50[w] = np.median(ttft[good & (rel == w)])
    span = np.zeros(n_eval, dtype=bool)
    span[: counts.size] = True  # windows of the schedule: the calm figures come from these only
    high = np.zeros(n_eval, dtype=bool)
    high[: counts.size] = counts > limit

    calm = span & ~high
    in_ep = np.zeros(n_eval, dtype=bool)
    q_out = q_ttft = None
    for _ in range(MAX_PASSES):
        if not calm.any():
            break
        q_out = float(np.quantile(out_mean[calm], CALM_OUTSTANDING_Q))
        calm_ttft = ttft[good & calm[np.clip(rel, 0, n_eval - 1)]]
        q_ttft = float(np.quantile(calm_ttft, CALM_TTFT_Q)) if calm_ttft.size else None
        back = out_mean <= q_out + 1e-9
        if q_ttft is not None:
            back &= ~(ttft_p50 > q_ttft)  # a window without finished arrivals is judged on its queue alone
        new = np.zeros(n_eval, dtype=bool)
        inside = False
        for w in range(n_eval):
            inside = bool(high[w]) or (inside and not back[w])
            new[w] = inside
        if np.array_equal(new, in_ep):
            break
        in_ep = new
        if not (span & ~in_ep).any():
            break
        calm = span & ~in_ep

    cancelled = a["outcome"] == CANCELLED
    req_ep = np.zeros(sched.size, dtype=bool)
    req_ep[have] = in_ep[rel[have]]
    episodes = []
    for lo, hi in _runs(in_ep):
        mask = have & (rel >= lo) & (rel < hi)
        t = ttft[mask & ok]
        t = t[np.isfinite(t)]
        p50, p99 = (np.quantile(t, [0.5, 0.99]) if t.size else (None, None))
        episodes.append({
            "start_s": _num((w_first + lo) * W),
            "end_s": _num((w_first + hi) * W),
            "high_s": _num(float(high[lo:hi].sum()) * W),
            # Cancelled requests mean the run stopped, or its drain limit ran out, before the backlog cleared.
            "recovered": bool(hi < n_eval and not (mask & cancelled).any()),
            "requests": int(mask.sum()),
            "failed": int((mask & failed).sum()),
            "ttft_p50_s": _num(p50),
            "ttft_p99_s": _num(p99),
            "outstanding_peak": _num(float(out_mean[lo:hi].max())),
        })

    def group(mask: np.ndarray, windows: int) -> dict[str, Any]:
        m_ok, m_failed = mask & ok, mask & failed
        total = int(mask.sum())
        return {
            "windows": windows,
            "requests": total,
            "rate_rps": _num(total / (windows * W)) if windows else None,
            "failed": int(m_failed.sum()),
            "failed_share": _num(m_failed.sum() / total) if total else None,
            "ttft_s": stat(ttft[m_ok], failed_excluded=int(m_failed.sum())),
            "e2e_s": stat(a["e2e"][m_ok], failed_excluded=int(m_failed.sum())),
            "tpot_s": stat(a["tpot"][m_ok], failed_excluded=int(m_failed.sum())),
        }

    busy_windows = int((in_ep & span).sum())
    return {**base, "threshold_requests": _num(limit), "median_requests": _num(m),
            "baseline": {"outstanding": _num(q_out), "ttft_p90_s": _num(q_ttft)},
            "episodes": episodes,
            "busy": group(req_ep, busy_windows),
            "calm": group(have & ~req_ep, int(span.sum()) - busy_windows),
            "note": None if episodes else "no burst: no window's arrivals passed the threshold"}
