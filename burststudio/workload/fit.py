"""Fitting a workload: which distribution its inter-arrival times and its lengths follow, over all and per window.

Inter-arrival times (the gaps between consecutive arrivals) are fitted with four families by maximum likelihood,
location fixed at 0: exponential, gamma, Weibull and lognormal. The best is the one with the lowest AIC
(2 * parameters - 2 * log-likelihood), and among families within 2 AIC units of the lowest (equally supported)
the one with the fewest parameters, so Poisson arrivals come out exponential rather than as a gamma of shape 1.00.
The Kolmogorov-Smirnov statistic D (largest distance between the fitted and
the observed distribution functions) says how well it fits in absolute terms (below about 0.05 is close).

Speed: a 1.4M-row trace cut in 20-minute windows has thousands of windows, too many for one optimiser call per
window and family. The fits therefore solve the maximum-likelihood equations that scipy.stats' `fit(data, floc=0)`
solves (closed forms for exponential and lognormal, Newton's method on the shape equation for gamma and Weibull) for
all windows at once with numpy, and evaluate log-likelihoods and distribution functions with scipy.stats; the tests
check the parameters agree with scipy.stats' own `fit`.

Ties: a trace that stamps several requests with the same time (Mooncake's batches, timestamps at whole seconds or
milliseconds) has zero gaps, which no continuous family can carry (the lognormal density is undefined at 0). A zero
gap only says the true gap was shorter than the timestamp resolution r, so it is replaced by r / 2, the middle of
[0, r). r is the coarsest of 1 s, 0.1 s, ... 100 ns that every arrival time is a multiple of, and never more than the
smallest positive gap. The share of ties is reported; when it is large, read the fit with care.

Gaps belong to the window their second arrival falls in. Windows with fewer than MIN_GAPS gaps get no family fits
(their rate and CV are still reported).

Lengths (prompt and output tokens, rows recorded as failed left out, values below 1 counted as 1) are fitted over
all with a bounded Zipf (p(k) proportional to k^-theta on [min, max] of the data), a lognormal (discretised:
P(k) = F(k + 1/2) - F(k - 1/2)) and the empirical distribution itself, chosen by AIC the same way. The empirical one
always has D = 0 but pays one parameter per distinct value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from burststudio.workload.model import Workload
from burststudio.workload.stats import _num, coefficient_of_variation, interarrival_times

ARRIVAL_FAMILIES: tuple[str, ...] = ("exponential", "gamma", "weibull", "lognormal")
LENGTH_FAMILIES: tuple[str, ...] = ("zipf", "lognormal", "empirical")
MIN_GAPS = 10
# Families whose AIC is within this of the lowest are taken as equally supported; the simplest of them is chosen.
AIC_TIE = 2.0
_NEWTON_STEPS = 30


# Results ----------------------------------------------------------------------------------------------------------
@dataclass
class FamilyFit:
    family: str
    params: dict[str, float]
    loglik: float
    aic: float
    ks: float
    n_params: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"params": {k: _num(v) for k, v in self.params.items()}, "loglik": _num(self.loglik),
                "aic": _num(self.aic), "ks": _num(self.ks)}


@dataclass
class Selection:
    """The fits of several families to one sample and the one AIC chose."""

    n: int
    fits: dict[str, FamilyFit] = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        """The family with the lowest AIC; among those within AIC_TIE of it, the one with the fewest parameters."""
        ok = [f for f in self.fits.values() if math.isfinite(f.aic)]
        if not ok:
            return None
        low = min(f.aic for f in ok)
        close = [f for f in ok if f.aic <= low + AIC_TIE]
        return min(close, key=lambda f: (f.n_params, f.aic)).family

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "best": self.best, "fits": {k: f.as_dict() for k, f in self.fits.items()}}


# Ties -------------------------------------------------------------------------------------------------------------
def timestamp_resolution(arrival_s: np.ndarray) -> float:
    """The coarsest power-of-ten step (1 s down to 100 ns) every arrival time is a multiple of."""
    a = np.asarray(arrival_s, dtype=np.float64)
    for exp in range(0, 8):
        r = 10.0 ** -exp
        q = a / r
        if np.all(np.abs(q - np.round(q)) <= 1e-6 * np.maximum(1.0, np.abs(q)) + 1e-6):
            return r
    return 1e-7


def positive_gaps(arrival_s: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Inter-arrival times with ties replaced by half the timestamp resolution (see module doc), and a note."""
    gaps = interarrival_times(arrival_s)
    zero = gaps <= 0
    ties = int(zero.sum())
    info: dict[str, Any] = {"ties": ties, "tie_share": _num(ties / gaps.size) if gaps.size else None,
                            "tie_value_s": None}
    if ties:
        positive = gaps[~zero]
        r = timestamp_resolution(arrival_s)
        if positive.size:
            r = min(r, float(positive.min()))
        gaps = np.where(zero, r / 2.0, gaps)
        info["tie_value_s"] = r / 2.0
    return gaps, info


