"""The summary of a run: one pure function of the per-request records and the server samples.

`summarize` takes the records as the journal holds them (dicts; times in seconds from the run start, chunk times in
microseconds from `sent_s`) and returns a JSON-ready dict. Definitions:

- `sent` counts requests that left; `sent == finished + failed + cancelled` always. `finished`: outcome ok;
  `failed`: every other outcome but `cancelled`; `cancelled`: the run stopped first, including requests that were
  sent but never journaled (a killed run: `lost_in_flight`).
- TTFT, ITL, TPOT and E2E as in vLLM's benchmark, over finished requests; each figure says how many requests it
  covers (`count`) and how many failed ones it leaves out (`failed_excluded`). ITL pools every gap of every finished
  request; TPOT needs at least two tokens. Each has mean, std, p50, p90, p99 (and any other percentile of
  `replay.percentiles`, as `p95`, `p99.9`), max.
- `dispatch_lateness_s`: sent - scheduled, over every sent request (`sent`: the request had its connection).
- `overload`: did the run keep its schedule (replay/overload.py); requests cancelled before they left are counted
  there (`never_sent`), not in `sent`.
- `client`: whether the client's own delays (dispatch lateness) got into the figures, and where
  (replay/client_limits.py).
- `goodput`: `share` of finished + failed requests that finished and met every objective (TTFT, TPOT, ITL: the
  request's longest chunk gap, E2E; failures are misses), `met` of `of`, and `rate`: met per second of the run
  (`throughput.duration_s`), the figure vLLM's and AIPerf's goodput name.
- `short_answers`: answers that ended cleanly with fewer tokens than asked (`shortfall`), counted apart: how many,
  how many of them count as finished (`[replay] short_answers = "ok"`) or failed (as `truncated`), and the mean
  number of tokens they lacked.
- `warmup` (`warmup_view`): the requests sent before the clock started, which no other figure includes.
- `replicas`, `imbalance`, `replica_source` (a fleet's run only): one row per replica and how unevenly the load
  fell (replay/fleet_summary.py); the server figures are then the fleet's.
- `burst`: burst episodes (the high-rate windows of `burst_window_s` and the backlog they leave, replay/bursts.py),
  each request attributed by its scheduled arrival to an episode (`busy`) or to the calm (`calm`).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np

from burststudio.replay.bursts import burst_view
from burststudio.replay.client_limits import client_view
from burststudio.replay.overload import overload_view, split_unsent
from burststudio.vocab import (ADMISSION_REJECTIONS_TOTAL, CANCELLED, FAILURES, KV_CACHE_USAGE, OK,
                               PREEMPTIONS_TOTAL, PREFIX_CACHE_HITS_TOTAL, PREFIX_CACHE_QUERIES_TOTAL, RUNNING,
                               SHORT_FAIL, UNKNOWN, WAITING)

STAT_KEYS = ("mean", "std", "p50", "p90", "p99", "max")
BASE_PERCENTILES = (50.0, 90.0, 99.0)  # always in every latency figure: the figures (figures.py) read them


def percentile_key(q: float) -> str:
    """The summary's key of a percentile: p50, p95, p99.9."""
    return f"p{q:g}"


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def stat(values: np.ndarray, *, failed_excluded: int = 0,
         percentiles: tuple[float, ...] = BASE_PERCENTILES) -> dict[str, Any]:
    """mean, std (sample), the percentiles (p50, p90, p99 and any others asked), max, count, failed_excluded."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    qs = sorted(set(BASE_PERCENTILES) | {float(q) for q in percentiles})
    out: dict[str, Any] = {"mean": None, "std": None, **{percentile_key(q): None for q in qs}, "max": None}
    if v.size:
        out.update(mean=_num(v.mean()), std=_num(v.std(ddof=1)) if v.size > 1 else None, max=_num(v.max()))
        for q, x in zip(qs, np.quantile(v, np.array(qs) / 100)):
            out[percentile_key(q)] = _num(x)
    out["count"] = int(v.size)
    out["failed_excluded"] = int(failed_excluded)
    return out


def _col(records: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in records], dtype=np.float64)


def per_request(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-request arrays: outcome, ttft, e2e, tpot, lateness, tokens (NaN where a figure does not exist)."""
    outcome = np.array([r.get("outcome") or "" for r in records], dtype=object)
    sched = _col(records, "scheduled_s")
    sent = _col(records, "sent_s")
    first = _col(records, "first_s")
    end = _col(records, "end_s")
    usage = _col(records, "usage_completion_tokens")
    chunk_tokens = _col(records, "chunk_tokens")
    tokens = np.where(np.isnan(usage), chunk_tokens, usage)
    ttft = first - sent
    e2e = end - sent
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(tokens > 1, (e2e - ttft) / (tokens - 1), np.nan)
    return {"outcome": outcome, "scheduled": sched, "sent": sent, "end": end, "ttft": ttft, "e2e": e2e,
            "tpot": tpot, "lateness": sent - sched, "tokens": np.nan_to_num(tokens)}


