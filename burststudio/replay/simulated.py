"""A simulated run written as a replay's run directory: the plan a replay would send, through the simulated engine in
virtual time, journaled and summarised as the replay engine does it (burststudio/replay/runner.py), so `report`,
`compare` and the studio read it unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from burststudio import limits, rundir
from burststudio.journal import end_record
from burststudio.replay.events import Events
from burststudio.replay.recorder import Recorder
from burststudio.targets.sim.engine import (SAMPLE_BYTES, SAMPLE_KEYS, SAMPLE_TIME_S, SimEngine, WorkSize,
                                            simulate_plan, work_size)
from burststudio.vllm_metrics import cache_config_labels
from burststudio.vocab import (EV_RUN_FINISHED, EXIT_LIMITS, EXIT_OK, HTTP_4XX, HTTP_503, REASON_DONE, SAMPLE_TIME,
                               STREAM_ERROR)

NOT_OPEN_LOOP = "the simulator replays open loop only; [replay] mode = closed is simulated as open loop"
NO_CONCURRENCY_CAP = "[replay] max_concurrency is not simulated: every request is sent at its scheduled time"
NO_WARMUP = "[replay] warmup is not simulated: the simulator pays no one-off costs on its first requests"


def simulate_to_run_dir(preset, workload, sim, out, *, started=None, sent_s=None) -> dict:
    """Simulate `workload` under the preset's replay settings and `sim` engine settings; write the run directory
    `out` as a replay does and return the summary. `sent_s` (one time per planned request, NaN for one never sent)
    replaces the schedule: the arrivals a real server saw from a real client."""
    from burststudio.replay.runner import prepare_workload
    from burststudio.replay.plan import build_plan
    from burststudio.targets.sim.costmodel import get_profile

    replay = preset.replay
    notices: list[str] = []
    if replay.mode != "open":
        notices.append(NOT_OPEN_LOOP)
    if replay.max_concurrency:
        notices.append(NO_CONCURRENCY_CAP)
    if replay.warmup > 0:
        notices.append(NO_WARMUP)
    w = prepare_workload(workload, replay)
    profile = get_profile(sim.profile)
    engine = SimEngine(sim, profile)  # validates the settings before any work
    plan = build_plan(w, replay, model="sim", vocab_size=preset.target.vocab_size, max_model_len=sim.max_model_len,
                      endpoint="completions")
    if sent_s is not None:
        plan = _as_sent(plan, sent_s)
    size = check_size(plan, sim, profile, replay.scrape_interval_s)
    replicas = int(getattr(sim, "replicas", 1) or 1)
    # Each replica's virtual time spans about the whole schedule: the room left for samples is shared.
    max_samples = max(size.samples, (limits.max_bytes() - size.nbytes) / SAMPLE_BYTES / replicas)
    if replicas > 1:
        return write_fleet_run(preset, w, plan, sim, profile, out, started=started, notices=notices,
                               max_samples=max_samples)
    t0 = time.perf_counter()
    with limits.building(f"the simulation of {len(plan):,} requests"):
        result = simulate_plan(plan, sim, profile, record_tokens=True, sample_interval_s=replay.scrape_interval_s,
                               max_samples=max_samples)
    wall = time.perf_counter() - t0

    c = result.counters
    simulation = {
        "profile": profile.name,
        "virtual_duration_s": result.duration_s,
        "wall_s": wall,
        "speedup": (result.duration_s / wall) if wall > 0 else None,
        "steps": c.steps,
        "kv_cache_usage_peak_exact": result.kv_peak,
        "engine_busy_share": (c.busy_s / result.duration_s) if result.duration_s > 0 else None,
        "notices": notices,
    }
    run_info = rundir.finish_run_info(rundir.run_info(
        name=preset.name, target=engine_info(sim, profile, engine.pool.capacity), plan=plan, replay=replay,
        mode="open", started=started, virtual_time=True,
        cache_config=cache_config_labels(sim.block_size, sim.num_blocks, engine.pool.capacity * sim.block_size,
                                         sim.enable_prefix_caching),
        sim=dataclasses.asdict(sim), simulation=simulation), REASON_DONE)
    return _write_run(out, preset, run_info, simulation,
                      (journal_record(r, int(plan.rows[r.rid])) for r in result.requests), samples(result))


def _write_run(out, preset, run_info, simulation, records, run_samples) -> dict:
    """A simulation's run directory, written as a replay writes its own: the preset, run.json, the journal's
    `records` and the metrics' `run_samples`, then the summary with the simulation's figures, and the run's end."""
    recorder = Recorder(out)
    try:
        recorder.write_preset(preset.resolved_toml())
        recorder.write_run_info(run_info)
        for rec in records:
            recorder.ended(rec)
        for smp in run_samples:
            recorder.sample(smp)
        recorder.flush()
        summary = rundir.build_summary(out, write=True)
        summary["simulation"] = simulation
        summary["exit_code"] = EXIT_LIMITS if summary["limits_broken"] else EXIT_OK
        summary["reason"] = REASON_DONE
        rundir.write_summary(out, summary)
        Events([recorder.event]).emit(EV_RUN_FINISHED, exit_code=summary["exit_code"], reason=REASON_DONE,
                                      summary=summary)
    finally:
        recorder.close()
    return summary


