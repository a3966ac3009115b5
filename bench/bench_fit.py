"""Statistics and fitting speed on a BurstGPT_1-sized workload (1.4M requests).

    .venv/bin/python bench/bench_fit.py [--rows N]

Builds a BurstGPT-shaped workload in memory (Gamma shape 0.5 gaps with an hourly rate profile over about 61 days,
lognormal lengths, two models, two log types, 5% failed), then times `summarize`, `fit_workload` with 20-minute
windows (what `burststudio fit` computes) and `burststudio fit --json` end to end on the workload saved as Parquet.
The machine's cores are shared, so single figures are noisy: compare ratios taken in one run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from burststudio.workload.fit import fit_workload
from burststudio.workload.model import Workload, WorkloadMeta
from burststudio.workload.stats import summarize


def burstgpt_like(n: int, seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    gaps = rng.gamma(0.5, 2.0 * 3.75, n - 1)  # mean gap 3.75 s: 1.4M requests in about 61 days
    a = np.concatenate([[0.0], np.cumsum(gaps)])
    # An hourly rate profile: time-rescale each hour by a factor between 0.3 and 1.7.
    hours = int(a[-1] // 3600) + 1
    speed = rng.uniform(0.3, 1.7, hours)
    edges = np.concatenate([[0.0], np.cumsum(3600.0 / speed)])
    h = np.minimum((a // 3600).astype(np.int64), hours - 1)
    a = edges[h] + (a - h * 3600.0) / speed[h]
    failed = rng.random(n) < 0.05
    prompt = np.maximum(1, rng.lognormal(6.3, 1.0, n)).astype(np.int64)
    output = np.where(failed, 0, np.maximum(1, rng.lognormal(5.5, 0.9, n))).astype(np.int64)
    return Workload.from_columns(
        a, prompt, output, WorkloadMeta(name="burstgpt_like"), model=rng.choice(["ChatGPT", "GPT-4"], n, p=[0.8, 0.2]),
        source=rng.choice(["Conversation log", "API log"], n), failed=failed)


def timed(fn, repeat: int = 3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_400_000)
    args = ap.parse_args()
    w = burstgpt_like(args.rows)
    print(f"workload: {len(w):,} requests over {w.duration_s / 86400:.1f} days")
    t_sum, s = timed(lambda: summarize(w))
    print(f"summarize: {t_sum:.3f} s (best of 3); CV {s['interarrival_cv']:.2f}, IDC(60 s) {s['idc']['60s']:.2f}")
    t_fit, f = timed(lambda: fit_workload(w, 1200.0), repeat=2)
    print(f"fit_workload, 20-minute windows ({len(f['windows']):,} windows): {t_fit:.2f} s (best of 2); "
          f"best over all: {f['interarrival']['best']}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.parquet"
        w.to_parquet(path)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "burststudio", "fit", str(path), "--json"], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"burststudio fit --json on the Parquet file, end to end: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