def summarize(records: list[dict[str, Any]], samples: list[dict[str, Any]] | None = None, *,
              sent: int | None = None, settings: dict[str, Any] | None = None,
              plan: dict[str, Any] | None = None, run_dir: str | None = None,
              complete: bool = True) -> dict[str, Any]:
    """The run's summary (module doc). `sent` defaults to the number of records; `settings` holds the replay
    settings as a dict (slo_ttft_s, slo_tpot_s, burst_window_s, burst_rate_factor, max_concurrency, limits)."""
    settings = settings or {}
    samples = samples or []
    records, unsent = split_unsent(records)
    n = len(records)
    sent = n if sent is None else max(int(sent) - len(unsent), n)
    a = per_request(records)
    outcome = a["outcome"]
    ok = outcome == OK
    failed_mask = np.isin(outcome, FAILURES)
    n_ok = int(ok.sum())
    n_failed = int(failed_mask.sum())
    lost = sent - n
    n_cancelled = int((outcome == CANCELLED).sum()) + lost
    unknown = n - n_ok - n_failed - int((outcome == CANCELLED).sum())
    n_failed += unknown  # an outcome this version does not know is a failure, never a silent drop
    by_class = {c: int((outcome == c).sum()) for c in FAILURES if (outcome == c).any()}
    if unknown:
        by_class[UNKNOWN] = unknown

    itl = _itl(records, ok)
    qs = tuple(settings.get("percentiles") or BASE_PERCENTILES)
    out: dict[str, Any] = {
        "complete": bool(complete),
        "sent": sent,
        "finished": n_ok,
        "failed": n_failed,
        "cancelled": n_cancelled,
        "lost_in_flight": lost,
        "failures_by_class": by_class,
        "ttft_s": stat(a["ttft"][ok], failed_excluded=n_failed, percentiles=qs),
        "itl_s": stat(itl, failed_excluded=n_failed, percentiles=qs),
        "tpot_s": stat(a["tpot"][ok], failed_excluded=n_failed, percentiles=qs),
        "e2e_s": stat(a["e2e"][ok], failed_excluded=n_failed, percentiles=qs),
        "dispatch_lateness_s": stat(a["lateness"], failed_excluded=0, percentiles=qs),
        "throughput": _throughput(a, ok),
        "goodput": _goodput(a, ok, failed_mask | ~np.isin(outcome, (OK, CANCELLED) + FAILURES), settings,
                            _max_gaps(records)),
        "short_answers": short_answers_view(records, ok, settings.get("short_answers") or SHORT_FAIL),
    }
    out["goodput"]["rate"] = _num(out["goodput"]["met"] / out["throughput"]["duration_s"]) \
        if out["throughput"]["duration_s"] else None
    from burststudio.replay.fleet_summary import fleet_server_figures, fleet_view, samples_by_replica

    by_replica = samples_by_replica(samples)
    out.update(fleet_server_figures(by_replica, server_figures) if len(by_replica) > 1 else server_figures(samples))
    out["overload"] = overload_view(a, records, unsent, stat)
    out["client"] = client_view(a, int(settings.get("max_concurrency") or 0), out["overload"]["behind_schedule"])
    out["burst"] = burst_view(a, ok, failed_mask, _setting(settings, "burst_window_s"),
                              _setting(settings, "burst_rate_factor"), stat,
                              waiting=(_col(unsent, "scheduled_s"), _col(unsent, "end_s")))
    fleet = fleet_view(records, a, ok, by_replica, _setting(settings, "burst_window_s"), server_figures,
                       partial(stat, percentiles=qs))
    if fleet is not None:
        out.update(fleet)
    if plan is not None:
        out["plan"] = plan
    out["run_dir"] = run_dir
    out["limits_broken"] = check_limits(out, settings.get("limits") or {})
    return out


