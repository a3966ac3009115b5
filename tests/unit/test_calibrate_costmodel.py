"""What calibration added to the model: a per-prefill-sequence step cost, and reading vLLM's engine-timed
histograms off /metrics."""

from __future__ import annotations

import pytest

from burststudio.settings import SimSettings
from burststudio.targets.sim import calibrate as cal
from burststudio.vllm_metrics import histogram_totals
from burststudio.targets.sim.costmodel import CostProfile
from burststudio.targets.sim.engine import SimEngine, simulate

P = CostProfile(name="p", base_s=1e-3, prefill_token_s=1e-5, prefill_seq_s=4e-3, decode_seq_s=1e-4,
                context_token_s=1e-7)


def test_step_time_charges_each_prefilling_sequence():
    assert P.step_time(200, 0, 0, 0, 2) - P.step_time(200, 0, 0, 0, 1) == pytest.approx(4e-3)
    # Old callers (and profiles without the term) are unchanged.
    assert P.step_time(200, 3, 600) == pytest.approx(1e-3 + 2e-3 + 3e-4 + 6e-5)


def test_engine_counts_prefill_chunks_not_decoders():
    eng = SimEngine(SimSettings(num_blocks=64, max_num_seqs=8, max_num_batched_tokens=512), P)
    for i in range(3):
        eng.submit(i, 0.0, 100, 4)
    first = eng.step()  # three prompts prefilled together: three set-ups in one step
    assert first.end_s - first.start_s == pytest.approx(P.step_time(300, 0, 0, 3 * 100 * 101 // 2, 3))
    second = eng.step()  # then they only decode
    assert second.end_s - second.start_s == pytest.approx(P.step_time(0, 3, 3 * 101))


def test_chunked_prefill_pays_the_set_up_once_per_chunk():
    # A 1,000-token prompt in 512-token steps is two chunks, so two set-ups, then its first token.
    res = simulate([0.0], [1000], [1], SimSettings(num_blocks=64, max_model_len=2048, max_num_batched_tokens=512), P)
    expected = P.step_time(512, 0, 0, 512 * 513 // 2, 1) + P.step_time(488, 0, 0, 488 * 512 + 488 * 489 // 2, 1)
    assert res.requests[0].first_s == pytest.approx(expected)


def test_jumps_match_single_steps_with_the_new_term():
    arrivals = [0.01 * i for i in range(40)]
    kw = dict(settings=SimSettings(num_blocks=16, max_num_seqs=8, max_num_queued_reqs=24), profile=P)
    fast = simulate(arrivals, [250] * 40, [90] * 40, fast=True, **kw)
    slow = simulate(arrivals, [250] * 40, [90] * 40, fast=False, **kw)
    assert fast.counters.jumps > 0
    for a, b in zip(fast.requests, slow.requests):
        assert a.outcome == b.outcome
        if a.outcome == "ok":
            assert a.end_s == pytest.approx(b.end_s, abs=1e-9)


METRICS = """\
# HELP vllm:request_prefill_time_seconds Histogram of time spent in PREFILL phase for request.
# TYPE vllm:request_prefill_time_seconds histogram
vllm:request_prefill_time_seconds_bucket{engine="0",le="0.3",model_name="tiny"} 3.0
vllm:request_prefill_time_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 3.0
vllm:request_prefill_time_seconds_count{engine="0",model_name="tiny"} 3.0
vllm:request_prefill_time_seconds_sum{engine="0",model_name="tiny"} 0.018
vllm:request_prefill_time_seconds_count{engine="1",model_name="tiny"} 1.0
vllm:request_prefill_time_seconds_sum{engine="1",model_name="tiny"} 0.004
# HELP vllm:inter_token_latency_seconds Histogram of inter-token latency in seconds.
# TYPE vllm:inter_token_latency_seconds histogram
vllm:inter_token_latency_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 189.0
vllm:inter_token_latency_seconds_count{engine="0",model_name="tiny"} 189.0
vllm:inter_token_latency_seconds_sum{engine="0",model_name="tiny"} 0.567
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 0.0
"""


def test_histogram_totals_sum_every_engine_and_ignore_buckets():
    t = histogram_totals(METRICS)
    assert t["prefill"] == pytest.approx((0.022, 4.0))
    assert t["itl"] == pytest.approx((0.567, 189.0))


def test_histogram_totals_read_the_older_name_and_tolerate_absence():
    old = METRICS.replace("inter_token_latency", "time_per_output_token")
    assert histogram_totals(old)["itl"] == pytest.approx((0.567, 189.0))
    assert histogram_totals("vllm:num_requests_running 0\n") == {}
    assert histogram_totals("not prometheus {{{") == {}


def test_api_costs_are_recovered_from_the_api_servers_cpu_time():
    truth = (3e-3, 1.3e-4, 4e-3)  # per request, per token, per scrape
    shapes = [(0, 0, 20), (35, 35, 80), (48, 3072, 30)]
    segs = [cal.CpuSegment(r * truth[0] + t * truth[1] + s * truth[2], r, t, s) for r, t, s in shapes]
    got = cal.fit_api_costs(segs)
    assert got is not None
    assert all(abs(g - w) / w < 1e-6 for g, w in zip(got, truth))
    # Stretches that cannot tell a request from a token leave the stage unmeasured.
    assert cal.fit_api_costs([cal.CpuSegment(0.1, 10, 10, 0), cal.CpuSegment(0.2, 20, 20, 0),
                              cal.CpuSegment(0.1, 0, 0, 5)]) is None
    assert cal.fit_api_costs(segs[:2]) is None


def test_the_api_servers_cpu_time_is_read_off_metrics_and_its_costs_leave_the_fixed_overhead():
    text = ("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n")
    assert histogram_totals(text)["cpu"][0] == 12.5
    obs = [cal.prefill_observation(L, 0.010 + 1e-5 * L) for L in (16, 100, 300, 500)]
    obs += [cal.Observation("decode", 2e-3 + 3e-4 * b, decode_seqs=b, context_tokens=100 * b) for b in (1, 2, 4, 8)]
    plain, _ = cal.fit_profile(obs)
    segs = [cal.CpuSegment(0.08, 0, 0, 20), cal.CpuSegment(35 * 3.1e-3 + 80 * 4e-3, 35, 35, 80),
            cal.CpuSegment(48 * 3e-3 + 3072 * 1e-4 + 30 * 4e-3, 48, 3072, 30)]
    with_api, _ = cal.fit_profile(obs, api_segments=segs)
    assert with_api.api_request_s > 2e-3 and 5e-5 < with_api.api_token_s < 2e-4
    assert abs(with_api.request_overhead_s
               - (plain.request_overhead_s - with_api.api_request_s - with_api.api_token_s)) < 1e-9
