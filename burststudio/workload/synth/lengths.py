"""Token-length distributions: whole numbers >= 1, vectorised, drawn from a numpy Generator."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from burststudio.workload.synth.spec import SpecError
from burststudio.workload.synth.traces import load_trace

COLUMN = {"prompt": "prompt_tokens", "output": "output_tokens"}


def _h_integral(x: np.ndarray | float, q: float) -> np.ndarray:
    """H(x) = integral of t^-theta dt = (x^q - 1) / q with q = 1 - theta; log x when theta is 1."""
    if abs(q) < 1e-12:
        return np.log(x)
    return np.expm1(q * np.log(x)) / q


def _h_integral_inverse(v: np.ndarray, q: float) -> np.ndarray:
    if abs(q) < 1e-12:
        return np.exp(v)
    return np.exp(np.log1p(np.maximum(v * q, -1.0)) / q)


def zipf(rng: np.random.Generator, n: int, theta: float, lo: int, hi: int) -> np.ndarray:
    """Bounded Zipf, P(k) proportional to k^-theta on lo..hi, by rejection-inversion (Hoermann and Derflinger,
    1996): invert the integral of the continuous hat x^-theta and accept k when the draw falls in k's own bar.
    Exact, no table over lo..hi, and nearly every draw is accepted."""
    q = 1.0 - theta
    h_lo = float(lo) ** -theta
    top = float(_h_integral(lo + 0.5, q)) - h_lo  # the first bar holds exactly P(lo)'s mass
    bottom = float(_h_integral(hi + 0.5, q))
    out = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        v = bottom + rng.random(len(todo)) * (top - bottom)
        x = _h_integral_inverse(v, q)
        k = np.clip(np.rint(x), lo, hi)
        ok = v >= _h_integral(k + 0.5, q) - k ** -theta
        out[todo[ok]] = k[ok]
        todo = todo[~ok]
    return out


def truncated_lognormal(rng: np.random.Generator, n: int, mu: float, sigma: float, lo: int, hi: int) -> np.ndarray:
    """Log-normal drawn inside [lo - 0.5, hi + 0.5] by inverting the normal CDF, then rounded: each whole number in
    lo..hi gets the mass of its own interval, with no pile-up at the bounds."""
    from scipy.special import log_ndtr, ndtr, ndtri, ndtri_exp

    z_lo = (math.log(max(lo - 0.5, 1e-300)) - mu) / sigma
    z_hi = (math.log(hi + 0.5) - mu) / sigma
    # Work on the side of the normal where the interval is not deep in the upper tail, and in log-probabilities,
    # so bounds many sigmas away from the median still give values spread by the density, not rounding.
    mirror = z_lo > 0
    a, b = (-z_hi, -z_lo) if mirror else (z_lo, z_hi)
    u = rng.random(n)
    p_lo, p_hi = float(ndtr(a)), float(ndtr(b))
    if p_hi - p_lo > 1e-6:
        z = ndtri(p_lo + u * (p_hi - p_lo))
    else:
        with np.errstate(divide="ignore"):
            z = ndtri_exp(np.logaddexp(np.log1p(-u) + log_ndtr(a), np.log(u) + log_ndtr(b)))
    if mirror:
        z = -z
    z = np.clip(z, z_lo, z_hi)
    return np.clip(np.rint(np.exp(mu + sigma * z)), lo, hi).astype(np.int64)


def _mu(p: dict[str, Any]) -> float:
    if "median" in p:
        return math.log(p["median"])
    return math.log(p["mean"]) - p["sigma"] ** 2 / 2.0


def empirical_pool(p: dict[str, Any], base_dir: Path | None, path: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(prompt_tokens, output_tokens) of the trace's usable rows: failed rows left out when asked, and rows with
    a zero count always (a zero-token prompt or answer cannot be sent)."""
    w = load_trace(p["trace"], p.get("format"), base_dir, (*path, "trace"))
    prompt, output = w.prompt_tokens, w.output_tokens
    keep = (prompt >= 1) & (output >= 1)
    if p.get("skip_failed", True):
        keep &= ~w.failed
    if not keep.any():
        raise SpecError((*path, "trace"), f"{p['trace']}: no usable rows (every row failed or has zero tokens)")
    return prompt[keep], output[keep]


def balanced_rows(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """`n` row indices out of `m`, each row used floor(n/m) or ceil(n/m) times, in random order.

    Independent draws would move a resampled p99 by about 15% from seed to seed at 10k rows (it rides on the ~100
    rows above it); balanced draws keep the sample's distribution as close to the trace's as `n` allows.
    """
    full, rest = divmod(n, m)
    rows = np.concatenate([np.tile(np.arange(m, dtype=np.int64), full), rng.choice(m, rest, replace=False)])
    rng.shuffle(rows)
    return rows


def sample_lengths(p: dict[str, Any], rng: np.random.Generator, n: int, *, role: str,
                   base_dir: Path | None = None) -> np.ndarray:
    """`n` token counts of the resolved `[prompt]` or `[output]` table `p` (role "prompt" or "output")."""
    dist = p["dist"]
    if dist == "fixed":
        return np.full(n, p["value"], dtype=np.int64)
    if dist == "uniform":
        return rng.integers(p["min"], p["max"] + 1, n, dtype=np.int64)
    if dist == "zipf":
        return zipf(rng, n, p["theta"], p["min"], p["max"])
    if dist == "lognormal":
        return truncated_lognormal(rng, n, _mu(p), p["sigma"], p["min"], p["max"])
    if dist == "bimodal":
        first = rng.random(n) < p["weight"]
        k = int(first.sum())
        out = np.empty(n, dtype=np.int64)
        out[first] = truncated_lognormal(rng, k, math.log(p["median1"]), p["sigma1"], p["min"], p["max"])
        out[~first] = truncated_lognormal(rng, n - k, math.log(p["median2"]), p["sigma2"], p["min"], p["max"])
        return out
    if dist == "empirical":
        prompt, output = empirical_pool(p, base_dir, (role,))
        pool = prompt if role == "prompt" else output
        return pool[balanced_rows(rng, len(pool), n)]
    raise AssertionError(dist)


def sample_pairs(p: dict[str, Any], rng: np.random.Generator, n: int, *,
                 base_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`n` (prompt, output) pairs, each pair one row of the trace named in the resolved `[prompt]` table."""
    prompt, output = empirical_pool(p, base_dir, ("prompt",))
    rows = balanced_rows(rng, len(prompt), n)
    return prompt[rows], output[rows]