def check_size(plan, sim, profile, interval_s: float) -> WorkSize:
    """Refuse a simulation whose estimated memory (requests, tokens, and the samples of its virtual time) passes the
    request limit's bytes, naming what makes it large: the workload, or the cost profile's term that stretches
    virtual time."""
    size = work_size(plan.scheduled_s, plan.output_tokens, sim, profile, interval_s)
    if size.cause == "schedule":
        keys = ["the workload"] if size.samples * SAMPLE_BYTES < size.nbytes / 2 else ["replay.scrape_interval_s"]
    else:
        where = sim.profile if sim.profile.endswith(".json") else f"cost profile {profile.name}"
        keys = [f"{where}: {size.cause} = {getattr(profile, size.cause):g} s"]
    limits.check(size.requests, size.nbytes, keys=keys,
                 what=f"the simulation ({limits.count_text(size.tokens)} tokens, at least {size.virtual_s:.3g} s of "
                 f"virtual time sampled every {interval_s:g} s)")
    return size


def write_fleet_run(preset, workload, plan, sim, profile, out, *, started=None, notices: list[str],
                    max_samples: float | None = None) -> dict:
    """The simulated fleet's run directory (replay/sim_fleet.py), as one engine's is written above."""
    from burststudio.replay.sim_fleet import simulate_fleet
    from burststudio.targets.base import Endpoint, TargetInfo
    from burststudio.vocab import REPLICA, REPLICA_BY_CLIENT

    replay = preset.replay
    policy = preset.target.route
    t0 = time.perf_counter()
    with limits.building(f"the simulation of {len(plan):,} requests on {sim.replicas} replicas"):
        fleet = simulate_fleet(plan, sim, profile, policy, workload, sample_interval_s=replay.scrape_interval_s,
                               seed=plan.seed, max_samples=max_samples)
    wall = time.perf_counter() - t0
    names = [str(k) for k in range(int(sim.replicas))]
    results = fleet.results
    duration = max((r.duration_s for r in results), default=0.0)
    capacity = results[0].capacity_blocks if results else sim.num_blocks
    simulation = {
        "profile": profile.name,
        "replicas": len(names),
        "route": policy,
        "router_passes": fleet.passes,
        "virtual_duration_s": duration,
        "wall_s": wall,
        "speedup": (duration / wall) if wall > 0 else None,
        "steps": sum(r.counters.steps for r in results),
        "kv_cache_usage_peak_exact": max((r.kv_peak for r in results), default=None),
        "engine_busy_share": [(r.counters.busy_s / r.duration_s) if r.duration_s > 0 else None for r in results],
        "notices": notices,
    }
    eps = [Endpoint(name, "", kv_capacity_tokens=capacity * sim.block_size, kv_blocks=sim.num_blocks,
                    block_size=sim.block_size) for name in names]
    info = TargetInfo(kind="sim", model="sim", max_model_len=sim.max_model_len, vocab_size=None,
                      engine=f"burststudio simulator ({profile.name})", has_metrics=True, endpoints=eps)
    info.router, info.replica_source = f"simulated {policy}", REPLICA_BY_CLIENT
    run_info = rundir.finish_run_info(rundir.run_info(
        name=preset.name, target=info.to_dict(), plan=plan, replay=replay, mode="open", started=started,
        virtual_time=True,
        cache_config=cache_config_labels(sim.block_size, sim.num_blocks, capacity * sim.block_size,
                                         sim.enable_prefix_caching),
        sim=dataclasses.asdict(sim), simulation=simulation), REASON_DONE)

    def records():
        for name, idx, res in zip(names, fleet.members, results):
            for r in res.requests:
                i = int(idx[r.rid])
                rec = journal_record(r, int(plan.rows[i]))
                rec["i"] = i
                rec[REPLICA] = name
                yield rec

    # Samples interleaved by time, as the scrapers of a real fleet write them.
    tagged = [{**smp, REPLICA: name} for name, res in zip(names, results) for smp in samples(res)]
    tagged.sort(key=lambda smp: (smp["t"], int(smp[REPLICA])))
    return _write_run(out, preset, run_info, simulation, records(), tagged)


