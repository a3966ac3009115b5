"""The `client` section of a run's summary: did the load generator's own delays get into the figures, and where.

A client that is late to send (its event loop busy, or its process waiting for a core on a shared machine) is late
to read as well: the chunks of the requests in flight wait in their sockets, and their TTFT, ITL and E2E grow by the
client's delay, not the server's. Seen on two shared cores: TTFT spikes of ~400 ms at the moments dispatch lateness
spiked to ~200 ms, and a sweep whose half-rate step had a worse TTFT p99 than its full-rate one. Dispatch lateness
(sent - scheduled) is the client's own measure of that delay, so it is the test:

- a second of the schedule is *client-limited* when the lateness p99 of the requests scheduled in it is above
  LATENESS_P99_S; adjacent seconds make one range;
- `limited`: some second is; `ranges`: [[start_s, end_s], ...] on the run's clock; `requests`: requests scheduled
  in a range or in flight (sent to ended) during one, whose latency figures may hold the client's delay; `figures`: the summary figures
  that then cannot be read as the server's alone; `lateness_p99_s`: the worst second's p99; `note`: one line
  (null when the client kept up).

Lateness also holds the wait for a connection (a server that does not accept them fast enough: the overload
section says when the run fell behind schedule), and with `max_concurrency` the wait for a slot: a capped run is
therefore not judged (`limited` null), and the note of a run that fell behind says its lateness may be the server's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# On a quiet machine dispatch lateness p99 stays under 2 ms at 500 requests/s, and at 5-9 ms with another core's work
# running beside the engine (docs/performance.md). 20 ms is beyond anything the engine does by itself, and already a
# visible share of the TTFTs a small server gives (tens of ms): past it, the client is part of what was measured.
LATENESS_P99_S = 0.020
STEP_S = 1.0
AFFECTED = ("ttft_s", "itl_s", "tpot_s", "e2e_s")


def client_view(a: dict[str, np.ndarray], max_concurrency: int = 0, behind_schedule: bool = False
                ) -> dict[str, Any]:
    """The section (module doc). `a` holds summary.per_request's arrays of the sent requests."""
    out: dict[str, Any] = {"limited": False, "threshold_s": LATENESS_P99_S, "lateness_p99_s": None, "ranges": [],
                           "requests": 0, "figures": [], "note": None}
    sched, late, sent, end = a["scheduled"], a["lateness"], a["sent"], a["end"]
    have = np.isfinite(sched) & np.isfinite(late)
    if not have.any():
        return out
    sec = np.floor(sched[have] / STEP_S).astype(np.int64)
    lv = late[have]
    order = np.argsort(sec, kind="stable")
    sec, lv = sec[order], lv[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sec) != 0])
    p99 = np.array([np.quantile(g, 0.99) for g in np.split(lv, starts[1:])])
    seconds = sec[starts]
    out["lateness_p99_s"] = float(p99.max())
    if max_concurrency > 0:
        out["limited"] = None
        out["note"] = (f"not judged: with max_concurrency = {max_concurrency} lateness holds the waits for a slot, "
                       f"not only the client's own delay")
        return out
    bad = seconds[p99 > LATENESS_P99_S]
    if bad.size == 0:
        return out
    ranges: list[list[float]] = []
    for s in bad.tolist():
        lo, hi = s * STEP_S, (s + 1) * STEP_S
        if ranges and abs(ranges[-1][1] - lo) < 1e-9:
            ranges[-1][1] = hi
        else:
            ranges.append([lo, hi])
    e = np.where(np.isfinite(end), end, sent)
    hit = np.zeros(sent.size, dtype=bool)
    for lo, hi in ranges:
        hit |= (np.isfinite(sent) & (sent < hi) & (e >= lo)) | ((sched >= lo) & (sched < hi))
    where = ", ".join(f"{lo:g}-{hi:g} s" for lo, hi in ranges[:4]) + (
        f" and {len(ranges) - 4} more" if len(ranges) > 4 else "")
    note = (f"client-limited: dispatch lateness p99 over {LATENESS_P99_S * 1e3:.0f} ms (worst "
            f"{out['lateness_p99_s'] * 1e3:.0f} ms) at {where}; TTFT, ITL and E2E of the {int(hit.sum())} requests "
            f"due or in flight then may hold the client's own delay")
    if behind_schedule:
        note += " (the run also fell behind schedule: part of that lateness may be waits for the server)"
    out.update(limited=True, ranges=ranges, requests=int(hit.sum()), figures=list(AFFECTED), note=note)
    return out
