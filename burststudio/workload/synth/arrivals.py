"""Arrival processes: sorted arrival times in seconds, vectorised, drawn from a numpy Generator.

Every process is asked for either `n` arrivals or every arrival before `horizon` seconds. Renewal processes
(poisson, gamma, weibull) start with an arrival at 0, like a trace that starts at its first request. Time-varying
ones (onoff, flash) keep absolute time, so `start_s` of a flash crowd means what it says.

Modulation is time-rescaling: the process runs on its own clock u, and real time t maps to u = L(t), the integral of
m(s) ds with m the relative rate (mean 1 over a period). Each arrival u_i is placed at t_i = L^-1(u_i). Unlike
thinning, this keeps every arrival and the process's own burstiness (a Gamma process stays bursty at its local
rate), works for any process, and needs no upper bound on the rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from burststudio.workload.synth.spec import SpecError
from burststudio.workload.synth.traces import load_trace, load_windows

DAY_S = 86400.0
PATH = ("arrivals",)


# Renewal processes ------------------------------------------------------------------------------------------------

def _renewal(draw: Callable[[int], np.ndarray], mean_gap: float, n: int | None, horizon: float | None) -> np.ndarray:
    if n is not None:
        return np.concatenate(([0.0], np.cumsum(draw(n - 1)))) if n > 0 else np.zeros(0)
    expected = horizon / mean_gap
    chunk = int(expected + 8.0 * math.sqrt(expected) + 16)
    parts, last = [np.zeros(1)], 0.0
    while last < horizon:
        t = last + np.cumsum(draw(chunk))
        parts.append(t)
        last = float(t[-1])
        chunk = chunk // 4 + 16
    out = np.concatenate(parts)
    return out[: np.searchsorted(out, horizon, side="left")]


def gamma_shape_scale(p: dict[str, Any]) -> tuple[float, float]:
    if "cv" in p:
        shape = 1.0 / p["cv"] ** 2
        return shape, 1.0 / (p["rate"] * shape)
    return p["shape"], p["scale"]


def _until_n(gen: Callable[[float], np.ndarray], n: int, mean_rate: float, slack_s: float = 0.0) -> np.ndarray:
    """The first n arrivals of a process only drawn by horizon: widen the horizon until it holds n."""
    horizon = n / mean_rate * 1.1 + slack_s + 10.0 / mean_rate
    while True:
        t = gen(horizon)
        if len(t) >= n:
            return t[:n]
        horizon *= 1.6


def _segments(starts: np.ndarray, lengths: np.ndarray, rates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson arrivals inside each segment [start, start + length) at the segment's rate, sorted."""
    counts = rng.poisson(rates * lengths)
    total = int(counts.sum())
    t = np.repeat(starts, counts) + rng.random(total) * np.repeat(lengths, counts)
    t.sort()
    return t


def _onoff(p: dict[str, Any], rng: np.random.Generator, horizon: float) -> np.ndarray:
    mon, moff = p["mean_on_s"], p["mean_off_s"]
    first_on = bool(rng.random() < mon / (mon + moff))  # the stationary share of time spent on
    parts, states = [], []
    covered, done, k = 0.0, 0, int(2 * horizon / (mon + moff)) + 8
    while covered < horizon:
        # States alternate: sojourn i is in the first state when i is even.
        on = np.logical_xor((done + np.arange(k)) % 2 == 1, first_on)
        lengths = rng.exponential(1.0, k) * np.where(on, mon, moff)
        parts.append(lengths)
        states.append(on)
        covered += float(lengths.sum())
        done += k
        k = k // 2 + 8
    lengths = np.concatenate(parts)
    on = np.concatenate(states)
    ends = np.cumsum(lengths)
    t = _segments(ends - lengths, lengths, np.where(on, p["rate_on"], p["rate_off"]), rng)
    return t[: np.searchsorted(t, horizon, side="left")]


# Clocks: time-rescaling for flash crowds and modulation -----------------------------------------------------------

class Clock:
    """A monotone map u = L(t) from real time to process time, with L(0) = 0 and L' = m >= 0."""

    def cum(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rate(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def upper(self, u_max: float) -> float:
        """A real time t with L(t) >= u_max."""
        raise NotImplementedError

    def grid(self, t_hi: float) -> np.ndarray:
        return np.linspace(0.0, t_hi, 4097)

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """t with L(t) = u: interpolation on a grid, then safeguarded Newton steps (bisection when Newton leaves
        the bracket), all vectorised."""
        if len(u) == 0:
            return np.zeros(0)
        t_hi = self.upper(float(u.max()))
        grid = self.grid(t_hi)
        cg = self.cum(grid)
        i = np.clip(np.searchsorted(cg, u, side="right"), 1, len(grid) - 1)
        lo, hi = grid[i - 1], grid[i]
        t = np.interp(u, cg, grid)
        # Newton converges in two or three steps from the grid's guess; stop at a few ulps of the largest time.
        tol = 4 * np.finfo(float).eps * max(1.0, t_hi)
        for _ in range(12):
            f = self.cum(t) - u
            if np.abs(f).max() <= tol:
                break
            lo = np.where(f < 0, t, lo)
            hi = np.where(f > 0, t, hi)
            step = t - f / np.maximum(self.rate(t), 1e-300)
            t = np.where(f == 0, t, np.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi)))
        return t


