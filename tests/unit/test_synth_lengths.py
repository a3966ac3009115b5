"""Length distributions: bounds, shapes, and the empirical pairing."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from burststudio.workload.synth import synthesize
from burststudio.workload.synth.lengths import sample_lengths

ARRIVALS = {"process": "poisson", "rate": 10.0}


def draw(p: dict, n: int = 20000, seed: int = 4) -> np.ndarray:
    return sample_lengths(p, np.random.default_rng(seed), n, role="prompt")


def test_zipf_theta_is_recovered():
    theta, lo, hi = 1.3, 10, 5000
    x = draw({"dist": "zipf", "theta": theta, "min": lo, "max": hi})
    assert x.min() >= lo and x.max() <= hi
    k = np.arange(lo, hi + 1)
    mean_log = np.log(x).mean()

    def nll(t):  # negative log-likelihood per sample of the bounded Zipf
        return t * mean_log + math.log(np.sum(k ** -t))

    fit = minimize_scalar(nll, bounds=(0.05, 5), method="bounded").x
    assert fit == pytest.approx(theta, abs=0.05)


@pytest.mark.parametrize("p, near", [
    ({"dist": "zipf", "theta": 0.8, "min": 50, "max": 60}, None),
    ({"dist": "lognormal", "median": 1000, "sigma": 2.0, "min": 50, "max": 60}, None),
    ({"dist": "lognormal", "median": 2, "sigma": 0.1, "min": 50, "max": 60}, 50),  # all mass far below
    ({"dist": "lognormal", "mean": 1e6, "sigma": 0.1, "min": 50, "max": 60}, 60),  # and far above
    ({"dist": "uniform", "min": 50, "max": 60}, None),
    ({"dist": "bimodal", "weight": 0.5, "median1": 10, "sigma1": 0.5, "median2": 500, "sigma2": 0.5,
      "min": 50, "max": 60}, None),
])
def test_bounds_are_respected(p, near):
    x = draw(p, n=5000)
    assert x.dtype == np.int64
    assert x.min() >= 50 and x.max() <= 60
    if near is None:
        assert len(np.unique(x)) > 5
    else:  # a distribution far outside the bounds lands on the nearer bound, not on garbage
        assert (x == near).mean() > 0.95


def test_lognormal_median_and_mean():
    x = draw({"dist": "lognormal", "median": 200, "sigma": 0.7, "min": 1, "max": 1_000_000}, n=40000)
    assert np.median(x) == pytest.approx(200, rel=0.03)
    y = draw({"dist": "lognormal", "mean": 200, "sigma": 0.7, "min": 1, "max": 1_000_000}, n=40000)
    assert y.mean() == pytest.approx(200, rel=0.03)


def test_truncation_does_not_pile_up_at_the_bound():
    x = draw({"dist": "lognormal", "median": 100, "sigma": 1.0, "min": 1, "max": 150}, n=40000)
    # Clipping would put every value above 150 (about a third) on 150 itself.
    assert (x == 150).mean() < 0.01


def test_fixed():
    assert np.all(draw({"dist": "fixed", "value": 77}, n=100) == 77)


def test_bimodal_has_two_modes():
    p = {"dist": "bimodal", "weight": 0.4, "median1": 30, "sigma1": 0.4, "median2": 400, "sigma2": 0.4,
         "min": 1, "max": 32768}
    x = draw(p, n=30000)
    hist, edges = np.histogram(np.log(x), bins=40)
    peaks = [i for i in range(1, len(hist) - 1) if hist[i] >= hist[i - 1] and hist[i] >= hist[i + 1]
             and hist[i] > 0.3 * hist.max()]
    centres = np.exp((edges[:-1] + edges[1:]) / 2)
    assert len(peaks) == 2
    assert centres[peaks[0]] == pytest.approx(30, rel=0.3)
    assert centres[peaks[1]] == pytest.approx(400, rel=0.3)
    dip = hist[peaks[0]:peaks[1]].min()
    assert dip < 0.2 * min(hist[peaks[0]], hist[peaks[1]])
    assert (x < math.sqrt(30 * 400)).mean() == pytest.approx(0.4, abs=0.02)


def _pairs(w) -> set:
    return set(zip(w.prompt_tokens.tolist(), w.output_tokens.tolist()))


def test_empirical_pair_keeps_the_trace_rows(traces_dir):
    from burststudio.workload.formats import load

    trace = load(traces_dir / "azure_llm_2023_code.csv")
    rows = _pairs(trace)
    paired = synthesize({"arrivals": ARRIVALS, "requests": 3000,
                         "prompt": {"dist": "empirical", "trace": "azure_llm_2023_code.csv", "pair": True}},
                        seed=1, base_dir=traces_dir)
    assert _pairs(paired) <= rows
    # Without pairing, prompts and outputs are drawn apart: most drawn pairs are no row of the trace.
    apart = synthesize({"arrivals": ARRIVALS, "requests": 3000,
                        "prompt": {"dist": "empirical", "trace": "azure_llm_2023_code.csv"},
                        "output": {"dist": "empirical", "trace": "azure_llm_2023_code.csv"}},
                       seed=1, base_dir=traces_dir)
    drawn = list(zip(apart.prompt_tokens.tolist(), apart.output_tokens.tolist()))
    assert sum(p not in rows for p in drawn) > 0.5 * len(drawn)
    # Both keep the trace's marginals.
    assert np.median(apart.prompt_tokens) == pytest.approx(np.median(trace.prompt_tokens), rel=0.1)
    assert np.median(paired.output_tokens) == pytest.approx(np.median(trace.output_tokens), rel=0.1)


def test_empirical_skips_failed_rows(traces_dir):
    from burststudio.workload.formats import load

    trace = load(traces_dir / "burstgpt_1_head42.csv")
    assert trace.failed.any()
    failed_prompts = set(trace.prompt_tokens[trace.failed].tolist()) - set(trace.prompt_tokens[~trace.failed].tolist())
    w = synthesize({"arrivals": ARRIVALS, "requests": 2000,
                    "prompt": {"dist": "empirical", "trace": "burstgpt_1_head42.csv", "pair": True}},
                   seed=2, base_dir=traces_dir)
    assert w.output_tokens.min() >= 1
    assert not (set(w.prompt_tokens.tolist()) & failed_prompts)
