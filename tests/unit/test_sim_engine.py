"""The simulated scheduler keeps vLLM V1's invariants, and its decode jumps change nothing but speed."""

import dataclasses

import numpy as np
import pytest

from burststudio.errors import UserError
from burststudio.settings import SimSettings
from burststudio.targets.sim.costmodel import PROFILES
from burststudio.targets.sim.engine import SimEngine, simulate
from burststudio.vocab import HTTP_503


def _bursty(n=600, seed=3, rate=20.0, prompt_max=400, out_max=100):
    rng = np.random.default_rng(seed)
    arrival = np.cumsum(rng.gamma(0.5, 2.0 / rate, n))
    prompt = np.minimum(rng.zipf(1.5, n) * 20, prompt_max)
    output = np.minimum(rng.zipf(1.5, n) * 8, out_max)
    return arrival, prompt, output


class Checker:
    """Checks every step (or jump) as it happens."""

    def __init__(self, settings: SimSettings):
        self.s = settings
        self.steps = 0
        self.max_running = 0

    def __call__(self, eng: SimEngine, res) -> None:
        self.steps += res.steps
        assert len(eng.running) <= self.s.max_num_seqs
        assert res.batch_tokens <= self.s.max_num_batched_tokens
        pool = eng.pool
        assert 0 <= pool.n_ref <= pool.capacity
        # n_ref is exactly the blocks the running requests hold: anonymous ones plus distinct cached contents.
        anon = sum(1 for r in eng.running for k in r.held if k is None)
        keyed = {k for r in eng.running for k in r.held if k is not None}
        assert pool.n_ref == anon + len(keyed)
        for r in eng.running:
            assert len(r.held) * eng.block_size >= r.computed
        for r in eng.waiting:
            assert not r.held
        self.max_running = max(self.max_running, len(eng.running))


@pytest.mark.parametrize("settings", [
    SimSettings(),
    SimSettings(max_num_queued_reqs=20),
    SimSettings(num_blocks=64, max_num_seqs=32, max_num_batched_tokens=256, enable_prefix_caching=False),
])
def test_invariants_hold_every_step_and_every_request_ends_once(settings):
    arrival, prompt, output = _bursty()
    check = Checker(settings)
    res = simulate(arrival, prompt, output, settings, on_step=check)
    assert check.steps == res.counters.steps > 0
    cols = res.columns()
    assert len(res.requests) == len(arrival)
    assert sorted(r.rid for r in res.requests) == list(range(len(arrival)))  # each request once
    done = cols["outcome"] != HTTP_503
    assert np.all(np.isfinite(cols["end_s"]))
    # A finished request produced exactly what it asked, after it arrived, in order.
    assert np.array_equal(cols["output_tokens"][done], cols["max_tokens"][done])
    assert np.all(cols["first_token_s"][done] > cols["arrival_s"][done])
    assert np.all(cols["end_s"][done] >= cols["first_token_s"][done])
    assert res.counters.finished_length == int(done.sum())
    assert res.counters.generation_tokens == int(cols["output_tokens"].sum())
    assert check.max_running <= settings.max_num_seqs


def test_jumps_give_exactly_the_step_by_step_result():
    arrival, prompt, output = _bursty(n=400)
    rng = np.random.default_rng(0)
    prefix = [list(rng.integers(0, 4, 1)) if rng.random() < 0.5 else None for _ in range(len(arrival))]
    s = SimSettings(num_blocks=24, max_num_queued_reqs=30)
    fast = simulate(arrival, prompt, output, s, prefix_blocks=prefix, record_tokens=True)
    slow = simulate(arrival, prompt, output, s, prefix_blocks=prefix, record_tokens=True, fast=False)
    assert fast.counters.jumps > 0 and slow.counters.jumps == 0
    assert fast.counters.steps == slow.counters.steps
    a, b = fast.columns(), slow.columns()
    for key in ("end_s", "first_token_s", "max_itl_s"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-9)
    assert list(a["outcome"]) == list(b["outcome"])
    assert np.array_equal(a["preemptions"], b["preemptions"])
    for ra, rb in zip(fast.requests, slow.requests):
        np.testing.assert_allclose(ra.token_times, rb.token_times, rtol=0, atol=1e-9)
    for key in fast.samples:
        np.testing.assert_allclose(fast.samples[key], slow.samples[key], rtol=0, atol=1e-9)