class FlashClock(Clock):
    """m(t) = 1 + (peak - 1) g(t): g ramps 0 -> 1 over [start, start + rise], then decays as exp(-x / decay)."""

    def __init__(self, start: float, rise: float, peak: float, decay: float):
        self.start, self.rise, self.k, self.decay = start, rise, peak - 1.0, decay

    def _g_int(self, t: np.ndarray) -> np.ndarray:
        x = np.maximum(t - self.start, 0.0)
        if self.rise > 0:
            ramp = np.minimum(x, self.rise) ** 2 / (2.0 * self.rise)
        else:
            ramp = np.zeros_like(x)
        after = np.maximum(x - self.rise, 0.0)
        return ramp + self.decay * -np.expm1(-after / self.decay)

    def g(self, t: np.ndarray) -> np.ndarray:
        x = t - self.start
        ramp = np.clip(x / self.rise, 0.0, 1.0) if self.rise > 0 else (x >= 0).astype(float)
        return np.where(x <= self.rise, ramp, np.exp(-np.maximum(x - self.rise, 0.0) / self.decay))

    def cum(self, t: np.ndarray) -> np.ndarray:
        return t + self.k * self._g_int(t)

    def rate(self, t: np.ndarray) -> np.ndarray:
        return 1.0 + self.k * self.g(t)

    def upper(self, u_max: float) -> float:
        return max(u_max, 1e-9)  # L(t) >= t

    def grid(self, t_hi: float) -> np.ndarray:
        # Coarse over the run, fine over the spike (the ramp and twenty decay times), wherever it falls.
        end = min(t_hi, self.start + self.rise + 20.0 * self.decay)
        fine = np.linspace(self.start, end, 20001) if end > self.start else np.zeros(0)
        return np.union1d(np.linspace(0.0, t_hi, 4097), fine)


class SinusoidClock(Clock):
    """m(t) = 1 + a cos(2 pi (t - peak) / period)."""

    def __init__(self, period: float, amplitude: float, peak: float):
        self.period, self.a, self.peak = period, amplitude, peak
        self.w = 2.0 * math.pi / period

    def cum(self, t: np.ndarray) -> np.ndarray:
        return t + self.a / self.w * (np.sin(self.w * (t - self.peak)) - math.sin(-self.w * self.peak))

    def rate(self, t: np.ndarray) -> np.ndarray:
        return 1.0 + self.a * np.cos(self.w * (t - self.peak))

    def upper(self, u_max: float) -> float:
        return u_max + 2.0 * self.a / self.w + self.period

    def grid(self, t_hi: float) -> np.ndarray:
        return np.linspace(0.0, t_hi, int(min(max(4097, 64 * t_hi / self.period), 2_000_001)))


class ProfileClock(Clock):
    """m(t) piecewise constant over equal bins of one period, repeating; L and its inverse are exact."""

    def __init__(self, values: np.ndarray, period: float):
        v = np.asarray(values, dtype=np.float64)
        self.m = v / v.mean()
        self.period = period
        self.width = period / len(v)
        self.edges_t = np.arange(len(v) + 1) * self.width
        self.edges_u = np.concatenate(([0.0], np.cumsum(self.m * self.width)))  # last = period

    def cum(self, t: np.ndarray) -> np.ndarray:
        k, r = np.divmod(t, self.period)
        return k * self.period + np.interp(r, self.edges_t, self.edges_u)

    def rate(self, t: np.ndarray) -> np.ndarray:
        idx = np.minimum((np.mod(t, self.period) / self.width).astype(np.int64), len(self.m) - 1)
        return self.m[idx]

    def inverse(self, u: np.ndarray) -> np.ndarray:
        k, r = np.divmod(u, self.period)
        # The last edge at or below r starts the bin r falls in; after a run of zero-rate bins (flat steps of L)
        # that is the first bin with a rate, so the quiet bins get no arrivals.
        i = np.clip(np.searchsorted(self.edges_u, r, side="right") - 1, 0, len(self.m) - 1)
        return k * self.period + self.edges_t[i] + (r - self.edges_u[i]) / np.maximum(self.m[i], 1e-300)


# Trace-derived inputs ---------------------------------------------------------------------------------------------

