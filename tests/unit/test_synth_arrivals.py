"""Arrival processes keep the statistics they promise."""

import math

import numpy as np
import pytest

from burststudio.workload.model import Workload, WorkloadMeta
from burststudio.workload.synth import synthesize
from burststudio.workload.synth.arrivals import FlashClock, SinusoidClock, fit_windows, hourly_profile

LENGTHS = {"prompt": {"dist": "fixed", "value": 10}, "output": {"dist": "fixed", "value": 5}}


def arrivals(arr: dict, seed: int = 11, **size) -> np.ndarray:
    return synthesize({"arrivals": arr, **LENGTHS, **size}, seed=seed).arrival_s


def cv(a: np.ndarray) -> float:
    g = np.diff(a)
    return float(g.std() / g.mean())


def counts(a: np.ndarray, width: float, end: float | None = None) -> np.ndarray:
    end = a[-1] if end is None else end
    bins = int(end // width)
    return np.bincount((a // width).astype(np.int64), minlength=bins)[:bins]


def idc(a: np.ndarray, width: float, end: float | None = None) -> float:
    c = counts(a, width, end)
    return float(c.var() / c.mean())


def test_poisson_has_cv_and_idc_one():
    a = arrivals({"process": "poisson", "rate": 50.0}, requests=20000)
    assert a[0] == 0 and np.all(np.diff(a) >= 0)
    assert len(a) / a[-1] == pytest.approx(50, rel=0.05)
    assert cv(a) == pytest.approx(1.0, abs=0.05)
    assert idc(a, 1.0) == pytest.approx(1.0, abs=0.25)


def test_gamma_burstgpt_default_shape_half_scale_two():
    a = arrivals({"process": "gamma"}, requests=40000)  # shape 0.5, scale 2 when nothing is given
    assert len(a) / a[-1] == pytest.approx(1.0, rel=0.05)
    assert cv(a) == pytest.approx(math.sqrt(2), abs=0.07)


def test_gamma_given_rate_and_cv():
    a = arrivals({"process": "gamma", "rate": 20.0, "cv": 2.5}, requests=40000)
    assert len(a) / a[-1] == pytest.approx(20, rel=0.08)
    assert cv(a) == pytest.approx(2.5, rel=0.08)
    assert idc(a, 10.0) > 3  # a renewal process with CV c has IDC about c^2 at long time scales


def test_weibull_rate_and_burstiness():
    a = arrivals({"process": "weibull", "rate": 10.0, "shape": 0.6}, requests=30000)
    assert len(a) / a[-1] == pytest.approx(10, rel=0.05)
    expected_cv = math.sqrt(math.gamma(1 + 2 / 0.6) / math.gamma(1 + 1 / 0.6) ** 2 - 1)
    assert cv(a) == pytest.approx(expected_cv, rel=0.1)


def test_duration_bounds_the_run():
    a = arrivals({"process": "poisson", "rate": 10.0}, duration_s=300)
    assert a.max() < 300 and len(a) == pytest.approx(3000, rel=0.1)


def test_onoff_is_overdispersed_at_ten_seconds():
    p = {"process": "onoff", "rate_on": 20.0, "rate_off": 1.0, "mean_on_s": 15.0, "mean_off_s": 45.0}
    a = arrivals(p, duration_s=3000)
    mean_rate = (20 * 15 + 1 * 45) / 60
    assert len(a) / 3000 == pytest.approx(mean_rate, rel=0.25)
    assert idc(a, 10.0, 3000) > 10
    b = arrivals(p, requests=5000)
    assert len(b) == 5000 and np.all(np.diff(b) >= 0)


def test_flash_crowd_peak_to_mean_and_timing():
    p = {"process": "flash", "rate": 4.0, "start_s": 120.0, "rise_s": 5.0, "peak_factor": 12.0, "decay_s": 30.0}
    a = arrivals(p, duration_s=600)
    c = counts(a, 1.0, 600)
    assert c.max() / c.mean() >= 3
    # The spike is where it was asked for: the busiest 10 s lie in the ramp or the first decay.
    c10 = counts(a, 10.0, 600)
    assert 120 <= 10 * int(np.argmax(c10)) <= 160
    # Before the spike, the baseline rate.
    assert (a < 120).sum() / 120 == pytest.approx(4.0, rel=0.25)
    # The count matches the integral of the rate.
    expected = 4.0 * (600 + 11 * (5 / 2 + 30 * (1 - math.exp(-(600 - 125) / 30))))
    assert len(a) == pytest.approx(expected, rel=0.1)


def test_flash_clock_inverse_is_exact():
    clock = FlashClock(50.0, 0.0, 20.0, 7.0)  # an instant jump is the hardest case for the inversion
    t = np.linspace(0, 400, 5001)
    assert np.allclose(clock.inverse(clock.cum(t)), t, atol=1e-6)
    s = SinusoidClock(60.0, 1.0, 10.0)  # amplitude 1: the rate touches zero, where L is flat to third order
    u = s.cum(t)
    assert np.allclose(s.cum(s.inverse(u)), u, rtol=0, atol=1e-9)
    assert np.allclose(s.inverse(u), t, atol=2e-3)


def test_diurnal_modulation_shows_the_period():
    period = 100.0
    p = {"process": "poisson", "rate": 20.0,
         "modulation": {"kind": "sinusoid", "period_s": period, "amplitude": 0.8, "peak_s": 35.0}}
    a = arrivals(p, duration_s=4000)
    c = counts(a, 1.0, 4000).astype(float)
    spectrum = np.abs(np.fft.rfft(c - c.mean()))
    freqs = np.fft.rfftfreq(len(c), d=1.0)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1 / period, rel=0.02)
    # The busiest part of the cycle is around peak_s and the quietest half a period away.
    phase = np.bincount(((a % period) // 10).astype(int), minlength=10)
    assert np.argmax(phase) == 3 and np.argmin(phase) == 8
    assert phase.max() / phase.min() > 5  # (1 + 0.8) / (1 - 0.8) = 9 at the extremes
    assert len(a) / 4000 == pytest.approx(20, rel=0.05)  # the mean rate is kept


def test_modulation_keeps_a_gamma_process_bursty():
    base = {"process": "gamma", "rate": 20.0, "cv": 2.0}
    slow = {**base, "modulation": {"kind": "sinusoid", "period_s": 2000.0, "amplitude": 0.5}}
    a = arrivals(slow, requests=20000)
    # Within a stretch much shorter than the period the local CV is still the process's own.
    g = np.diff(a[(a > 400) & (a < 600)])
    assert g.std() / g.mean() == pytest.approx(2.0, rel=0.2)


def test_profile_modulation_follows_the_values():
    values = [1.0, 0.0, 3.0, 2.0]
    p = {"process": "poisson", "rate": 30.0, "modulation": {"kind": "profile", "values": values, "period_s": 40.0}}
    a = arrivals(p, duration_s=2000)
    per_bin = np.bincount(((a % 40.0) // 10).astype(int), minlength=4) / (2000 / 40 * 10)
    assert per_bin[1] == 0
    assert per_bin / 30 == pytest.approx(np.array(values) / np.mean(values), abs=0.08)


def test_hourly_profile_of_a_trace(tmp_path):
    rng = np.random.default_rng(5)
    # Two days of traffic: busy from 12:00 to 18:00, quiet otherwise, starting at 06:00.
    t = np.sort(rng.uniform(0, 2 * 86400, 40000))
    tod = (t + 6 * 3600) % 86400
    keep = (tod >= 12 * 3600) & (tod < 18 * 3600) | (rng.random(len(t)) < 0.2)
    t = t[keep] - t[keep][0]
    prof = hourly_profile(t, 6 * 3600.0 + 0, 24)
    assert prof[12:18].min() > 3 * prof[:12].max()
    assert prof[18:].max() < prof[12:18].min() / 3

    trace = tmp_path / "day.parquet"
    meta = WorkloadMeta(name="day", start_time_of_day_s=6 * 3600.0)
    Workload.from_columns(t, np.full(len(t), 10), np.full(len(t), 5), meta).to_parquet(trace)
    mod = {"kind": "profile", "trace": "day.parquet", "period_s": 240.0}
    w = synthesize({"arrivals": {"process": "poisson", "rate": 20.0, "modulation": mod}, **LENGTHS,
                    "duration_s": 2400}, seed=1, base_dir=tmp_path)
    per_bin = np.bincount(((w.arrival_s % 240.0) // 10).astype(int), minlength=24)
    assert per_bin[12:18].min() > 2.5 * per_bin[:12].max()


def test_windowed_gamma_follows_its_table_and_repeats():
    windows = [{"duration_s": 100.0, "rate": 5.0, "cv": 1.0}, {"duration_s": 100.0, "rate": 40.0, "cv": 3.0}]
    a = arrivals({"process": "windowed_gamma", "windows": windows}, duration_s=4000)
    phase = (a % 200.0) < 100.0
    assert phase.sum() / 2000 == pytest.approx(5.0, rel=0.1)
    assert (~phase).sum() / 2000 == pytest.approx(40.0, rel=0.15)
    busy = a[~phase & (a < 200)]
    assert cv(busy) == pytest.approx(3.0, rel=0.3)


def test_windowed_gamma_fitted_from_a_trace(tmp_path):
    windows = [{"duration_s": 600.0, "rate": 2.0, "cv": 1.0}, {"duration_s": 600.0, "rate": 10.0, "cv": 2.0}] * 3
    src = synthesize({"arrivals": {"process": "windowed_gamma", "windows": windows}, **LENGTHS,
                      "duration_s": 3600}, seed=2)
    src.to_parquet(tmp_path / "src.parquet")
    fitted = fit_windows(src.arrival_s, 600.0)
    assert [w["rate"] for w in fitted] == pytest.approx([2, 10] * 3, rel=0.2)
    assert [w["cv"] for w in fitted] == pytest.approx([1, 2] * 3, rel=0.3)
    w = synthesize({"arrivals": {"process": "windowed_gamma", "trace": "src.parquet", "window_s": 600},
                    **LENGTHS, "duration_s": 3600}, seed=3, base_dir=tmp_path)
    assert w.meta.extra["fitted_windows"] == fitted
    a = w.arrival_s
    assert len(a) == pytest.approx(len(src), rel=0.15)
    quiet, busy = (a < 600).sum(), ((a >= 600) & (a < 1200)).sum()
    assert busy > 3 * quiet


def test_trace_arrivals_are_rate_scaled_and_keep_their_shape(traces_dir):
    from burststudio.workload.formats import load

    trace = load(traces_dir / "azure_llm_2023_code.csv")
    own = trace.arrival_s - trace.arrival_s[0]
    own_rate = (len(own) - 1) / own[-1]
    w = synthesize({"arrivals": {"process": "trace", "trace": "azure_llm_2023_code.csv", "rate": 4 * own_rate},
                    **LENGTHS, "requests": len(own)}, seed=1, base_dir=traces_dir)
    assert w.arrival_s == pytest.approx(own / 4, abs=1e-9)
    assert w.meta.extra["trace_rate_factor"] == pytest.approx(4)
    # Longer than the trace: copies follow each other and the rate holds.
    longer = synthesize({"arrivals": {"process": "trace", "trace": "azure_llm_2023_code.csv", "rate_scale": 2.0},
                         **LENGTHS, "duration_s": 3 * own[-1]}, seed=1, base_dir=traces_dir)
    assert len(longer) == pytest.approx(6 * len(own), rel=0.02)
    assert np.all(np.diff(longer.arrival_s) >= 0)
