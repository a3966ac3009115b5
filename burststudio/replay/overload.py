"""The `overload` section of a run's summary: did the run keep its schedule, and if not, when and by how much.

A server that cannot keep up shows in three places: requests wait on the client for a connection (lateness grows),
requests wait inside the server (in flight grows, time to the first token grows while time to the response
headers stays short), or requests never reach the server's application (time to headers grows, `headers`
timeouts). Keys:

- `planned_per_s` / `sent_per_s` / `sent_share`: the schedule's rate against the rate requests left at, each over
  its own span (first to last).
- `lateness_s`: `first_p50` / `last_p50` (the first and last tenth of the schedule), `growth_per_s` (least-squares
  slope of lateness against the scheduled time: seconds of lateness gained per second of schedule).
- `time_to_headers_s`: response headers - sent, over requests that had them ({mean, p50, p90, p99, max, count}).
- `in_flight` (sent, not ended) and `waiting` (due, not yet sent: waiting for a connection or a slot), sampled
  every second of the schedule: `start`, `peak`, `end` (at the last scheduled send), `growth_per_s`.
- `never_sent`: requests cancelled while still waiting when the run ended (not in `sent`; in `not_sent`);
  `cancelled_by_reason`: every cancelled request, sent or not, by the reason it was cancelled.
- `behind_schedule`: some second of the schedule had its median lateness over `BEHIND_S`, or requests were never
  sent; `note`: one line that says when the run fell behind and by how much (null when it kept up).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from burststudio.vocab import CANCELLED

BEHIND_S = 0.1  # a median lateness that no load generator on a quiet machine shows (docs/performance.md)
STEP_S = 1.0


def split_unsent(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records of requests that left, records of requests cancelled before they left)."""
    unsent = [r for r in records if r.get("sent_s") is None and r.get("outcome") == CANCELLED]
    if not unsent:
        return records, unsent
    return [r for r in records if not (r.get("sent_s") is None and r.get("outcome") == CANCELLED)], unsent


def _col(records: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in records], dtype=np.float64)


def _rate(t: np.ndarray) -> float | None:
    t = t[np.isfinite(t)]
    if t.size < 2:
        return None
    span = float(t.max() - t.min())
    return (t.size - 1) / span if span > 0 else None


def _counts(starts: np.ndarray, ends: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """How many [start, end) intervals hold each grid time."""
    ok = np.isfinite(starts)
    s = np.sort(starts[ok])
    e = np.sort(np.where(np.isfinite(ends[ok]), ends[ok], np.inf))
    return np.searchsorted(s, grid, side="right") - np.searchsorted(e, grid, side="right")


def _series(counts: np.ndarray, grid: np.ndarray) -> dict[str, Any]:
    if counts.size == 0:
        return {"start": None, "peak": None, "end": None, "growth_per_s": None}
    slope = float(np.polyfit(grid, counts, 1)[0]) if counts.size > 2 else None
    return {"start": int(counts[0]), "peak": int(counts.max()), "end": int(counts[-1]),
            "growth_per_s": None if slope is None else round(slope, 3)}


def _fmt_s(x: float) -> str:
    return f"{x * 1e3:.0f} ms" if abs(x) < 1 else f"{x:.1f} s"


def overload_view(a: dict[str, np.ndarray], records: list[dict[str, Any]], unsent: list[dict[str, Any]],
                  stat) -> dict[str, Any]:
    """The section (module doc). `a` holds summary.per_request's arrays of the sent requests, `records` their
    journal records, `unsent` the records of requests cancelled before they left; `stat` is summary.stat."""
    sched = a["scheduled"]
    sent = a["sent"]
    lateness = a["lateness"]
    u_sched = _col(unsent, "scheduled_s")
    u_end = _col(unsent, "end_s")
    all_sched = np.concatenate([sched, u_sched])
    planned = _rate(all_sched)
    sent_rate = _rate(sent)
    headers = _col(records, "headers_s") - sent

    out: dict[str, Any] = {
        "planned_per_s": planned,
        "sent_per_s": sent_rate,
        "sent_share": sent_rate / planned if planned and sent_rate else None,
        "lateness_s": {"first_p50": None, "last_p50": None, "growth_per_s": None},
        "time_to_headers_s": {k: v for k, v in stat(headers).items() if k != "failed_excluded"},
        "in_flight": _series(np.empty(0), np.empty(0)),
        "waiting": _series(np.empty(0), np.empty(0)),
        "never_sent": len(unsent),
        "cancelled_by_reason": dict(Counter(_reason(r) for r in list(records) + list(unsent)
                                            if r.get("outcome") == CANCELLED)),
        "behind_schedule": bool(unsent),
        "note": None,
    }
    have = np.isfinite(sched) & np.isfinite(lateness)
    if not have.any() and not unsent:
        return out
    t_start = float(np.nanmin(all_sched))
    t_end = float(np.nanmax(all_sched))
    # A request never sent was late by at least the time it waited.
    late_t = np.concatenate([sched[have], u_sched])
    late_v = np.concatenate([lateness[have], u_end - u_sched])
    order = np.argsort(late_t, kind="stable")
    late_t, late_v = late_t[order], late_v[order]
    tenth = max(1, late_t.size // 10)
    out["lateness_s"] = {
        "first_p50": float(np.median(late_v[:tenth])),
        "last_p50": float(np.median(late_v[-tenth:])),
        "growth_per_s": float(np.polyfit(late_t, late_v, 1)[0]) if late_t.size > 2 and t_end > t_start else None,
    }
    grid = np.arange(t_start, t_end + 1e-9, STEP_S)
    out["in_flight"] = _series(_counts(sent, a["end"], grid), grid)
    out["waiting"] = _series(_counts(np.concatenate([sched, u_sched]), np.concatenate([sent, u_end]), grid), grid)

    # The first second of the schedule whose median lateness passed BEHIND_S.
    win = np.floor((late_t - t_start) / STEP_S).astype(np.int64)
    behind_at = None
    for w in np.unique(win):
        if float(np.median(late_v[win == w])) > BEHIND_S:
            behind_at = t_start + w * STEP_S
            break
    if behind_at is None and not unsent:
        return out
    out["behind_schedule"] = True
    worst = float(late_v.max())
    parts = [f"behind schedule from {behind_at if behind_at is not None else t_end:.1f} s of {t_end:.1f} s: "
             f"lateness p50 {_fmt_s(out['lateness_s']['last_p50'])} in the last tenth (max {_fmt_s(worst)})"]
    if planned and sent_rate:
        parts.append(f"sent {sent_rate:.0f}/s of {planned:.0f}/s planned")
    fl = out["in_flight"]
    if fl["growth_per_s"] is not None and fl["growth_per_s"] > 0:
        parts.append(f"in flight grew {fl['growth_per_s']:.0f}/s to {fl['peak']}")
    h99 = out["time_to_headers_s"].get("p99")
    if h99 is not None:
        parts.append(f"time to headers p99 {_fmt_s(h99)}")
    if unsent:
        parts.append(f"{len(unsent)} never sent (cancelled waiting)")
    out["note"] = "; ".join(parts)
    return out


def _reason(r: dict[str, Any]) -> str:
    """The reason of a cancellation without its figures, so that equal reasons count together."""
    err = str(r.get("error") or "the run stopped")
    return err.split(" (", 1)[0]
