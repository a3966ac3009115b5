"""How big a generator spec's workload will be, estimated from the resolved spec before anything is drawn.

`check(r, base_dir)` refuses a spec whose rows or working memory pass the request limit (burststudio.limits), in
one line that names the keys that made the size. The estimate counts what the generators hold at once: the rows
(expected arrivals; with sessions, conversations times their mean turns, since every turn is drawn before the run
is cut), and the arrays a process draws beside them (the sojourns of an on-off process, the gaps each window of a
windowed Gamma process draws ahead, the windows fitted from a trace, the copies of a trace). Expected values, not
bounds: a run may come out a little larger, which the limit's margin absorbs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from burststudio import limits
from burststudio.workload.synth.arrivals import PATH, gamma_shape_scale
from burststudio.workload.synth.sessions import mean_turns
from burststudio.workload.synth.spec import format_path
from burststudio.workload.synth.traces import load_trace, load_windows

# Bytes a synthesised row takes while it is made (arrival, lengths and their temporaries; 46 B measured on 10M
# rows), with sessions (conversation ids, turns, think times, the prefix-block offsets), and an element of a
# process's own arrays (a float64 and its share of a temporary).
ROW_BYTES = 64
SESSION_ROW_BYTES = 160
ELEMENT_BYTES = 16


@dataclass
class Size:
    rows: float
    elements: float  # drawn beside the rows
    keys: list[str]


def _key(*parts: str) -> str:
    return format_path((*PATH, *parts))


def _rate_keys(p: dict[str, Any]) -> list[str]:
    proc = p["process"]
    if proc == "gamma":
        return [_key("rate")] if "cv" in p else [_key("shape"), _key("scale")]
    if proc == "onoff":
        return [_key("rate_on"), _key("rate_off")]
    if proc == "windowed_gamma":
        return [_key("windows") if "windows" in p else _key("trace")]
    if proc == "trace":
        return [_key("rate") if "rate" in p else _key("rate_scale")]
    return [_key("rate")]


def _windows_size(windows: list[dict[str, float]], horizon: float) -> tuple[float, float]:
    """(arrivals, gaps drawn) of a windowed Gamma process over `horizon` seconds (the margin `_windowed` draws)."""
    total = sum(w["duration_s"] for w in windows)
    reps = max(1, math.ceil(horizon / total)) if math.isfinite(horizon) else math.inf
    arrivals = gaps = 0.0
    for w in windows:
        if w["rate"] <= 0:
            continue
        expected = w["rate"] * w["duration_s"]
        cv = w["cv"]
        arrivals += expected
        gaps += expected + 8.0 * math.sqrt(expected) * cv + 8.0 * cv * cv + 16
    return arrivals * reps, gaps * reps


def arrivals_size(p: dict[str, Any], n: float | None, horizon: float | None, base_dir: Path | None) -> Size:
    """Expected arrivals of the resolved `[arrivals]` table `p` (exactly `n`, or over `horizon` seconds) and the
    elements its process draws beside them."""
    proc = p["process"]
    keys = _rate_keys(p)
    extra = 0.0
    if proc in ("poisson", "weibull", "flash"):
        rate = p["rate"]
    elif proc == "gamma":
        shape, scale = gamma_shape_scale(p)
        rate = 1.0 / (shape * scale)
    elif proc == "onoff":
        mon, moff = p["mean_on_s"], p["mean_off_s"]
        rate = (p["rate_on"] * mon + p["rate_off"] * moff) / (mon + moff)
        h = horizon if n is None else n / rate * 1.1 + 10 * (mon + moff) + 10.0 / rate
        extra = 2.0 * h / (mon + moff)
        keys += [_key("mean_on_s"), _key("mean_off_s")]
    elif proc == "windowed_gamma":
        if "windows" in p:
            windows = p["windows"]
        elif "windows_file" in p:
            windows = load_windows(p["windows_file"], base_dir, (*PATH, "windows_file"))
        else:
            a = load_trace(p["trace"], p.get("format"), base_dir, (*PATH, "trace")).arrival_s
            span = float(a[-1] - a[0]) if len(a) else 0.0
            fitted = max(1, math.ceil(span / p["window_s"]))  # one window (a dict, its gaps) every window_s
            keys.append(_key("window_s"))
            rows = n if n is not None else len(a) / max(span, 1e-300) * horizon
            return Size(rows, 2.0 * len(a) + 32.0 * fitted, keys)
        total = sum(w["duration_s"] for w in windows)
        rate = sum(w["rate"] * w["duration_s"] for w in windows) / total
        h = horizon if n is None else n / rate * 1.1 + 2 * total + 10.0 / rate
        arrivals, gaps = _windows_size(windows, h)
        return Size(n if n is not None else arrivals, gaps, keys)
    elif proc == "trace":
        a = load_trace(p["trace"], p.get("format"), base_dir, (*PATH, "trace")).arrival_s
        span = float(a[-1] - a[0]) if len(a) > 1 else 0.0
        if span <= 0:
            return Size(0.0, 0.0, keys)  # the generator says what is wrong with the trace
        own = (len(a) - 1) / span
        rate = p["rate"] if "rate" in p else own * p["rate_scale"]
    else:
        raise AssertionError(proc)
    if n is not None:
        return Size(n, extra, keys)
    arrivals = rate * horizon
    if proc == "flash":
        arrivals += rate * (p["peak_factor"] - 1.0) * (p["rise_s"] / 2.0 + p["decay_s"])
        keys.append(_key("peak_factor"))
    return Size(arrivals, extra, keys)


def estimate(r: dict[str, Any], base_dir: Path | None = None) -> Size:
    """The size of the workload of the resolved spec `r` (see the module docstring)."""
    n, horizon = r.get("requests"), r.get("duration_s")
    lead = [format_path(("requests",))] if n is not None else [format_path(("duration_s",))]
    s = r.get("sessions")
    if s is None:
        size = arrivals_size(r["arrivals"], n, horizon, base_dir)
        return Size(size.rows, size.elements, lead + size.keys)
    turns = mean_turns(s["turns"])
    if n is not None:
        # The conversations drawn for n rows (sessions.sessions_needed), each with all its turns.
        size = arrivals_size(r["arrivals"], math.ceil(n / turns * 1.25) + 16, None, base_dir)
        return Size(max(n, size.rows * turns), size.elements, lead)
    size = arrivals_size(r["arrivals"], None, horizon, base_dir)
    return Size(size.rows * turns, size.elements, lead + size.keys + [format_path(("sessions", "turns"))])


def check(r: dict[str, Any], base_dir: Path | None = None) -> None:
    """Refuse (limits.SizeError) a spec whose workload passes the request limit, naming the keys that size it."""
    size = estimate(r, base_dir)
    row_bytes = SESSION_ROW_BYTES if "sessions" in r else ROW_BYTES
    limits.check(size.rows, size.rows * row_bytes + size.elements * ELEMENT_BYTES,
                 what="the workload", keys=size.keys)
