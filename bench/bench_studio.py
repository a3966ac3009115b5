"""The Workload screen's preview recompute time: synthesise a workload and compute everything the preview draws.

Run: .venv/bin/python bench/bench_studio.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from burststudio.studio import core, preview


def _spec(requests: int) -> dict:
    values = dict(core.GENERATOR_START)
    values["requests"] = requests
    return core.spec_from_values(values)


def main() -> None:
    print("requests  synth+preview median ms  (synth / stats / bins / fit ms)")
    for n in (100_000, 1_000_000):
        totals, parts = [], []
        for _ in range(5 if n <= 100_000 else 3):
            t0 = time.perf_counter()
            w = core.synthesize(_spec(n), seed=0, base_dir=Path.cwd())
            t1 = time.perf_counter()
            p = preview.compute(w)
            totals.append(time.perf_counter() - t0)
            parts.append((t1 - t0, p.timings["stats"], p.timings["bins"], p.timings["fit"]))
        i = totals.index(statistics.median(totals)) if len(totals) % 2 else 0
        s, st, b, f = (x * 1000 for x in parts[i])
        print(f"{n:>9,}  {statistics.median(totals) * 1000:10.1f}  ({s:.1f} / {st:.1f} / {b:.1f} / {f:.1f})")


if __name__ == "__main__":
    main()
