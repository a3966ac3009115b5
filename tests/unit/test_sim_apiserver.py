"""The API server stage: its queue delays first tokens and deliveries, it rejects in two places as vLLM does; jumps
stay exact with it; older profiles load without it; vLLM's whole-sequence admission check."""

import dataclasses
import json
import math

import numpy as np

from burststudio.settings import SimSettings
from burststudio.targets.sim.costmodel import PROFILES, CostProfile
from burststudio.targets.sim.engine import simulate
from burststudio.vocab import HTTP_503, OK, STREAM_ERROR

BASE = CostProfile(name="t", base_s=2e-3, prefill_token_s=1e-5, decode_seq_s=3e-4, context_token_s=0.0)


def _with(**kw) -> CostProfile:
    return dataclasses.replace(BASE, **kw)


def test_old_profile_files_load_with_no_api_stage(tmp_path):
    data = {k: v for k, v in PROFILES["cpu-tiny-calibrated"].to_dict().items()
            if not k.startswith("api_") and k != "wake_s"}  # a file from before the API stage
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    p = CostProfile.load(path)
    assert p.api_request_s == 0 and p.api_token_s == 0 and not p.models_api_server
    assert p.api_after_s == 0 and p.api_scrape_s == 0 and p.wake_s == [] and p.wake_after(10.0) == 0
    assert _with(api_token_s=1e-4).models_api_server


def test_the_api_queue_delays_a_burst_and_the_engine_sees_requests_one_by_one():
    n = 20
    settings = SimSettings(num_blocks=64, max_num_seqs=32, max_num_batched_tokens=4096)
    fast = simulate([0.0] * n, [50] * n, [4] * n, settings, BASE)
    slow = simulate([0.0] * n, [50] * n, [4] * n, settings, _with(api_request_s=0.01))
    ttft_fast = [r.first_s for r in fast.requests]
    ttft_slow = [r.first_s for r in slow.requests]
    # All 20 prefill in one step without the stage. With it the thread first parses all 20 (5 ms each), then hands
    # them over one by one (5 ms each): the engine prefills each alone, in arrival order, and the clients see their
    # first tokens only after the thread is through with the burst (200 ms).
    assert len(set(ttft_fast)) == 1
    engine_first = [r.eng_first_s for r in slow.requests]
    assert all(b > a for a, b in zip(engine_first, engine_first[1:]))
    assert engine_first[0] > 0.1 and engine_first[-1] > 0.19
    assert all(b >= a for a, b in zip(ttft_slow, ttft_slow[1:]))
    assert min(ttft_slow) >= n * 0.01
    # The engine's own first token is no later than the client's, and the request arrived at the engine late.
    for r in slow.requests:
        assert r.eng_first_s <= r.first_s
        assert r.added_s >= r.arrival_s


def test_delivery_costs_per_token_show_up_after_the_engine():
    settings = SimSettings(num_blocks=64, max_num_seqs=32, max_num_batched_tokens=4096)
    res = simulate([0.0] * 8, [50] * 8, [30] * 8, settings, _with(api_token_s=1e-3), record_tokens=True)
    for r in res.requests:
        # 8 tokens a step at 1 ms each take 8 ms of the thread, longer than a 4.4 ms step: the client falls behind.
        assert r.end_s - r.eng_end_s > 0.05
        assert len(r.token_times) == 30 and r.token_times == sorted(r.token_times)


def test_a_burst_passing_the_first_check_is_refused_inside_the_stream():
    # 40 requests at once, at most 8 in flight: every one passes the first check (none is in flight yet while the
    # thread parses them all), then the first 8 handed to the engine fill the limit and the rest get the error
    # inside a 200 stream, as vLLM's add_request does.
    settings = SimSettings(num_blocks=64, max_num_seqs=8, max_num_batched_tokens=4096, max_num_queued_reqs=8)
    res = simulate([0.0] * 40, [100] * 40, [50] * 40, settings, _with(api_request_s=2e-3))
    outcomes = [r.outcome for r in res.requests]
    assert outcomes[:8] == [OK] * 8
    assert outcomes[8:] == [STREAM_ERROR] * 32
    assert res.counters.rejections == 32 and res.counters.rejections_in_stream == 32
    # A second burst while those 8 are in flight is refused before the response starts: a plain 503.
    res = simulate([0.0] * 8 + [0.1] * 5, [100] * 13, [200] * 13, settings, _with(api_request_s=2e-3))
    assert [r.outcome for r in res.requests[8:]] == [HTTP_503] * 5
    assert res.counters.rejections_in_stream == 0


def test_jumps_with_the_api_stage_match_step_by_step():
    rng = np.random.default_rng(5)
    n = 300
    arrival = np.cumsum(rng.exponential(0.08, n))
    prompt = rng.integers(20, 300, n)
    output = rng.integers(5, 120, n)
    settings = SimSettings(max_num_queued_reqs=12)
    profile = dataclasses.replace(PROFILES["cpu-tiny-calibrated"], api_request_s=3e-3, api_token_s=1.3e-4)
    a = simulate(arrival, prompt, output, settings, profile, fast=True, record_tokens=True)
    b = simulate(arrival, prompt, output, settings, profile, fast=False, record_tokens=True)
    assert a.counters.jumps > 0
    assert [r.outcome for r in a.requests] == [r.outcome for r in b.requests]
    for x, y in zip(a.requests, b.requests):
        for attr in ("first_s", "end_s", "max_gap_s", "eng_first_s", "eng_end_s"):
            u, v = getattr(x, attr), getattr(y, attr)
            assert (math.isnan(u) and math.isnan(v)) or abs(u - v) < 1e-9, (attr, u, v)
        assert np.allclose(x.token_times or [], y.token_times or [], atol=1e-9, rtol=0)


def test_a_waiting_request_is_admitted_only_when_all_its_tokens_fit():
    # 20 usable blocks of 16 tokens. A (100 + 50 tokens) grows to 10 blocks; B's prompt of 220 needs 14. B's first
    # chunk (63 tokens, 4 blocks) would fit beside A, but vLLM checks the whole prompt: B waits for A to finish
    # instead of starting, running out of blocks halfway and being preempted.
    settings = SimSettings(num_blocks=21, block_size=16, max_num_seqs=8, max_num_batched_tokens=64,
                           max_model_len=320, enable_prefix_caching=False)
    res = simulate([0.0, 0.001], [100, 220], [50, 10], settings, BASE)
    a, b = res.requests
    assert res.counters.preemptions == 0
    assert b.first_s > a.end_s
