"""`burststudio simulate PRESET [--json] [--out DIR] [--duration S] [--profile P]`: the preset's workload through the
simulated vLLM engine in virtual time, no HTTP. Writes the same run directory and summary as a replay, so `report`,
`compare` and the studio read it unchanged.
"""

from __future__ import annotations

import argparse

from burststudio.commands._number_args import check_number_flags
from burststudio.commands._preset_args import add_set_argument
from burststudio.commands._repeat import add_repeat_argument, check_repeat, run_repeated
from burststudio.commands._replay_args import add_replay_arguments, apply_replay_arguments

HELP = "run a preset's workload through the simulated vLLM engine in virtual time (no server, no GPU)"


def register(subparsers) -> None:
    p = subparsers.add_parser("simulate", help=HELP, description=HELP + ". The run directory and summary are those "
                              "of a replay; the engine settings come from the preset's [target.sim].")
    p.add_argument("preset", metavar="PRESET", help="preset file (TOML), e.g. presets/burstgpt-paper.toml")
    p.add_argument("--out", "-o", metavar="DIR", default=None,
                   help="run directory to write (default: runs/<date>-<time>-<preset>-sim)")
    p.add_argument("--duration", default=None, metavar="S",
                   help="simulate only the first S seconds of the workload (default: [replay] duration_s, else all)")
    p.add_argument("--profile", default=None, metavar="P",
                   help="cost profile: a name (cpu-tiny, a100-llama3-8b, h100-llama3-8b) or a .json file "
                   "(default: [target.sim] profile)")
    p.add_argument("--seed", default=None, metavar="N", help="workload seed (default: the preset's)")
    add_set_argument(p)
    add_replay_arguments(p, target=False)
    add_repeat_argument(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import json
    import sys
    import time
    from pathlib import Path

    from burststudio.presets import load_preset
    from burststudio.vocab import EXIT_LIMITS, EXIT_OK

    check_number_flags(args, {"duration": ("replay", "duration_s"), "seed": ("workload", "seed")})
    repeat = check_repeat(args)
    preset = apply_replay_arguments(load_preset(args.preset), args)
    sim = preset.target.sim
    if args.profile:
        import dataclasses

        sim = dataclasses.replace(sim, profile=args.profile)
    if args.duration is not None:
        import dataclasses

        preset.replay = dataclasses.replace(preset.replay, duration_s=float(args.duration))

    from burststudio import rundir
    from burststudio.replay.simulated import simulate_to_run_dir
    from burststudio.targets.sim.costmodel import get_profile

    # Everything else a user can get wrong is read before a run directory exists, so a bad input leaves none.
    get_profile(sim.profile)
    if repeat > 1:
        def one(seed: int, run_dir: Path) -> tuple[dict, int]:
            rundir.make_empty(run_dir)
            s = simulate_to_run_dir(preset, preset.build_workload(seed=seed), sim, run_dir,
                                    started=dt.datetime.now().astimezone())
            return s, EXIT_LIMITS if s.get("limits_broken") else EXIT_OK

        return run_repeated(args, f"{preset.name}-sim", preset.seed, one)
    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    out = Path(args.out) if args.out else rundir.default_run_dir(f"{preset.name}-sim")
    created = not out.exists()
    if not created:
        rundir.make_empty(out)  # refuses a folder that holds something, before the work
    workload = preset.build_workload(seed=args.seed)
    rundir.make_empty(out)
    try:
        summary = simulate_to_run_dir(preset, workload, sim, out, started=started)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    wall = time.perf_counter() - t0
    if args.json:
        print(json.dumps(summary, allow_nan=False, default=str))
    else:
        _print_summary(summary, wall, sys.stdout)
    return EXIT_LIMITS if summary.get("limits_broken") else EXIT_OK


def _print_summary(summary: dict, wall: float, out) -> None:
    from burststudio import figures

    def line(*keys: str) -> str:
        return ", ".join(f"{figures.BY_KEY[k].label} {figures.show(summary, figures.BY_KEY[k])}" for k in keys)

    sim = summary.get("simulation", {})
    lines = [
        f"simulated {figures.show(summary, figures.BY_KEY['sent'])} requests over "
        f"{figures.UNITS['s'].fmt(sim.get('virtual_duration_s', 0))} s of virtual time "
        f"in {wall:.2f} s ({sim.get('profile')})",
        f"  {figures.accounting(summary)}; failures: {figures.failures(summary)}",
        "  " + line("ttft_p50", "ttft_p99", "e2e_p50", "tpot_p50"),
        "  " + line("kv_peak", "preemptions", "rejections"),
        f"  run directory: {summary['run_dir']}",
    ]
    for n in sim.get("notices") or []:
        lines.append(f"  note: {n}")
    for b in summary.get("limits_broken") or []:
        lines.append(f"  limit broken: {b}")
    out.write("\n".join(lines) + "\n")