def _trace_arrivals(p: dict[str, Any], base_dir: Path | None, path: tuple) -> tuple[np.ndarray, Any]:
    w = load_trace(p["trace"], p.get("format"), base_dir, (*path, "trace"))
    a = w.arrival_s
    return a - a[0], w.meta


def hourly_profile(arrival_s: np.ndarray, start_time_of_day_s: float | None, bins: int) -> np.ndarray:
    """Arrivals per second in each of `bins` equal bins of the day, divided by the time the trace spent in that bin;
    bins the trace never covers take the mean of the others."""
    width = DAY_S / bins
    t0 = float(start_time_of_day_s or 0.0)
    tod = np.mod(t0 + arrival_s, DAY_S)
    counts = np.bincount(np.minimum((tod / width).astype(np.int64), bins - 1), minlength=bins).astype(float)
    span = float(arrival_s[-1] - arrival_s[0]) if len(arrival_s) else 0.0
    full_days, rest = divmod(span, DAY_S)
    exposure = np.full(bins, full_days * width)
    s = np.mod(t0 + float(arrival_s[0]), DAY_S)
    lo = np.arange(bins) * width
    for shift in (0.0, DAY_S):  # the leftover stretch may wrap past midnight
        exposure += np.clip(np.minimum(s + rest, lo + width + shift) - np.maximum(s, lo + shift), 0.0, None)
    seen = exposure >= 0.05 * width
    if not seen.any():
        return np.ones(bins)
    rates = np.where(seen, counts / np.where(seen, exposure, 1.0), 0.0)
    rates[~seen] = rates[seen].mean()
    if rates.sum() <= 0:
        return np.ones(bins)
    return rates


def fit_windows(arrival_s: np.ndarray, window_s: float) -> list[dict[str, float]]:
    """Rate and gap CV per window by the method of moments, as the windows table states them; the same per-window
    figures `burststudio fit --to-preset` starts from (stats.arrival_windows: CV 1 below 2 gaps)."""
    from burststudio.workload.stats import arrival_windows

    dur, rate, cv = arrival_windows(arrival_s - arrival_s[0], window_s)
    ok = dur > 0
    return [{"duration_s": float(d), "rate": float(r), "cv": float(v)} for d, r, v in zip(dur[ok], rate[ok], cv[ok])]


def _windowed(windows: list[dict[str, float]], rng: np.random.Generator, horizon: float) -> np.ndarray:
    dur = np.array([w["duration_s"] for w in windows])
    rate = np.array([w["rate"] for w in windows])
    cv = np.array([w["cv"] for w in windows])
    total = float(dur.sum())
    reps = max(1, math.ceil(horizon / total))
    dur, rate, cv = np.tile(dur, reps), np.tile(rate, reps), np.tile(cv, reps)
    starts = np.concatenate(([0.0], np.cumsum(dur)[:-1]))
    keep = (rate > 0) & (starts < horizon)
    dur, rate, cv, starts = dur[keep], rate[keep], cv[keep], starts[keep]
    shape = 1.0 / cv ** 2
    scale = 1.0 / (rate * shape)
    expected = rate * dur
    # Enough gaps to cover each window in nearly every case; the rare window left short is drawn again.
    m = np.ceil(expected + 8.0 * np.sqrt(expected) * cv + 8.0 * cv * cv + 16).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(m)))
    gaps = rng.gamma(np.repeat(shape, m), np.repeat(scale, m))
    csum = np.cumsum(gaps)
    within = csum - np.repeat(np.concatenate(([0.0], csum[offsets[1:-1] - 1])), m)
    short = within[offsets[1:] - 1] < dur
    keep = (within < np.repeat(dur, m)) & ~np.repeat(short, m)
    t = (np.repeat(starts, m) + within)[keep]
    redrawn = [starts[w] + _cover(rng, shape[w], scale[w], dur[w], int(m[w])) for w in np.flatnonzero(short)]
    if redrawn:
        t = np.concatenate([t, *redrawn])
    t.sort()  # windows are disjoint and in order: this only merges redrawn windows and guards ties at edges
    return t[: np.searchsorted(t, horizon, side="left")]


def _cover(rng: np.random.Generator, shape: float, scale: float, dur: float, chunk: int) -> np.ndarray:
    """All arrivals of one window (offsets from its start), drawing gaps until they pass `dur`."""
    parts, last = [], 0.0
    while last < dur:
        c = last + np.cumsum(rng.gamma(shape, scale, chunk))
        parts.append(c)
        last = float(c[-1])
    out = np.concatenate(parts)
    return out[out < dur]


# Entry point ------------------------------------------------------------------------------------------------------