# Grouped maximum likelihood ----------------------------------------------------------------------------------------
def _sums(gid: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(gid, weights=values, minlength=k)


def _gamma_shape(s: np.ndarray) -> np.ndarray:
    """Solve log(k) - digamma(k) = s (s = log(mean) - mean(log x) > 0) for k, elementwise."""
    from scipy.special import digamma, polygamma

    s = np.maximum(s, 1e-12)
    k = (3.0 - s + np.sqrt((s - 3.0) ** 2 + 24.0 * s)) / (12.0 * s)  # Minka's start, within 1.5%
    for _ in range(_NEWTON_STEPS):
        f = np.log(k) - digamma(k) - s
        fp = 1.0 / k - polygamma(1, k)
        step = f / fp
        k = np.maximum(k - step, k / 10.0)
        if np.all(np.abs(step) <= 1e-10 * k):
            break
    return k


def _weibull_shape(gid: np.ndarray, logx: np.ndarray, k: int, n: np.ndarray, mean_log: np.ndarray,
                   sd_log: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve 1/c + mean(log x) - sum(x^c log x) / sum(x^c) = 0 per group, by Newton's method."""
    # Logs centred per group keep x^c within floating range whatever the time unit.
    z = logx - mean_log[gid]
    c = np.where(sd_log > 0, np.pi / (np.sqrt(6.0) * np.maximum(sd_log, 1e-12)), 1.0)  # moment start
    zmax = np.full(k, -np.inf)
    np.maximum.at(zmax, gid, z)
    zmax = np.where(np.isfinite(zmax), zmax, 0.0)
    z = z - zmax[gid]  # <= 0, so x^c stays <= 1 for any c > 0; the shape equation is unchanged by the shift
    z2 = z * z
    for _ in range(_NEWTON_STEPS):
        e = np.exp(c[gid] * z)
        a = _sums(gid, e, k)
        b = _sums(gid, e * z, k)
        cc = _sums(gid, e * z2, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = 1.0 / c - (b / a + zmax)
            fp = -1.0 / c**2 - (cc * a - b * b) / a**2
            step = np.where(n > 0, f / fp, 0.0)
        step = np.nan_to_num(step)
        c = np.maximum(c - step, c / 10.0)
        if np.all(np.abs(step) <= 1e-9 * c):
            break
    # Scale = (mean of x^c)^(1/c), computed from the shifted logs to stay in range.
    with np.errstate(all="ignore"):
        scale = np.exp(mean_log + zmax) * (_sums(gid, np.exp(c[gid] * z), k) / n) ** (1.0 / c)
    return c, scale


def fit_interarrival_groups(gaps: np.ndarray, gid: np.ndarray, k: int) -> list[Selection]:
    """Fits of the four families to the positive gaps of each of k groups (gid = group of each gap)."""
    from scipy import special

    x = np.asarray(gaps, dtype=np.float64)
    if x.size and not np.all(x > 0):
        raise ValueError("gaps must be positive (replace ties first: positive_gaps)")
    gid = np.asarray(gid, dtype=np.int64)
    n = np.bincount(gid, minlength=k).astype(np.float64)
    fitted = n >= MIN_GAPS
    # Only gaps of groups large enough to fit.
    sel = fitted[gid]
    x, gid = x[sel], gid[sel]
    out = [Selection(int(m)) for m in n]
    if x.size == 0:
        return out
    logx = np.log(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = _sums(gid, x, k) / n
        mean_log = _sums(gid, logx, k) / n
        sd_log = np.sqrt(np.maximum(_sums(gid, logx * logx, k) / n - mean_log**2, 0.0))
    gamma_k = _gamma_shape(np.log(np.where(fitted, mean, 1.0)) - np.where(fitted, mean_log, 0.0))
    weib_c, weib_scale = _weibull_shape(gid, logx, k, np.where(fitted, n, 0), np.where(fitted, mean_log, 0.0),
                                        sd_log)
    # Log-likelihoods at the MLE from each group's sufficient statistics: the same values as summing scipy's logpdf,
    # without four more passes over every gap.
    sum_log = mean_log * n
    with np.errstate(all="ignore"):
        weib_sum = _sums(gid, np.exp(weib_c[gid] * (logx - np.log(weib_scale)[gid])), k)
        loglik = {
            "exponential": -n * np.log(mean) - n,
            "gamma": (gamma_k - 1.0) * sum_log - n * gamma_k - n * gamma_k * np.log(mean / gamma_k)
            - n * special.gammaln(gamma_k),
            "weibull": n * np.log(weib_c) - n * weib_c * np.log(weib_scale) + (weib_c - 1.0) * sum_log - weib_sum,
            "lognormal": -sum_log - n * np.log(sd_log) - 0.5 * n * (np.log(2.0 * np.pi) + 1.0),
        }
    # Each family: its distribution function (x, group ids) -> F(x), its parameters, and how many it has. Written
    # with scipy.special directly: scipy.stats' generic machinery costs more than the fit itself on a million gaps.
    families = {
        "exponential": (lambda v, g: -np.expm1(-v / mean[g]), {"scale": mean}, 1),
        "gamma": (lambda v, g: special.gammainc(gamma_k[g], v * gamma_k[g] / mean[g]),
                  {"shape": gamma_k, "scale": mean / gamma_k}, 2),
        "weibull": (lambda v, g: -np.expm1(-np.exp(weib_c[g] * (np.log(v) - np.log(weib_scale[g])))),
                    {"shape": weib_c, "scale": weib_scale}, 2),
        "lognormal": (lambda v, g: special.ndtr((np.log(v) - mean_log[g]) / sd_log[g]),
                      {"sigma": sd_log, "median": np.exp(mean_log)}, 2),
    }
    # Sorted within each group, for the KS statistic.
    order = np.lexsort((x, gid))
    xs, gs = x[order], gid[order]
    starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
    first_of = np.zeros(k, dtype=np.int64)
    first_of[gs[starts]] = starts
    rank = np.arange(xs.size) - first_of[gs] + 1.0
    ns = n[gs]
    for name, (cdf_of, params, n_params) in families.items():
        with np.errstate(all="ignore"):
            ll = loglik[name]
            cdf = cdf_of(xs, gs)
            dev = np.maximum(rank / ns - cdf, cdf - (rank - 1.0) / ns)
        ks = np.maximum.reduceat(dev, starts)
        ks_by_group = np.full(k, np.nan)
        ks_by_group[gs[starts]] = ks
        for g in np.flatnonzero(fitted):
            out[g].fits[name] = FamilyFit(name, {p: float(v[g]) for p, v in params.items()}, float(ll[g]),
                                          float(2 * n_params - 2 * ll[g]), float(ks_by_group[g]), n_params)
    return out


def fit_interarrivals(gaps: np.ndarray) -> Selection:
    """The four families fitted to one sample of positive gaps."""
    gaps = np.asarray(gaps, dtype=np.float64)
    return fit_interarrival_groups(gaps, np.zeros(gaps.size, dtype=np.int64), 1)[0]


# Lengths ---------------------------------------------------------------------------------------------------------
def fit_lengths(values: np.ndarray) -> Selection:
    """Bounded Zipf, discretised lognormal and empirical fits of token lengths (values < 1 count as 1)."""
    from scipy import optimize
    from scipy import special

    v = np.maximum(np.asarray(values, dtype=np.int64), 1)
    out = Selection(int(v.size))
    if v.size < 2:
        return out
    k, c = np.unique(v, return_counts=True)
    n = float(v.size)
    ecdf = np.cumsum(c) / n
    logk = np.log(k.astype(np.float64))
    lo, hi = int(k[0]), int(k[-1])

    # Empirical: the sample's own frequencies.
    ll_emp = float(np.sum(c * np.log(c / n)))
    out.fits["empirical"] = FamilyFit("empirical", {"distinct": float(k.size)}, ll_emp, 2 * (k.size - 1) - 2 * ll_emp,
                                      0.0, int(k.size - 1))

    # Lognormal, discretised to the integers.
    mu = float(np.sum(c * logk) / n)
    sigma = float(np.sqrt(max(np.sum(c * (logk - mu) ** 2) / n, 1e-12)))
    kf = k.astype(np.float64)

    def ln_cdf(v: np.ndarray) -> np.ndarray:
        return special.ndtr((np.log(v) - mu) / sigma)

    with np.errstate(divide="ignore"):
        mass = ln_cdf(kf + 0.5) - np.where(k <= 1, 0.0, ln_cdf(kf - 0.5))
        ll_ln = float(np.sum(c * np.log(np.maximum(mass, 1e-300))))
    ks_ln = float(np.max(np.abs(ecdf - ln_cdf(kf + 0.5))))
    out.fits["lognormal"] = FamilyFit("lognormal", {"median": math.exp(mu), "sigma": sigma}, ll_ln,
                                      2 * 2 - 2 * ll_ln, ks_ln, 2)

    # Bounded Zipf on [lo, hi]: log-likelihood from the sufficient statistic sum(log k).
    support = np.log(np.arange(lo, hi + 1, dtype=np.float64))
    sum_log = float(np.sum(c * logk))

    def nll(theta: float) -> float:
        t = -theta * support
        m = t.max()
        return theta * sum_log + n * (m + math.log(np.exp(t - m).sum()))

    res = optimize.minimize_scalar(nll, bounds=(1e-6, 20.0), method="bounded", options={"xatol": 1e-7})
    theta = float(res.x)
    t = -theta * support
    pmf = np.exp(t - t.max())
    pmf /= pmf.sum()
    zcdf = np.cumsum(pmf)[k - lo]
    ll_z = -float(res.fun)
    out.fits["zipf"] = FamilyFit("zipf", {"theta": theta, "min": float(lo), "max": float(hi)}, ll_z,
                                 2 * 3 - 2 * ll_z, float(np.max(np.abs(ecdf - zcdf))), 3)
    return out


# The whole workload ----------------------------------------------------------------------------------------------
def window_moments(arrival_s: np.ndarray, window_s: float, gaps: np.ndarray | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(window of each gap, requests per window, rate per window, gap CV per window; NaN below 2 gaps)."""
    a = np.asarray(arrival_s, dtype=np.float64)
    k = max(1, int(math.floor(a[-1] / window_s)) + 1) if a.size else 1
    widx = np.minimum(np.floor(a / window_s).astype(np.int64), k - 1) if a.size else np.zeros(0, np.int64)
    counts = np.bincount(widx, minlength=k)
    g = interarrival_times(a) if gaps is None else gaps
    gid = widx[1:]
    m = np.bincount(gid, minlength=k).astype(np.float64)
    s1 = _sums(gid, g, k)
    s2 = _sums(gid, g * g, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / m
        var = (s2 - m * mean**2) / (m - 1)
        cv = np.where(m >= 2, np.sqrt(np.maximum(var, 0.0)) / mean, np.nan)
    # The last window is usually partial: its rate counts over the time it covers.
    span = np.full(k, float(window_s))
    if a.size:
        span[-1] = max(a[-1] - (k - 1) * window_s, 1e-9)
    return gid, counts, counts / span, cv


def fit_workload(w: Workload, window_s: float = 1200.0) -> dict[str, Any]:
    """Everything `burststudio fit` reports, JSON-ready."""
    a = w.arrival_s if len(w) else np.empty(0)
    gaps, ties = positive_gaps(a)
    result: dict[str, Any] = {
        "requests": len(w),
        "duration_s": _num(w.duration_s),
        "window_s": float(window_s),
        "ties": ties,
        "interarrival": None,
        "windows": [],
        "prompt_tokens": None,
        "output_tokens": None,
    }
    if gaps.size >= MIN_GAPS:
        overall = fit_interarrivals(gaps)
        result["interarrival"] = {**overall.as_dict(), "rate_rps": _num(gaps.size / gaps.sum()),
                                  "cv": coefficient_of_variation(interarrival_times(a))}
    if a.size >= 2:
        gid, counts, rates, cvs = window_moments(a, window_s)
        groups = fit_interarrival_groups(gaps, gid, counts.size)
        for i, sel in enumerate(groups):
            result["windows"].append({"start_s": i * float(window_s), "requests": int(counts[i]),
                                      "rate_rps": _num(rates[i]), "cv": _num(cvs[i]), **sel.as_dict()})
            del result["windows"][-1]["n"]
    ok = ~w.failed if len(w) else np.zeros(0, dtype=bool)
    for col in ("prompt_tokens", "output_tokens"):
        values = w.numpy(col)[ok] if len(w) else np.zeros(0, dtype=np.int64)
        if values.size >= 2:
            result[col] = fit_lengths(values).as_dict()
    return result
