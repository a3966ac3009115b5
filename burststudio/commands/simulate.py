"""`burststudio simulate PRESET [--json] [--out DIR] [--duration S] [--profile P]`: the preset's workload through the
simulated vLLM engine in virtual time, no HTTP. Writes the same run directory and summary as a replay, so `report`,
`compare` and the studio read it unchanged.
"""

from __future__ import annotations

import argparse

HELP = "run a preset's workload through the simulated vLLM engine in virtual time (no server, no GPU)"


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help=HELP, description=HELP + ". The run directory and summary are those "
                              "of a replay; the engine settings come from the preset's [target.sim].")
    p.add_argument("preset", metavar="PRESET", help="preset file (TOML), e.g. presets/burstgpt-paper.toml")
    p.add_argument("--out", "-o", metavar="DIR", default=None,
                   help="run directory to write (default: runs/<date>-<time>-<preset>-sim)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="simulate only the first S seconds of the workload (default: [replay] duration_s, else all)")
    p.add_argument("--profile", default=None, metavar="P",
                   help="cost profile: a name (cpu-tiny, a100-llama3-8b, h100-llama3-8b) or a .json file "
                   "(default: [target.sim] profile)")
    p.add_argument("--seed", type=int, default=None, metavar="N", help="workload seed (default: the preset's)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import json
    import sys
    import time
    from pathlib import Path

    from burststudio.errors import UserError
    from burststudio.presets import load_preset
    from burststudio.vocab import EXIT_LIMITS, EXIT_OK

    if args.duration is not None and not args.duration > 0:
        raise UserError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    preset = load_preset(args.preset)
    sim = preset.target.sim
    if args.profile:
        import dataclasses

        sim = dataclasses.replace(sim, profile=args.profile)
    if args.duration is not None:
        import dataclasses

        preset.replay = dataclasses.replace(preset.replay, duration_s=float(args.duration))

    from burststudio.replay.engine import default_run_dir

    started = dt.datetime.now().astimezone()
    out = Path(args.out) if args.out else default_run_dir(f"{preset.name}-sim")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("exists and is not an empty folder; choose another --out", where=str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run directory ({exc.strerror or exc})", where=str(out)) from None

    t0 = time.perf_counter()
    workload = preset.build_workload(seed=args.seed)
    summary = simulate_to_run_dir(preset, workload, sim, out, started=started)
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps(summary, allow_nan=False, default=str))
    else:
        _print_summary(summary, wall, sys.stdout)
    return EXIT_LIMITS if summary.get("limits_broken") else EXIT_OK


def simulate_to_run_dir(preset, workload, sim, out, *, started=None, sent_s=None) -> dict:
    """Simulate `workload` under the preset's replay settings and `sim` engine settings; write the run directory
    `out` as a replay does (burststudio/replay/engine.py) and return the summary. `sent_s` (one time per planned
    request, NaN for one never sent) replaces the schedule: the arrivals a real server saw from a real client."""
    import dataclasses
    import datetime as dt
    import time

    from burststudio.replay import recorder as rec
    from burststudio.replay.engine import build_summary, prepare_workload, summary_settings
    from burststudio.replay.events import Events
    from burststudio.replay.plan import build_plan
    from burststudio.targets.sim.costmodel import get_profile
    from burststudio.targets.sim.engine import SimEngine, simulate_plan
    from burststudio.vocab import EV_RUN_FINISHED, EXIT_LIMITS, EXIT_OK, REASON_DONE

    replay = preset.replay
    notices: list[str] = []
    if replay.mode != "open":
        notices.append("the simulator replays open loop only; [replay] mode = closed is simulated as open loop")
    if replay.max_concurrency:
        notices.append("[replay] max_concurrency is not simulated: every request is sent at its scheduled time")
    w = prepare_workload(workload, replay)
    profile = get_profile(sim.profile)
    engine = SimEngine(sim, profile)  # validates the settings before any work
    plan = build_plan(w, replay, model="sim", vocab_size=preset.target.vocab_size, max_model_len=sim.max_model_len,
                      endpoint="completions")
    if sent_s is not None:
        import numpy as np

        sent = np.asarray(sent_s, dtype=np.float64)
        keep = ~np.isnan(sent)
        order = np.argsort(sent[keep], kind="stable")
        idx = np.flatnonzero(keep)[order]
        plan = dataclasses.replace(
            plan, scheduled_s=sent[idx], prompt_tokens=plan.prompt_tokens[idx], output_tokens=plan.output_tokens[idx],
            rows=plan.rows[idx],
            prefix_blocks=None if plan.prefix_blocks is None else [plan.prefix_blocks[i] for i in idx])
    t0 = time.perf_counter()
    result = simulate_plan(plan, sim, profile, record_tokens=True, sample_interval_s=replay.scrape_interval_s)
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
    started = started or dt.datetime.now().astimezone()
    run_info = {
        "format": 1,
        "name": preset.name,
        "started_at": started.isoformat(timespec="seconds"),
        "ended_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "complete": True,
        "reason": REASON_DONE,
        "virtual_time": True,
        "target": engine_info(sim, profile, engine.pool.capacity),
        "cache_config": {"block_size": str(sim.block_size), "num_gpu_blocks": str(sim.num_blocks),
                         "kv_cache_size_tokens": str(engine.pool.capacity * sim.block_size),
                         "enable_prefix_caching": str(bool(sim.enable_prefix_caching))},
        "plan": plan.stats.to_dict(),
        "mode": "open",
        "endpoint": plan.endpoint,
        "settings": summary_settings(replay),
        "replay": dataclasses.asdict(replay),
        "sim": dataclasses.asdict(sim),
        "simulation": simulation,
    }
    recorder = rec.Recorder(out)
    try:
        recorder.write_preset(preset.resolved_toml())
        recorder.write_run_info(run_info)
        for r in result.requests:
            recorder.ended(_record(r, int(plan.rows[r.rid])))
        for sample in _samples(result):
            recorder.sample(sample)
        recorder.flush()
        summary = build_summary(out, write=True)
        summary["simulation"] = simulation
        summary["exit_code"] = EXIT_LIMITS if summary["limits_broken"] else EXIT_OK
        summary["reason"] = REASON_DONE
        rec.write_json_atomic(out / rec.SUMMARY, summary)
        Events([recorder.event]).emit(EV_RUN_FINISHED, exit_code=summary["exit_code"], reason=REASON_DONE,
                                      summary=summary)
    finally:
        recorder.close()
    return summary


def engine_info(sim, profile, capacity_blocks: int) -> dict:
    from burststudio.targets.base import TargetInfo

    return TargetInfo(kind="sim", url="", model="sim", max_model_len=sim.max_model_len, vocab_size=None,
                      kv_capacity_tokens=capacity_blocks * sim.block_size, kv_blocks=sim.num_blocks,
                      block_size=sim.block_size, engine=f"burststudio simulator ({profile.name})", build=None,
                      has_metrics=True).to_dict()


def _record(r, row: int) -> dict:
    """A journal `end` record, as the streaming client writes it (times in seconds from the run start)."""
    import math

    from burststudio.journal import end_record
    from burststudio.vocab import HTTP_4XX, HTTP_503, STREAM_ERROR

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
        engine_first_s=None if math.isnan(r.eng_first_s) else r.eng_first_s,
        engine_end_s=None if math.isnan(r.eng_end_s) else r.eng_end_s,
        engine_arrival_s=None if math.isnan(r.added_s) else r.added_s,
    )


def _samples(result) -> list[dict]:
    """The engine samples under the names the /metrics scraper gives them."""
    from burststudio.targets.sim.engine import SAMPLE_KEYS, SAMPLE_TIME_S
    from burststudio.vocab import SAMPLE_TIME

    s = result.samples
    names = [k for k in SAMPLE_KEYS if k != SAMPLE_TIME_S]
    return [{SAMPLE_TIME: round(row[0], 6), **{k: v for k, v in zip(names, row[1:])}}
            for row in zip(s[SAMPLE_TIME_S], *(s[k] for k in names))]


def _print_summary(summary: dict, wall: float, out) -> None:
    from burststudio import figures

    def line(*keys: str) -> str:
        return ", ".join(f"{figures.BY_KEY[k].label} {figures.show(summary, figures.BY_KEY[k])}" for k in keys)

    sim = summary.get("simulation", {})
    lines = [
        f"simulated {summary['sent']} requests over {sim.get('virtual_duration_s', 0):.1f} s of virtual time "
        f"in {wall:.2f} s ({sim.get('profile')})",
        f"  finished {summary['finished']}, failed {summary['failed']} {summary.get('failures_by_class') or ''}".rstrip(),
        "  " + line("ttft_p50", "ttft_p99", "e2e_p50", "tpot_p50"),
        "  " + line("kv_peak", "preemptions", "rejections"),
        f"  run directory: {summary['run_dir']}",
    ]
    for n in sim.get("notices") or []:
        lines.append(f"  note: {n}")
    for b in summary.get("limits_broken") or []:
        lines.append(f"  limit broken: {b}")
    out.write("\n".join(lines) + "\n")