def _base(p: dict[str, Any], rng: np.random.Generator, n: int | None, horizon: float | None,
          base_dir: Path | None, extra: dict[str, Any]) -> np.ndarray:
    proc = p["process"]
    if proc == "poisson":
        r = p["rate"]
        return _renewal(lambda k: rng.exponential(1.0 / r, k), 1.0 / r, n, horizon)
    if proc == "gamma":
        shape, scale = gamma_shape_scale(p)
        return _renewal(lambda k: rng.gamma(shape, scale, k), shape * scale, n, horizon)
    if proc == "weibull":
        k_shape = p["shape"]
        scale = 1.0 / (p["rate"] * math.gamma(1.0 + 1.0 / k_shape))
        return _renewal(lambda k: scale * rng.weibull(k_shape, k), 1.0 / p["rate"], n, horizon)
    if proc == "onoff":
        mon, moff = p["mean_on_s"], p["mean_off_s"]
        mean_rate = (p["rate_on"] * mon + p["rate_off"] * moff) / (mon + moff)
        if n is not None:
            return _until_n(lambda h: _onoff(p, rng, h), n, mean_rate, slack_s=10 * (mon + moff))
        return _onoff(p, rng, horizon)
    if proc == "flash":
        clock = FlashClock(p["start_s"], p["rise_s"], p["peak_factor"], p["decay_s"])
        u_h = None if horizon is None else float(clock.cum(np.array([horizon]))[0])
        u = _renewal(lambda k: rng.exponential(1.0 / p["rate"], k), 1.0 / p["rate"], n, u_h)
        u = u + rng.exponential(1.0 / p["rate"])  # a Poisson process has no arrival pinned at 0
        if u_h is not None:
            u = u[u < u_h]
        return clock.inverse(u)
    if proc == "windowed_gamma":
        if "windows" in p:
            windows = p["windows"]
        elif "windows_file" in p:
            windows = load_windows(p["windows_file"], base_dir, (*PATH, "windows_file"))
        else:
            a, _ = _trace_arrivals(p, base_dir, PATH)
            if len(a) < 2 or a[-1] <= 0:
                raise SpecError((*PATH, "trace"), "the trace needs at least two requests at different times to fit")
            windows = fit_windows(a, p["window_s"])
            extra["fitted_windows"] = windows
        total = sum(w["duration_s"] for w in windows)
        mean_rate = sum(w["rate"] * w["duration_s"] for w in windows) / total
        if n is not None:
            return _until_n(lambda h: _windowed(windows, rng, h), n, mean_rate, slack_s=total)
        return _windowed(windows, rng, horizon)
    if proc == "trace":
        a, _ = _trace_arrivals(p, base_dir, PATH)
        if len(a) < 2 or a[-1] <= 0:
            raise SpecError((*PATH, "trace"), "the trace needs at least two requests at different times")
        own_rate = (len(a) - 1) / a[-1]
        factor = p["rate"] / own_rate if "rate" in p else p["rate_scale"]
        a = a / factor
        # Copies follow each other one mean gap apart, so the seam looks like any other gap.
        period = a[-1] + a[-1] / (len(a) - 1)
        copies = math.ceil(n / len(a)) if n is not None else math.ceil(horizon / period) + 1
        t = (a[None, :] + period * np.arange(copies)[:, None]).ravel()
        extra["trace_rate_factor"] = factor
        return t[:n] if n is not None else t[: np.searchsorted(t, horizon, side="left")]
    raise AssertionError(proc)


def modulation_clock(m: dict[str, Any], base_dir: Path | None) -> Clock:
    if m["kind"] == "sinusoid":
        peak = m.get("peak_s")
        return SinusoidClock(m["period_s"], m["amplitude"], m["period_s"] / 2 if peak is None else peak)
    if "values" in m:
        values = np.asarray(m["values"], dtype=np.float64)
    else:
        w = load_trace(m["trace"], m.get("format"), base_dir, (*PATH, "modulation", "trace"))
        values = hourly_profile(w.arrival_s, w.meta.start_time_of_day_s, m["bins"])
    return ProfileClock(values, m["period_s"])


def sample_arrivals(p: dict[str, Any], rng: np.random.Generator, *, n: int | None = None,
                    horizon: float | None = None, base_dir: Path | None = None,
                    extra: dict[str, Any] | None = None) -> np.ndarray:
    """Sorted arrival times (s) of the resolved `[arrivals]` table `p`: exactly `n`, or all before `horizon`.
    `extra` collects what was derived from traces (fitted windows, the rate factor) for the workload's metadata."""
    if (n is None) == (horizon is None):
        raise ValueError("give n or horizon")
    extra = {} if extra is None else extra
    mod = p.get("modulation")
    if mod is None:
        return _base(p, rng, n, horizon, base_dir, extra)
    clock = modulation_clock(mod, base_dir)
    u_h = None if horizon is None else float(clock.cum(np.array([horizon]))[0])
    u = _base(p, rng, n, u_h, base_dir, extra)
    t = clock.inverse(u)
    return t if horizon is None else t[t < horizon]
