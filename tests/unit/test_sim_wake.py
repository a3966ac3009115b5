"""A stack that sat idle answers late (the wake-up cost); the API server's CPU that is not on a request's first
token's path comes after its last; a /metrics scrape holds up its thread: the model, and how calibration measures
them."""

from __future__ import annotations

import dataclasses
import math

import pytest

from burststudio.errors import UserError
from burststudio.settings import SimSettings
from burststudio.targets.sim import calibrate as cal
from burststudio.targets.sim import measure
from burststudio.targets.sim.costmodel import CostProfile
from burststudio.targets.sim.engine import SimEngine, simulate

WAKE = [[0.01, 0.0], [0.1, 3e-3], [1.0, 4e-3]]
P = CostProfile(name="p", base_s=2e-3, prefill_token_s=1e-5, decode_seq_s=2e-4, context_token_s=0.0, wake_s=WAKE)
SETTINGS = SimSettings(num_blocks=64, max_num_seqs=8, max_num_batched_tokens=512)


def test_wake_cost_is_flat_outside_the_measured_idle_times_and_log_linear_between():
    assert P.wake_after(0.0) == 0.0 and P.wake_after(0.005) == 0.0
    assert P.wake_after(5.0) == 4e-3 and P.wake_after(math.inf) == 4e-3
    assert P.wake_after(0.1) == pytest.approx(3e-3)
    # Half way between 0.1 and 1.0 in log(idle) is 0.316 s: half way between the costs.
    assert P.wake_after(math.sqrt(0.1)) == pytest.approx(3.5e-3)
    assert P.wake_after(0.05) < P.wake_after(0.07) < P.wake_after(0.1)
    assert dataclasses.replace(P, wake_s=[]).wake_after(10.0) == 0.0


@pytest.mark.parametrize("bad", [[[0.1, 1e-3], [0.1, 2e-3]], [[0.1, -1e-3]], [[0.1]], [["a", 1]]])
def test_bad_wake_points_are_refused(tmp_path, bad):
    path = tmp_path / "p.json"
    path.write_text(__import__("json").dumps(dict(P.to_dict(), wake_s=bad)))
    with pytest.raises(UserError, match="wake_s"):
        CostProfile.load(path)