def _setting(settings: dict[str, Any], key: str) -> Any:
    """A replay setting from the run's settings, or its default (a run.json written before the setting existed)."""
    if settings.get(key) is not None:
        return settings[key]
    from burststudio.settings import ReplaySettings

    return getattr(ReplaySettings(), key)


def _itl(records: list[dict[str, Any]], ok: np.ndarray) -> np.ndarray:
    gaps = [np.diff(np.asarray(r.get("chunks_us") or [], dtype=np.float64))
            for r, good in zip(records, ok) if good and len(r.get("chunks_us") or []) > 1]
    return np.concatenate(gaps) / 1e6 if gaps else np.empty(0)


def _throughput(a: dict[str, np.ndarray], ok: np.ndarray) -> dict[str, Any]:
    sent, end = a["sent"], a["end"]
    if not np.isfinite(sent).any():
        return {"duration_s": None, "requests_per_s": None, "output_tokens_per_s": None, "sent_per_s": None}
    start = np.nanmin(sent)
    stop = np.nanmax(end) if np.isfinite(end).any() else np.nanmax(sent)
    dur = float(stop - start)
    # The send rate spans first to last send: the rate the dispatcher held, without the tail of the last answers.
    send_span = float(np.nanmax(sent) - start)
    n_sent = int(np.isfinite(sent).sum())
    return {
        "duration_s": _num(dur),
        "requests_per_s": _num(ok.sum() / dur) if dur > 0 else None,
        "output_tokens_per_s": _num(a["tokens"].sum() / dur) if dur > 0 else None,
        "sent_per_s": _num((n_sent - 1) / send_span) if send_span > 0 else None,
    }


def _max_gaps(records: list[dict[str, Any]]) -> np.ndarray:
    """Each request's longest gap between two chunks, seconds (NaN with fewer than two chunks)."""
    out = np.full(len(records), np.nan)
    for k, r in enumerate(records):
        c = r.get("chunks_us") or []
        if len(c) > 1:
            out[k] = float(np.max(np.diff(np.asarray(c, dtype=np.float64)))) / 1e6
    return out


# Goodput objectives: the setting, the per-request figure it bounds, and what a request without that figure does.
SLOS = (("slo_ttft_s", "ttft"), ("slo_tpot_s", "tpot"), ("slo_itl_s", "max_gap"), ("slo_e2e_s", "e2e"))


def _goodput(a: dict[str, np.ndarray], ok: np.ndarray, failed: np.ndarray, settings: dict[str, Any],
             max_gap: np.ndarray) -> dict:
    """The share of requests that finished and met every objective, of all that finished or failed; `rate` (met
    per second of the run) is added by summarize. An objective on a figure a request does not have (TPOT and ITL of
    a one-token answer) cannot be missed; an ITL objective bounds every gap of a request (its longest)."""
    figures = {**a, "max_gap": max_gap}
    met = ok.copy()
    objectives: dict[str, float | None] = {}
    for key, fig in SLOS:
        slo = float(settings.get(key) or 0)
        objectives[key] = slo or None
        if slo > 0:
            met &= ~(figures[fig] > slo)
    total = int(ok.sum() + failed.sum())
    return {"share": _num(met.sum() / total) if total else None, "met": int(met.sum()), "of": total, **objectives}


