import json

import numpy as np
import pytest

from burststudio.workload import stats
from burststudio.workload.model import Workload


def _poisson(rate: float, duration: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = rng.poisson(rate * duration)
    a = np.sort(rng.uniform(0, duration, n))
    return a - a[0]


def _workload(arrivals, seed=0, **optional) -> Workload:
    rng = np.random.default_rng(seed)
    n = len(arrivals)
    return Workload.from_columns(arrivals, rng.integers(10, 1000, n), rng.integers(1, 500, n), **optional)


def test_poisson_idc_is_about_one_and_cv_about_one():
    duration = 30_000.0
    w = _workload(_poisson(20.0, duration, 1))
    s = stats.summarize(w)
    assert s["rate_rps"] == pytest.approx(20.0, rel=0.03)
    assert s["interarrival_cv"] == pytest.approx(1.0, abs=0.03)
    for key, window in stats.IDC_WINDOWS:
        # Four standard errors of a sample variance over the number of windows.
        tolerance = 4 * np.sqrt(2 / (duration / window - 1))
        assert s["idc"][key] == pytest.approx(1.0, abs=tolerance), key


def test_gamma_renewal_has_known_cv_and_idc_near_cv_squared():
    rng = np.random.default_rng(2)
    shape = 0.25  # CV = 1 / sqrt(shape) = 2
    gaps = rng.gamma(shape, 1.0 / (shape * 5.0), 200_000)
    a = np.concatenate([[0.0], np.cumsum(gaps)])
    s = stats.summarize(_workload(a))
    assert s["interarrival_cv"] == pytest.approx(2.0, rel=0.05)
    assert s["rate_rps"] == pytest.approx(5.0, rel=0.05)
    # For a renewal process the IDC tends to CV^2 over long windows.
    assert s["idc"]["60s"] == pytest.approx(4.0, rel=0.2)
    assert s["idc"]["1s"] < s["idc"]["60s"]


def test_counts_per_window_drops_the_partial_tail_only_when_asked():
    a = np.array([0.0, 0.5, 1.2, 2.9, 3.1])
    assert list(stats.counts_per_window(a, 1.0)) == [2, 1, 1, 1]
    assert list(stats.counts_per_window(a, 1.0, complete_only=True)) == [2, 1, 1]
    assert list(stats.counts_per_window(a, 10.0, complete_only=True)) == []
    assert stats.index_of_dispersion(a, 10.0) is None
    with pytest.raises(ValueError):
        stats.counts_per_window(a, 0.0)


def test_dispersion_and_peak_of_hand_counts():
    # Counts 4, 0, 2 per second, then a last arrival opening a 4th second.
    a = np.array([0.1, 0.2, 0.3, 0.4, 2.1, 2.2, 3.0])
    assert stats.dispersion_of_counts(stats.counts_per_window(a, 1.0, complete_only=True)) == pytest.approx(
        np.var([4, 0, 2], ddof=1) / 2.0)
    assert stats.peak_to_mean(a, 1.0) == pytest.approx(4 / 2.0)


def test_token_quantiles_exclude_failed_rows_and_failed_share_counts_them():
    a = np.arange(10, dtype=float)
    prompt = np.array([100] * 8 + [0, 0])
    output = np.array([50] * 8 + [0, 0])
    failed = np.array([False] * 8 + [True, True])
    s = stats.summarize(Workload.from_columns(a, prompt, output, failed=failed))
    assert s["prompt_tokens"] == {"mean": 100.0, "p50": 100.0, "p90": 100.0, "p99": 100.0, "max": 100.0}
    assert s["output_tokens"]["p50"] == 50.0
    assert s["failed_share"] == pytest.approx(0.2)


def test_breakdowns_only_where_columns_exist_and_add_up():
    a = np.arange(100, dtype=float)
    model = np.array(["m1"] * 70 + ["m2"] * 30, dtype=object)
    model[5] = None
    w = Workload.from_columns(a, np.full(100, 10), np.full(100, 3), model=model)
    s = stats.summarize(w)
    assert "by_source" not in s
    by = s["by_model"]
    assert set(by) == {"m1", "m2", stats.NONE_LABEL}
    assert sum(v["requests"] for v in by.values()) == 100
    assert by["m1"]["requests"] == 69
    assert by["m2"]["share"] == pytest.approx(0.3)
    assert by["m2"]["rate_rps"] == pytest.approx(30 / 99)
    assert by["m1"]["prompt_tokens_mean"] == 10.0


@pytest.mark.parametrize("arrivals", [[], [3.0], [0.0, 0.0, 0.0]])
def test_degenerate_workloads_give_valid_json(arrivals):
    w = Workload.from_columns(arrivals, [5] * len(arrivals), [7] * len(arrivals), source=["s"] * len(arrivals))
    s = stats.summarize(w)
    text = json.dumps(s, allow_nan=False)  # raises on NaN
    assert json.loads(text)["requests"] == len(arrivals)
    assert s["rate_rps"] is None and s["idc"]["1s"] is None
    assert set(s) == {"requests", "duration_s", "rate_rps", "interarrival_cv", "idc", "peak_to_mean_1s",
                      "prompt_tokens", "output_tokens", "failed_share", "by_source"}


def test_json_safe_turns_nan_into_null():
    assert stats.json_safe({"a": np.float64("nan"), "b": [np.int64(3), np.float32(1.5)], "c": np.bool_(True)}) == {
        "a": None, "b": [3, 1.5], "c": True}