def test_the_first_step_after_idle_pays_for_the_idle_time_and_a_busy_engine_does_not():
    eng = SimEngine(SETTINGS, P)
    eng.submit(0, 0.0, 100, 2)
    first = eng.step()  # a stack idle since before the first request: the longest idle cost
    assert first.end_s - first.start_s == pytest.approx(P.step_time(100, 0, 0, 100 * 101 // 2, 1) + 4e-3)
    second = eng.step()
    assert second.finished and second.end_s - second.start_s == pytest.approx(P.step_time(0, 1, 101))
    eng.now = second.end_s + 0.3
    eng.submit(1, eng.now, 100, 3)
    third = eng.step()  # idle for 0.3 s since the first request ended
    assert third.end_s - third.start_s == pytest.approx(P.step_time(100, 0, 0, 100 * 101 // 2, 1)
                                                        + P.wake_after(0.3))
    assert 3e-3 < P.wake_after(0.3) < 4e-3
    eng.submit(2, eng.now, 100, 3)
    fourth = eng.step()  # the engine was busy with request 1: no wake-up for request 2
    assert fourth.end_s - fourth.start_s == pytest.approx(P.step_time(100, 1, 101, 100 * 101 // 2, 1))


def test_jumps_match_single_steps_with_a_wake_up_cost():
    arrivals = [0.0, 0.02, 0.9, 0.95, 2.5, 2.51, 2.52, 4.0]
    kw = dict(settings=SETTINGS, profile=dataclasses.replace(P, api_request_s=1e-3, api_token_s=1e-4,
                                                              api_after_s=4e-4))
    fast = simulate(arrivals, [150] * 8, [60] * 8, fast=True, **kw)
    slow = simulate(arrivals, [150] * 8, [60] * 8, fast=False, **kw)
    assert fast.counters.jumps > 0
    for f, s in zip(fast.requests, slow.requests):
        assert f.first_s == pytest.approx(s.first_s, abs=1e-9) and f.end_s == pytest.approx(s.end_s, abs=1e-9)


def test_fit_wake_takes_medians_over_the_shortest_idle_time():
    points = [(0.01, 7e-3), (0.01, 7.2e-3), (0.01, 6.8e-3), (0.3, 10e-3), (0.3, 11e-3), (0.3, 30e-3),
              (0.03, 6.5e-3)]
    got = cal.fit_wake(points)
    assert [g for g, _ in got] == [0.01, 0.03, 0.3]
    assert got[0][1] == 0.0 and got[1][1] == 0.0  # faster than the baseline: no negative cost
    assert got[2][1] == pytest.approx(4e-3)  # the median (11 ms) shrugs off the 30 ms outlier
    assert cal.fit_wake([(0.01, 7e-3), (0.01, 8e-3)]) == []


def test_the_plan_measures_waking_up_after_each_idle_time():
    limits = measure.ServerLimits(max_model_len=512, max_batch=8, max_batched_tokens=512, block_size=128, kv_blocks=16)
    plan = measure.measurement_plan(limits)
    assert len(plan.wake_gaps) >= 3 and plan.wake_reps >= 2 and 16 <= plan.wake_prompt <= 510
    assert min(plan.wake_gaps) <= 0.02 and max(plan.wake_gaps) >= 1.0
    without = dataclasses.replace(plan, wake_gaps=[])
    assert plan.requests - without.requests == len(plan.wake_gaps) * plan.wake_reps


def test_api_cpu_beyond_the_first_tokens_path_comes_after_the_last_token():
    base = dataclasses.replace(P, wake_s=[], api_request_s=4e-3, api_token_s=1e-4)
    after = dataclasses.replace(base, api_after_s=3e-3)
    # A lone request: its first token waits only for the part of the request's CPU on its path.
    lone_base = simulate([0.0], [100], [10], SETTINGS, base).requests[0]
    lone_after = simulate([0.0], [100], [10], SETTINGS, after).requests[0]
    assert lone_base.first_s - lone_after.first_s == pytest.approx(3e-3)
    # A request arriving just as another's last token goes out waits for the thread to finish with it.
    first = simulate([0.0], [100], [10], SETTINGS, after).requests[0]
    pair = simulate([0.0, first.end_s], [100, 100], [10, 10], SETTINGS, after).requests
    assert pair[1].first_s - pair[1].arrival_s == pytest.approx(lone_after.first_s + 3e-3, rel=1e-6)
    with pytest.raises(ValueError, match="api_after_s"):
        dataclasses.replace(base, api_after_s=5e-3)


def test_a_measured_lone_overhead_sets_the_fixed_delay_and_splits_the_api_cpu():
    obs = [cal.prefill_observation(L, 0.010 + 1e-5 * L) for L in (16, 100, 300, 500)]
    obs += [cal.Observation("prefill_step", 0.007 + 1e-5 * L, prefill_tokens=L) for L in (16, 100, 300, 500)]
    obs += [cal.Observation("decode", 2e-3 + 3e-4 * b, decode_seqs=b, context_tokens=100 * b) for b in (1, 2, 4, 8)]
    segs = [cal.CpuSegment(0.06, 0, 0, 20), cal.CpuSegment(35 * 4e-3 + 80 * 3e-3, 35, 35, 80),
            cal.CpuSegment(48 * 4e-3 + 3072 * 1e-4 + 30 * 3e-3, 48, 3072, 30), cal.CpuSegment(20 * 4.1e-3, 20, 20, 1)]
    # The lone request's overhead, measured: 2.5 ms, less than the 4.1 ms of CPU a one-token request costs.
    prof, _ = cal.fit_profile(obs, api_segments=segs, overheads=[2.4e-3, 2.5e-3, 2.6e-3, 9e-3, 2.5e-3])
    assert prof.api_request_s == pytest.approx(4e-3, rel=0.05)
    assert prof.request_overhead_s == 0.0
    on_path = prof.api_request_s - prof.api_after_s + prof.api_token_s
    assert on_path == pytest.approx(2.5e-3, rel=1e-6)
    # An overhead larger than the CPU: the rest is a fixed delay, nothing after the last token.
    prof, _ = cal.fit_profile(obs, api_segments=segs, overheads=[6e-3])
    assert prof.api_after_s == 0.0
    assert prof.request_overhead_s == pytest.approx(6e-3 - prof.api_request_s - prof.api_token_s)


def test_a_metrics_scrape_holds_up_the_api_thread():
    prof = dataclasses.replace(P, wake_s=[], api_request_s=1e-3, api_token_s=1e-4)
    scraped = dataclasses.replace(prof, api_scrape_s=4e-3)
    # Scrapes every 0.25 s from 0: a request arriving 1 ms into one waits for the 3 ms left of it.
    kw = dict(settings=SETTINGS, sample_interval_s=0.25)
    plain = simulate([0.251], [100], [10], profile=prof, **kw).requests[0]
    held = simulate([0.251], [100], [10], profile=scraped, **kw).requests[0]
    assert held.first_s - plain.first_s == pytest.approx(3e-3)
    # Between scrapes nothing changes; without samples (no scraper) there are no scrapes.
    assert simulate([0.1], [100], [10], profile=scraped, **kw).requests[0].first_s == pytest.approx(
        simulate([0.1], [100], [10], profile=prof, **kw).requests[0].first_s)
    assert simulate([0.251], [100], [10], profile=scraped, settings=SETTINGS, sample_interval_s=0).requests[0] \
        .first_s == pytest.approx(plain.first_s)


def test_jumps_match_single_steps_with_scrapes():
    arrivals = [0.0, 0.02, 0.3, 0.31, 0.5, 0.74, 0.76, 1.3]
    prof = dataclasses.replace(P, api_request_s=1e-3, api_token_s=1e-4, api_after_s=4e-4, api_scrape_s=3e-3)
    kw = dict(settings=SETTINGS, profile=prof, sample_interval_s=0.25)
    fast = simulate(arrivals, [150] * 8, [90] * 8, fast=True, **kw)
    slow = simulate(arrivals, [150] * 8, [90] * 8, fast=False, **kw)
    assert fast.counters.jumps > 0
    for f, s in zip(fast.requests, slow.requests):
        assert f.first_s == pytest.approx(s.first_s, abs=1e-9) and f.end_s == pytest.approx(s.end_s, abs=1e-9)
