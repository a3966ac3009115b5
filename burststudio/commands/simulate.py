"""`burststudio simulate PRESET [--json] [--out DIR] [--duration S] [--profile P]`: the preset's workload through the
simulated vLLM engine in virtual time, no HTTP. Writes the same run directory and summary as a replay, so `report`,
`compare` and the studio read it unchanged.
"""

from __future__ import annotations

import argparse

from burststudio.commands._number_args import check_number_flags
from burststudio.commands._preset_args import add_set_argument, apply_sets

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
    preset = apply_sets(load_preset(args.preset), args)
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

    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    out = Path(args.out) if args.out else rundir.default_run_dir(f"{preset.name}-sim")
    created = not out.exists()
    if not created:
        rundir.make_empty(out)  # refuses a folder that holds something, before the work
    # Everything else a user can get wrong is read before the run directory exists, so a bad input leaves none.
    get_profile(sim.profile)
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
