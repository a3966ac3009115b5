"""The summary of a run: one pure function of the per-request records and the server samples.

`summarize` takes the records as the journal holds them (dicts; times in seconds from the run start, chunk times in
microseconds from `sent_s`) and returns a JSON-ready dict. Definitions:

- `sent` counts requests that left; `sent == finished + failed + cancelled` always. `finished`: outcome ok;
  `failed`: every other outcome but `cancelled`; `cancelled`: the run stopped first, including requests that were
  sent but never journaled (a killed run: `lost_in_flight`).
- TTFT, ITL, TPOT and E2E as in vLLM's benchmark, over finished requests; each figure says how many requests it
  covers (`count`) and how many failed ones it leaves out (`failed_excluded`). ITL pools every gap of every finished
  request; TPOT needs at least two tokens.
- `dispatch_lateness_s`: sent - scheduled, over every sent request (`sent`: the request had its connection).
- `overload`: did the run keep its schedule (replay/overload.py); requests cancelled before they left are counted
  there (`never_sent`), not in `sent`.
- `client`: whether the client's own delays (dispatch lateness) got into the figures, and where
  (replay/client_limits.py).
- `goodput`: share of finished + failed requests that finished and met the SLOs (failures are misses).
- `replicas`, `imbalance`, `replica_source` (a fleet's run only): one row per replica and how unevenly the load
  fell (replay/fleet_summary.py); the server figures are then the fleet's.
- `burst`: burst episodes (the high-rate windows of `burst_window_s` and the backlog they leave, replay/bursts.py),
  each request attributed by its scheduled arrival to an episode (`busy`) or to the calm (`calm`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from burststudio.replay.bursts import burst_view
from burststudio.replay.client_limits import client_view
from burststudio.replay.overload import overload_view, split_unsent
from burststudio.vocab import (ADMISSION_REJECTIONS_TOTAL, CANCELLED, FAILURES, KV_CACHE_USAGE, OK,
                               PREEMPTIONS_TOTAL, PREFIX_CACHE_HITS_TOTAL, PREFIX_CACHE_QUERIES_TOTAL, RUNNING,
                               UNKNOWN, WAITING)

STAT_KEYS = ("mean", "p50", "p90", "p99", "max")


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def stat(values: np.ndarray, *, failed_excluded: int = 0) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    out: dict[str, Any] = {k: None for k in STAT_KEYS}
    if v.size:
        p50, p90, p99 = np.quantile(v, [0.5, 0.9, 0.99])
        out.update(mean=_num(v.mean()), p50=_num(p50), p90=_num(p90), p99=_num(p99), max=_num(v.max()))
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
    out: dict[str, Any] = {
        "complete": bool(complete),
        "sent": sent,
        "finished": n_ok,
        "failed": n_failed,
        "cancelled": n_cancelled,
        "lost_in_flight": lost,
        "failures_by_class": by_class,
        "ttft_s": stat(a["ttft"][ok], failed_excluded=n_failed),
        "itl_s": stat(itl, failed_excluded=n_failed),
        "tpot_s": stat(a["tpot"][ok], failed_excluded=n_failed),
        "e2e_s": stat(a["e2e"][ok], failed_excluded=n_failed),
        "dispatch_lateness_s": stat(a["lateness"], failed_excluded=0),
        "throughput": _throughput(a, ok),
        "goodput": _goodput(a, ok, failed_mask | ~np.isin(outcome, (OK, CANCELLED) + FAILURES), settings),
    }
    from burststudio.replay.fleet_summary import fleet_server_figures, fleet_view, samples_by_replica

    by_replica = samples_by_replica(samples)
    out.update(fleet_server_figures(by_replica, server_figures) if len(by_replica) > 1 else server_figures(samples))
    out["overload"] = overload_view(a, records, unsent, stat)
    out["client"] = client_view(a, int(settings.get("max_concurrency") or 0), out["overload"]["behind_schedule"])
    out["burst"] = burst_view(a, ok, failed_mask, _setting(settings, "burst_window_s"),
                              _setting(settings, "burst_rate_factor"), stat,
                              waiting=(_col(unsent, "scheduled_s"), _col(unsent, "end_s")))
    fleet = fleet_view(records, a, ok, by_replica, _setting(settings, "burst_window_s"), server_figures, stat)
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


def _goodput(a: dict[str, np.ndarray], ok: np.ndarray, failed: np.ndarray, settings: dict[str, Any]) -> dict:
    slo_ttft = float(settings.get("slo_ttft_s") or 0)
    slo_tpot = float(settings.get("slo_tpot_s") or 0)
    met = ok.copy()
    if slo_ttft > 0:
        met &= a["ttft"] <= slo_ttft
    if slo_tpot > 0:
        # A one-token answer has no TPOT; it cannot miss a TPOT objective.
        met &= ~(a["tpot"] > slo_tpot)
    total = int(ok.sum() + failed.sum())
    return {"share": _num(met.sum() / total) if total else None, "met": int(met.sum()), "of": total,
            "slo_ttft_s": slo_ttft or None, "slo_tpot_s": slo_tpot or None}


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
    tmax = limits.get("ttft_p99_max_s", -1)
    p99 = summary["ttft_s"].get("p99")
    if tmax is not None and tmax >= 0 and (p99 is None or p99 > tmax):
        broken.append(f"TTFT p99 {_fmt(p99)} s is above the limit ttft_p99_max_s = {tmax}")
    return broken


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"
