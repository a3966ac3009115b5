"""How fast the simulator runs: simulated requests per wall second and virtual seconds per wall second.

    .venv/bin/python bench/bench_sim.py [--repeat N] [--profile P]

Workload: an hour of burstgpt-paper traffic (Gamma arrivals shape 0.5 scale 2 s, Zipf lengths), built from
presets/burstgpt-paper.toml, then the same hour with its arrivals compressed 4x and 16x (heavier load: fewer
stretches of pure decode to jump over). Engine: the preset's [target.sim] defaults (cpu-tiny, 16 x 128-token blocks,
8 sequences). Figures are the best of N runs; the machine is shared, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", default=None,
                    help="cost profile instead of the preset's (e.g. cpu-tiny-calibrated: with the API server stage)")
    args = ap.parse_args()

    from burststudio.presets import load_preset
    from burststudio.replay.plan import build_plan
    from burststudio.targets.sim.engine import simulate_plan
    from burststudio.workload import transform

    preset = load_preset(ROOT / "presets" / "burstgpt-paper.toml")
    base = preset.build_workload()
    sim = preset.target.sim
    if args.profile:
        import dataclasses

        sim = dataclasses.replace(sim, profile=args.profile)
    print(f"burstgpt-paper: {len(base)} requests over {base.duration_s:.0f} s; engine {sim.profile}, "
          f"{sim.num_blocks} blocks x {sim.block_size}, max_num_seqs {sim.max_num_seqs}")
    print(f"{'load':>10} {'tokens':>7} {'requests':>9} {'virtual s':>10} {'wall s':>8} {'req/s wall':>11} "
          f"{'virtual/wall':>13} {'steps':>9} {'jumps':>7} {'preempt':>8}")
    for scale in (1.0, 0.25, 0.0625):
        w = base if scale == 1.0 else transform.time_scale(base, scale)
        plan = build_plan(w, preset.replay, model="sim", vocab_size=32000, max_model_len=sim.max_model_len)
        for record in (False, True):
            best = None
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = simulate_plan(plan, sim, record_tokens=record)
                wall = time.perf_counter() - t0
                if best is None or wall < best[0]:
                    best = (wall, res)
            wall, res = best
            n = len(res.requests)
            print(f"{f'{1 / scale:g}x rate':>10} {'kept' if record else 'no':>7} {n:>9} {res.duration_s:>10.0f} "
                  f"{wall:>8.3f} {n / wall:>11.0f} {res.duration_s / wall:>12.0f}x {res.counters.steps:>9} "
                  f"{res.counters.jumps:>7} {res.counters.preemptions:>8}")


if __name__ == "__main__":
    main()