def server_figures(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Peaks of gauges and run deltas of counters from the /metrics samples (None without samples)."""
    def peak(key: str) -> float | None:
        vals = [s[key] for s in samples if s.get(key) is not None]
        return _num(max(vals)) if vals else None

    def delta(key: str) -> float | None:
        vals = [s[key] for s in samples if s.get(key) is not None]
        return _num(vals[-1] - vals[0]) if vals else None

    hits, queries = delta(PREFIX_CACHE_HITS_TOTAL), delta(PREFIX_CACHE_QUERIES_TOTAL)
    return {
        "kv_cache_usage_peak": peak(KV_CACHE_USAGE),
        "waiting_peak": peak(WAITING),
        "running_peak": peak(RUNNING),
        "preemptions": delta(PREEMPTIONS_TOTAL),
        "admission_rejections": delta(ADMISSION_REJECTIONS_TOTAL),
        "prefix_cache_hit_rate": _num(hits / queries) if hits is not None and queries else None,
        "metrics_samples": len(samples),
    }


def check_limits(summary: dict[str, Any], limits: dict[str, Any]) -> list[str]:
    """One line per broken limit; unset limits (negative) are not checked."""
    broken: list[str] = []
    gmin = limits.get("goodput_min", -1)
    share = (summary.get("goodput") or {}).get("share")
    if gmin is not None and gmin >= 0 and (share is None or share < gmin):
        broken.append(f"goodput {_fmt(share)} is below the limit goodput_min = {gmin}")
    fmax = limits.get("failed_share_max", -1)
    done = summary["finished"] + summary["failed"]
    fshare = summary["failed"] / done if done else None
    if fmax is not None and fmax >= 0 and fshare is not None and fshare > fmax:
        broken.append(f"failed share {_fmt(fshare)} is above the limit failed_share_max = {fmax}")
    for key, name in (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2e", "E2E")):
        tmax = limits.get(f"{key}_p99_max_s", -1)
        p99 = (summary.get(f"{key}_s") or {}).get("p99")
        if tmax is not None and tmax >= 0 and (p99 is None or p99 > tmax):
            broken.append(f"{name} p99 {_fmt(p99)} s is above the limit {key}_p99_max_s = {tmax}")
    rmin = limits.get("goodput_rate_min", -1)
    rate = (summary.get("goodput") or {}).get("rate")
    if rmin is not None and rmin >= 0 and (rate is None or rate < rmin):
        broken.append(f"goodput rate {_fmt(rate)} req/s is below the limit goodput_rate_min = {rmin}")
    return broken


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def short_answers_view(records: list[dict[str, Any]], ok: np.ndarray, policy: str) -> dict[str, Any]:
    """Short answers (a `shortfall` above 0), apart from the rest: counted as finished or failed per `policy`."""
    short = _col(records, "shortfall")
    is_short = np.nan_to_num(short) > 0
    n = int(is_short.sum())
    return {"counted_as": policy, "requests": n, "finished": int((is_short & ok).sum()),
            "failed": int((is_short & ~ok).sum()),
            "mean_shortfall_tokens": _num(short[is_short].mean()) if n else None}


def warmup_view(records: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    """The warm-up: `requests` sent before the run's clock started (their records: times from the warm-up's start),
    how they ended and how long it took. No other figure includes them."""
    a = per_request(records)
    ok = a["outcome"] == OK
    end = a["end"]
    return {"requests": int(requests), "ended": len(records), "finished": int(ok.sum()),
            "failed": len(records) - int(ok.sum()),
            "duration_s": _num(np.nanmax(end)) if np.isfinite(end).any() else None,
            "ttft_s": stat(a["ttft"][ok], failed_excluded=len(records) - int(ok.sum()))}