def _as_sent(plan, sent_s):
    """The plan with the given send times as its schedule, in send order, without the requests never sent."""
    import numpy as np

    sent = np.asarray(sent_s, dtype=np.float64)
    keep = ~np.isnan(sent)
    order = np.argsort(sent[keep], kind="stable")
    idx = np.flatnonzero(keep)[order]
    return dataclasses.replace(
        plan, scheduled_s=sent[idx], prompt_tokens=plan.prompt_tokens[idx], output_tokens=plan.output_tokens[idx],
        rows=plan.rows[idx],
        prefix_blocks=None if plan.prefix_blocks is None else [plan.prefix_blocks[i] for i in idx])


def engine_info(sim, profile, capacity_blocks: int) -> dict:
    from burststudio.targets.base import TargetInfo

    return TargetInfo(kind="sim", url="", model="sim", max_model_len=sim.max_model_len, vocab_size=None,
                      kv_capacity_tokens=capacity_blocks * sim.block_size, kv_blocks=sim.num_blocks,
                      block_size=sim.block_size, engine=f"burststudio simulator ({profile.name})", build=None,
                      has_metrics=True).to_dict()


def _or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def journal_record(r, row: int) -> dict[str, Any]:
    """A journal `end` record of a simulated request, as the streaming client writes one."""
    status = 200
    error = None
    outcome = r.outcome
    if outcome == HTTP_503:
        status, error = 503, "The engine is currently busy (simulated --max-num-queued-reqs)"
    elif outcome == STREAM_ERROR:
        error = "The engine is currently busy (simulated --max-num-queued-reqs, in the stream) (code 503)"
    elif outcome == HTTP_4XX:
        status, error = 400, "prompt does not fit max_model_len"
    sent = r.arrival_s
    times = r.token_times or []
    ok = status == 200 and error is None
    return end_record(
        i=r.rid,
        row=row,
        outcome=outcome,
        status=status,
        scheduled_s=sent,
        sent_s=sent,
        first_s=r.first_s if ok and times else None,
        end_s=r.end_s,
        chunks_us=[int(round((t - sent) * 1e6)) for t in times],
        prompt_tokens=r.prompt,
        output_tokens=r.max_out,
        usage_prompt_tokens=r.prompt if ok else None,
        usage_completion_tokens=r.out if ok else None,
        chunk_tokens=r.out,
        error=error,
        timeout=None,
        retry_after=None,
        preemptions=r.preemptions,
        cached_tokens=max(r.cached_tokens, 0),
        # When the engine made the first and last token (vLLM's own TTFT and E2E histograms stamp these)
        engine_first_s=_or_none(r.eng_first_s),
        engine_end_s=_or_none(r.eng_end_s),
        engine_arrival_s=_or_none(r.added_s),
    )


def samples(result) -> list[dict]:
    """The engine samples as the /metrics scraper writes them."""
    s = result.samples
    names = [k for k in SAMPLE_KEYS if k != SAMPLE_TIME_S]
    return [{SAMPLE_TIME: round(row[0], 6), **{k: v for k, v in zip(names, row[1:])}}
            for row in zip(s[SAMPLE_TIME_S], *(s[k] for k in names))]