def test_burst_overflowing_a_16_block_cache_preempts_the_last_admitted():
    s = SimSettings()  # 16 blocks of 128 tokens, 8 sequences
    preempted = []

    def watch(eng, res):
        for victim in res.preempted:
            # The victim is the most recently admitted: no running request came in after it.
            preempted.append(victim.rid)

    res = simulate([0.0] * 12, [300] * 12, [150] * 12, s, on_step=watch)
    assert res.counters.preemptions > 0
    assert res.kv_peak == 1.0
    cols = res.columns()
    assert cols["preemptions"].sum() == res.counters.preemptions
    # Request 0 is admitted first and never preempted: vLLM preempts from the tail of the running list.
    assert 0 not in preempted
    assert np.all(cols["outcome"] == "ok")
    # A preempted request stalls: its longest gap between tokens is longer than any never-preempted one's.
    hit = cols["preemptions"] > 0
    assert cols["max_itl_s"][hit].max() > cols["max_itl_s"][~hit].max()


def test_no_preemption_when_the_burst_fits():
    res = simulate([0.0] * 3, [100] * 3, [20] * 3, SimSettings())
    assert res.counters.preemptions == 0
    assert res.kv_peak < 1.0


def test_prefix_hits_reduce_prefill_work():
    n = 20
    arrival = np.arange(n) * 1.0  # one at a time: the cache is warm for each next one
    prompt = np.full(n, 500)
    output = np.full(n, 4)
    s = SimSettings(num_blocks=32, max_model_len=512)
    shared = simulate(arrival, prompt, output, s, prefix_blocks=[[7]] * n)
    cold = simulate(arrival, prompt, output, s, prefix_blocks=[[i] for i in range(n)])
    off = simulate(arrival, prompt, output, dataclasses.replace(s, enable_prefix_caching=False),
                   prefix_blocks=[[7]] * n)
    c_shared, c_cold = shared.columns(), cold.columns()
    # The first request computes everything; the others reuse the 3 full shared blocks (384 tokens).
    assert c_shared["cached_tokens"][0] == 0
    assert np.all(c_shared["cached_tokens"][1:] == 384)
    assert c_cold["cached_tokens"].sum() == 0
    assert shared.counters.prefix_hits == 384 * (n - 1)
    assert shared.counters.prefix_queries == 500 * n
    ttft_shared = c_shared["first_token_s"] - c_shared["arrival_s"]
    ttft_cold = c_cold["first_token_s"] - c_cold["arrival_s"]
    assert np.median(ttft_shared[1:]) < np.median(ttft_cold[1:])
    assert off.counters.prefix_hits == 0
    assert shared.counters.busy_s < off.counters.busy_s


def test_full_queue_rejects_with_503_counted_in_flight():
    s = SimSettings(max_num_queued_reqs=10)
    res = simulate([0.0] * 25, [50] * 25, [20] * 25, s)
    cols = res.columns()
    assert (cols["outcome"] == HTTP_503).sum() == 15  # 10 in flight (waiting or running), the rest refused
    assert res.counters.rejections == 15
    assert res.samples["admission_rejections_total"][-1] == 15
    # Once the first ones finish, later arrivals get in again.
    later = simulate([0.0] * 25 + [100.0], [50] * 26, [20] * 26, s)
    assert later.columns()["outcome"][-1] == "ok"


def test_samples_every_half_second_of_virtual_time():
    res = simulate([0.0, 2.0], [100, 100], [1500, 50], SimSettings(max_model_len=2048, num_blocks=64))
    t = np.asarray(res.samples["t_s"])
    assert t[0] == 0.0
    np.testing.assert_allclose(np.diff(t), 0.5)
    assert t[-1] >= res.duration_s - 0.5
    assert max(res.samples["running"]) >= 1
    assert max(res.samples["kv_cache_usage"]) > 0


def test_long_prompt_is_prefilled_in_chunks():
    eng = SimEngine(SimSettings(max_num_batched_tokens=128))
    eng.submit(0, 0.0, 400, 2)
    eng.now = 1.0
    chunks = []
    while not eng.idle or eng.incoming:
        res = eng.step()
        if res is None:
            break
        chunks.append(res.batch_tokens)
    assert chunks[:4] == [128, 128, 128, 16]


def test_overlong_requests_are_refused_or_capped():
    eng = SimEngine(SimSettings(max_model_len=512))
    assert eng.submit(0, 0.0, 600, 10).outcome == "http_4xx"
    capped = eng.submit(1, 0.0, 500, 100)
    assert capped.outcome == "truncated" and capped.max_out == 12


def test_cache_too_small_for_one_request_is_a_user_error():
    with pytest.raises(UserError, match="max_model_len"):
        SimEngine(SimSettings(num_blocks=3, block_size=128, max_model_len=512))


def test_gpu_profile_runs_a_large_engine():
    s = SimSettings(profile="h100-llama3-8b", num_blocks=2000, block_size=16, max_num_seqs=64,
                    max_num_batched_tokens=2048, max_model_len=4096)
    arrival, prompt, output = _bursty(n=300, rate=30, prompt_max=2000, out_max=500)
    res = simulate(arrival, prompt, output, s, PROFILES["h100-llama3-8b"], on_step=Checker(s))
    assert np.all(res.columns()["outcome"] == "ok")
