"""How fast synthesis is: 1M requests of Gamma arrivals with Zipf lengths, and 1M requests of conversations.

Run: .venv/bin/python bench/bench_synth.py [--requests N] [--repeat K]
Prints one line per case: the best and median wall time of K runs (imports done beforehand) and the best CPU time
of the process (numpy runs these single-threaded, so CPU time is what the work costs when other programs share the
cores). The machine is shared: compare the cases within one run rather than across runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

CASES = {
    "gamma + zipf": {
        "arrivals": {"process": "gamma", "shape": 0.5, "scale": 2.0},
        "prompt": {"dist": "zipf", "theta": 1.1, "min": 10, "max": 32768},
        "output": {"dist": "zipf", "theta": 1.3, "min": 1, "max": 4096},
    },
    "gamma + lognormal, diurnal": {
        "arrivals": {"process": "gamma", "rate": 50.0, "cv": 1.5,
                     "modulation": {"kind": "sinusoid", "period_s": 3600.0, "amplitude": 0.6}},
        "prompt": {"dist": "lognormal", "median": 300, "sigma": 1.0},
        "output": {"dist": "bimodal", "weight": 0.4, "median1": 30, "median2": 400},
    },
    "sessions (poisson starts, 4 turns mean)": {
        "arrivals": {"process": "poisson", "rate": 20.0},
        "prompt": {"dist": "zipf", "theta": 1.1, "min": 10, "max": 2000},
        "output": {"dist": "lognormal", "median": 150, "sigma": 0.8, "max": 2048},
        "sessions": {"shared_prefix_tokens": 1000, "turns": {"dist": "geometric", "mean": 4, "max": 16},
                     "think_time": {"dist": "exponential", "mean_s": 20}},
    },
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from burststudio.workload.synth import synthesize

    synthesize({"requests": 10, **CASES["sessions (poisson starts, 4 turns mean)"]}, seed=0)  # loads scipy too
    print(f"import + first tiny run: {time.perf_counter() - t0:.2f} s")
    for name, parts in CASES.items():
        spec = {"name": name, "requests": args.requests, **parts}
        times, cpu = [], []
        for i in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            w = synthesize(spec, seed=i)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        extra = ""
        if w.has("prefix_blocks"):
            blocks = w.table.column("prefix_blocks")
            extra = f", {len(blocks.combine_chunks().values):,} block ids"
        print(f"{name:40s} {len(w):>9,} rows  wall best {min(times):.3f} s  median {statistics.median(times):.3f} s"
              f"  cpu best {min(cpu):.3f} s{extra}")


if __name__ == "__main__":
    main()
