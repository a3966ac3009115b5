"""What the Workload screen draws for a workload, computed off the UI thread in one call.

The figures come from the workload core (`stats.summarize`, its window counts, and `fit` for the inter-arrival curve);
this module only bins them for the charts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Enough bins for a 160-column chart at two points per cell; more would be invisible.
MAX_RATE_POINTS = 320
HIST_BINS = 40
# The fit sees at most this many gaps (evenly spaced through the trace): fitting 100k gaps costs more than the
# rest of the preview, and 5,000 pin a shape parameter to about 1% (0.2510 against 0.2506 from 20,000 for a Gamma
# of shape 0.25), far below what a chart shows.
FIT_SAMPLE = 5_000


@dataclass
class Histogram:
    centers: np.ndarray
    density: np.ndarray
    width: float


@dataclass
class Preview:
    requests: int
    stats: dict[str, Any]
    rate_t: np.ndarray
    rate_rps: np.ndarray
    rate_bin_s: float
    gaps: Histogram
    gap_curve_x: np.ndarray
    gap_curve_y: np.ndarray
    gap_curve_label: str
    prompt: Histogram
    output: Histogram
    timings: dict[str, float] = field(default_factory=dict)
    # Set when the preview shows only the first requests of a larger workload: about how many the whole has.
    estimate: float | None = None


def _histogram(values: np.ndarray, bins: int = HIST_BINS, clip_q: float = 0.99) -> Histogram:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return Histogram(np.zeros(0), np.zeros(0), 1.0)
    hi = float(np.quantile(v, clip_q)) if v.size > 100 else float(v.max())
    lo = float(v.min())
    if not hi > lo:
        hi = lo + 1.0
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    width = float(edges[1] - edges[0])
    density = counts / (v.size * width)
    return Histogram((edges[:-1] + edges[1:]) / 2, density, width)


def _rate_series(arrival_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    from burststudio.workload.stats import counts_per_window

    if arrival_s.size == 0:
        return np.zeros(0), np.zeros(0), 1.0
    duration = float(arrival_s[-1])
    # Whole seconds where they fit; longer traces get wider bins of a round size.
    bin_s = 1.0
    for candidate in (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400):
        bin_s = float(candidate)
        if duration / bin_s <= MAX_RATE_POINTS:
            break
    counts = counts_per_window(arrival_s, bin_s)
    t = np.arange(counts.size, dtype=np.float64) * bin_s
    return t, counts / bin_s, bin_s


def _gap_curve(arrival_s: np.ndarray, hist: Histogram) -> tuple[np.ndarray, np.ndarray, str]:
    """The fitted inter-arrival density (fit.fit_interarrivals' best family), over the histogram's range."""
    if arrival_s.size < 11 or hist.centers.size == 0:
        return np.zeros(0), np.zeros(0), ""
    from burststudio.studio import workload_actions as actions

    dist, label = actions.fit_interarrival(arrival_s, max_gaps=FIT_SAMPLE)
    if dist is None:
        return np.zeros(0), np.zeros(0), ""
    x = np.linspace(max(hist.centers[0] - hist.width / 2, 1e-9), hist.centers[-1] + hist.width / 2, 120)
    return x, dist.pdf(x), label


def compute(workload: Any, *, with_fit: bool = True) -> Preview:
    """Everything the preview draws for `workload` (a burststudio Workload)."""
    from burststudio.workload.stats import interarrival_times, summarize

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    stats = summarize(workload)
    timings["stats"] = time.perf_counter() - t0
    a = workload.arrival_s
    t1 = time.perf_counter()
    rate_t, rate, bin_s = _rate_series(a)
    gaps = interarrival_times(a)
    gap_hist = _histogram(gaps)
    ok = ~workload.failed
    prompt = _histogram(workload.prompt_tokens[ok])
    output = _histogram(workload.output_tokens[ok])
    timings["bins"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    cx, cy, label = _gap_curve(a, gap_hist) if with_fit else (np.zeros(0), np.zeros(0), "")
    timings["fit"] = time.perf_counter() - t2
    return Preview(len(workload), stats, rate_t, rate, bin_s, gap_hist, cx, cy, label, prompt, output, timings)
