"""Running a whole plan through the simulated engine in virtual time (headless): arrivals in, per-request outcomes
and engine samples out.

The model itself is in scheduler.py (the scheduler, with the request state of request.py and the KV blocks of
blocks.py); the API server in front of it, when the cost profile models one, in apiserver.py. Long stretches where
the same requests only decode are advanced in one jump, which is what makes an hour of traffic take seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from burststudio import limits, vocab
from burststudio.settings import SimSettings
from burststudio.targets.sim.apiserver import OUT, ApiStage
from burststudio.targets.sim.costmodel import CostProfile
from burststudio.targets.sim.request import FINISHED, Counters, SimRequest
from burststudio.targets.sim.scheduler import SimEngine
from burststudio.vocab import OK, TRUNCATED
from burststudio.workload.model import DEFAULT_PREFIX_BLOCK_TOKENS

SAMPLE_INTERVAL_S = 0.5
SAMPLE_TIME_S = "t_s"  # the time column of SimResult.samples; the other columns are the scraper's sample keys
SAMPLE_KEYS = (SAMPLE_TIME_S, vocab.KV_CACHE_USAGE, vocab.RUNNING, vocab.WAITING, vocab.PREEMPTIONS_TOTAL,
               vocab.ADMISSION_REJECTIONS_TOTAL, vocab.PREFIX_CACHE_QUERIES_TOTAL, vocab.PREFIX_CACHE_HITS_TOTAL,
               vocab.PROMPT_TOKENS_TOTAL, vocab.GENERATION_TOKENS_TOTAL)

__all__ = ["SAMPLE_INTERVAL_S", "SAMPLE_KEYS", "SAMPLE_TIME_S", "SimEngine", "SimRequest", "SimResult", "WorkSize",
           "simulate", "simulate_plan", "work_size"]

# Memory of a simulated run at its peak (the journal records and the summary built from them), measured with
# `burststudio simulate`: 100,000 requests of 8 tokens peaked at 0.70 GB, 200,000 of about 64 at 2.05 GB.
REQUEST_BYTES = 5200
TOKEN_BYTES = 70
# One engine sample: ten numbers in lists, its dict, its metrics line and the summary's copy.
SAMPLE_BYTES = 1500


@dataclass
class WorkSize:
    """What a simulation will hold, estimated before it runs: the virtual time is a lower bound (the engine cannot
    be faster than its serial parts), so the samples it gives are too."""

    requests: int
    tokens: int
    virtual_s: float
    samples: float
    nbytes: float
    cause: str  # what sets the virtual time: "schedule" or the cost profile's term


def work_size(arrival_s, output_tokens, settings: SimSettings, profile: CostProfile,
              sample_interval_s: float) -> WorkSize:
    """The size of simulating these requests (see WorkSize): each step makes at most one token per sequence and
    takes at least base_s + decode_seq_s, the longest request needs one step per token, and the API server's thread
    handles every request and token one after the other."""
    import numpy as np

    out = np.asarray(output_tokens, dtype=np.float64)
    n, tokens = len(out), float(out.sum()) if len(out) else 0.0
    span = float(np.max(arrival_s)) if n else 0.0
    steps = max(float(out.max()) if n else 0.0, tokens / max(1, settings.max_num_seqs))
    bounds = {"schedule": span, "base_s": steps * (profile.base_s + profile.decode_seq_s),
              "api_token_s": tokens * profile.api_token_s + n * profile.api_request_s}
    cause = max(bounds, key=lambda k: bounds[k])
    virtual = bounds[cause]
    if cause == "base_s" and profile.decode_seq_s > profile.base_s:
        cause = "decode_seq_s"
    samples = virtual / sample_interval_s if sample_interval_s > 0 else 0.0
    return WorkSize(n, int(tokens), virtual, samples, n * REQUEST_BYTES + tokens * TOKEN_BYTES + samples * SAMPLE_BYTES,
                    cause)


# Headless -------------------------------------------------------------------------------------------------------------
@dataclass
class SimResult:
    """Per-request outcomes (parallel lists, in submission order) and engine samples every 0.5 s of virtual time."""

    requests: list[SimRequest]
    samples: dict[str, list]
    counters: Counters
    kv_peak: float  # exact peak of KV usage over every step (the samples may miss a short peak)
    duration_s: float  # virtual time from 0 to the last event
    capacity_blocks: int
    block_size: int

    def columns(self) -> dict[str, Any]:
        """Per-request columns as numpy arrays."""
        import numpy as np

        rs = self.requests
        return {
            "arrival_s": np.array([r.arrival_s for r in rs], dtype=np.float64),
            "prompt_tokens": np.array([r.prompt for r in rs], dtype=np.int64),
            "max_tokens": np.array([r.max_out for r in rs], dtype=np.int64),
            "output_tokens": np.array([r.out for r in rs], dtype=np.int64),
            "first_token_s": np.array([r.first_s for r in rs], dtype=np.float64),
            "last_token_s": np.array([r.last_s for r in rs], dtype=np.float64),
            "end_s": np.array([r.end_s for r in rs], dtype=np.float64),
            "max_itl_s": np.array([r.max_gap_s for r in rs], dtype=np.float64),
            "preemptions": np.array([r.preemptions for r in rs], dtype=np.int64),
            "cached_tokens": np.array([max(r.cached_tokens, 0) for r in rs], dtype=np.int64),
            "outcome": np.array([r.outcome for r in rs], dtype=object),
        }


def simulate(arrival_s: Sequence[float], prompt_tokens: Sequence[int], output_tokens: Sequence[int],
             settings: SimSettings | None = None, profile: CostProfile | str | None = None, *,
             prefix_blocks: Sequence[Sequence[int] | None] | None = None, record_tokens: bool = False,
             sample_interval_s: float = SAMPLE_INTERVAL_S, fast: bool = True, on_step=None,
             prefix_block_tokens: int = DEFAULT_PREFIX_BLOCK_TOKENS, max_samples: float | None = None) -> SimResult:
    """Run every request through the engine in virtual time (arrivals sorted ascending, seconds from 0).

    `fast=False` steps one by one (for tests that compare against the jumps); `on_step(engine, result)` sees
    every step or jump as it happens (invariant checks); `prefix_block_tokens` is the tokens each `prefix_blocks`
    id stands for (the workload's Workload.prefix_block_tokens). A run whose virtual time passes `max_samples`
    samples (default: what the request limit's bytes hold, burststudio.limits) stops with a SizeError: the estimate
    before a run is a lower bound, and this is where a cost profile that makes time explode is caught."""
    eng = SimEngine(settings, profile, record_tokens=record_tokens, prefix_block_tokens=prefix_block_tokens)
    arrivals = [float(a) for a in arrival_s]
    prompts = [int(p) for p in prompt_tokens]
    outputs = [int(o) for o in output_tokens]
    requests: list[SimRequest] = []
    samples: dict[str, list] = {k: [] for k in SAMPLE_KEYS}
    next_sample = 0.0
    inf = math.inf
    if max_samples is None:
        max_samples = limits.max_bytes() / SAMPLE_BYTES
    times = samples[SAMPLE_TIME_S]

    def record_samples(upto: float, before: bool = False) -> None:
        nonlocal next_sample
        if sample_interval_s <= 0:
            return
        if (upto - next_sample) / sample_interval_s + len(times) > max_samples:
            _too_long(eng.profile, upto, sample_interval_s, max_samples)
        while next_sample < upto or (next_sample == upto and not before):
            snap = eng.snapshot()
            samples[SAMPLE_TIME_S].append(next_sample)
            for key, v in snap.items():
                samples[key].append(v)
            next_sample += sample_interval_s

    if eng.profile.models_api_server:
        _run_with_api_stage(eng, arrivals, prompts, outputs, prefix_blocks, requests, record_samples,
                            lambda: next_sample if sample_interval_s > 0 else inf, fast, on_step,
                            scrape_interval_s=max(0.0, sample_interval_s))
    else:
        _run(eng, arrivals, prompts, outputs, prefix_blocks, requests, record_samples,
             lambda: next_sample if sample_interval_s > 0 else inf, fast, on_step)
    end = eng.now
    record_samples(end)
    return SimResult(requests=requests, samples=samples, counters=eng.counters,
                     kv_peak=eng.pool.peak / eng.pool.capacity, duration_s=end,
                     capacity_blocks=eng.pool.capacity, block_size=eng.block_size)


def _too_long(profile: CostProfile, upto_s: float, interval_s: float, max_samples: float) -> None:
    need = upto_s / interval_s * SAMPLE_BYTES
    raise limits.SizeError(
        f"the simulated engine reached {upto_s:.3g} s of virtual time, whose samples (one every {interval_s:g} s, "
        f"replay.scrape_interval_s) would take {limits.size_text(need)}, more than the limit "
        f"({limits.size_text(max_samples * SAMPLE_BYTES)}); its step times (base_s {profile.base_s:g}, decode_seq_s "
        f"{profile.decode_seq_s:g}) are too long for this workload", where=f"cost profile {profile.name}")


def simulate_plan(plan, settings: SimSettings | None = None, profile: CostProfile | str | None = None,
                  **kwargs: Any) -> SimResult:
    """`simulate` over a replay Plan (burststudio.replay.plan): the same requests a replay would send."""
    return simulate(plan.scheduled_s, plan.prompt_tokens, plan.output_tokens, settings, profile,
                    prefix_blocks=plan.prefix_blocks, prefix_block_tokens=plan.block_tokens, **kwargs)


def _run(eng, arrivals, prompts, outputs, prefix_blocks, requests, record_samples, next_sample, fast, on_step):
    """The API server as a fixed delay (`request_overhead_s`): what a client sees is what the engine does."""
    n = len(arrivals)
    i = 0
    inf = math.inf
    while True:
        # Arrivals up to now reach the API server (queue check) in order.
        while i < n and arrivals[i] <= eng.now:
            requests.append(eng.submit(i, arrivals[i], prompts[i], outputs[i],
                                       prefix_blocks[i] if prefix_blocks is not None else None))
            i += 1
        eng._ingest()
        if eng.idle:
            nxt = min(arrivals[i] if i < n else inf, eng.next_arrival_s())
            if nxt == inf:
                break
            record_samples(nxt, before=True)
            eng.now = max(eng.now, nxt)
            continue
        limit = min(arrivals[i] if i < n else inf, eng.next_arrival_s(), next_sample())
        k = eng._jump_steps(limit) if fast else 0
        res = eng.jump(k) if k else eng.step()
        if res is None:  # nothing could be scheduled: only an arrival changes that
            nxt = min(arrivals[i] if i < n else inf, eng.next_arrival_s())
            if nxt == inf:
                raise RuntimeError("simulated engine stalled with requests it can never schedule")
            record_samples(nxt, before=True)
            eng.now = max(eng.now, nxt)
            continue
        if on_step is not None:
            on_step(eng, res)
        record_samples(eng.now)
    for r in requests:
        r.eng_first_s = r.first_s
        r.added_s = r.arrival_s
        if r.status == FINISHED and r.outcome in (OK, TRUNCATED):
            r.eng_end_s = r.end_s


def _run_with_api_stage(eng, arrivals, prompts, outputs, prefix_blocks, requests, record_samples, next_sample,
                        fast, on_step, scrape_interval_s: float = 0.0):
    """The API server as a single-threaded stage (apiserver.py) in front of and behind the engine; the samples
    stand for the scraper's reads of /metrics, which cost the stage `api_scrape_s` each."""
    api = ApiStage(eng, eng.profile, eng.queue_limit, eng.record_tokens, scrape_interval_s)
    n = len(arrivals)
    i = 0
    inf = math.inf

    def take_arrivals(upto: float) -> None:
        nonlocal i
        while i < n and arrivals[i] <= upto:
            r = eng.new_request(i, arrivals[i], prompts[i], outputs[i],
                                prefix_blocks[i] if prefix_blocks is not None else None)
            requests.append(r)
            if r.status != FINISHED:
                api.arrive(r)
            i += 1

    while True:
        take_arrivals(eng.now)
        api.run(eng.now)
        eng._ingest()
        if eng.idle:
            nxt = min(arrivals[i] if i < n else inf, eng.next_arrival_s(), api.next_ready_s())
            if nxt == inf:
                break
            record_samples(nxt, before=True)
            eng.now = max(eng.now, nxt)
            continue
        limit = min(arrivals[i] if i < n else inf, eng.next_arrival_s(), api.next_ready_s(), next_sample())
        k = eng._jump_steps(limit) if fast else 0
        if k:
            first = eng.decode_step_s()
            if not api.can_follow(eng.now, first, len(eng.running)):
                k = 0
            else:
                # The API thread must see the jump's tokens before anything that arrives after it: the jump's last
                # step ends by the next arrival (the engine alone only needs it to start before).
                inc = eng.profile.context_token_s * len(eng.running)
                if eng.now + k * first + inc * k * (k - 1) / 2 > limit:
                    k -= 1
                if k < 2:
                    k = 0
        res = eng.jump(k) if k else eng.step()
        if res is None:
            nxt = min(arrivals[i] if i < n else inf, eng.next_arrival_s(), api.next_ready_s())
            if nxt == inf:
                raise RuntimeError("simulated engine stalled with requests it can never schedule")
            record_samples(nxt, before=True)
            eng.now = max(eng.now, nxt)
            continue
        # Requests that arrived during the step reach the API server before the step's output does.
        take_arrivals(res.end_s)
        if res.tokens:
            api.push(res.end_s, OUT, res)
        if on_step is not None:
            on_step(eng, res)
        record_samples(eng.now)
    eng.now = max(eng.now, api.free_s)  # the last tokens leave the API server after the engine's last step
    api.finish(requests)
