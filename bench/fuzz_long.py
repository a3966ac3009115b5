"""The fuzz tests with many more examples than the unit suite runs, and how many cases each property saw.

    .venv/bin/python bench/fuzz_long.py [--examples 2000] [--hang-s 20]

Runs tests/unit/test_fuzz_*.py under pytest with BURSTSTUDIO_FUZZ_EXAMPLES set (the suite's own count is
tests/support/fuzz.py's CI_EXAMPLES) and prints, per property, the examples that passed, failed and were rejected
as invalid (hypothesis statistics), then the totals. Exit status is pytest's: 0 when nothing failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# "- 10 passing, 0 failing, and 1 invalid test cases" (older hypothesis: "10 passing examples, 0 failing examples, ...")
COUNTS = re.compile(r"(\d+) passing(?: examples?)?, (\d+) failing(?: examples?)?,(?: and)? (\d+) invalid")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="examples per property (default 2000)")
    ap.add_argument("--hang-s", type=float, default=20.0, help="an example running longer than this fails")
    ap.add_argument("files", nargs="*", help="fuzz test files (default: tests/unit/test_fuzz_*.py)")
    a = ap.parse_args()
    files = a.files or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "unit").glob("test_fuzz_*.py"))
    env = dict(os.environ, BURSTSTUDIO_FUZZ_EXAMPLES=str(a.examples), BURSTSTUDIO_FUZZ_HANG_S=str(a.hang_s))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--hypothesis-show-statistics", *files], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    per: dict[str, list[int]] = {}
    current = None
    for line in p.stdout.splitlines():
        if line.startswith("tests/") and line.rstrip().endswith(":"):
            current = line.strip().rstrip(":")
            per.setdefault(current, [0, 0, 0])
        m = COUNTS.search(line)
        if m and current:
            for k in range(3):
                per[current][k] += int(m.group(k + 1))
    print(f"{a.examples} examples per property asked; {len(per)} properties; {wall:.0f} s on {os.cpu_count()} cores "
          f"(load {os.getloadavg()[0]:.1f})")
    print(f"{'property':78s} {'passed':>8s} {'failed':>7s} {'invalid':>8s}")
    for name, (ok, bad, invalid) in per.items():
        print(f"{name:78s} {ok:8d} {bad:7d} {invalid:8d}")
    tot = [sum(v[k] for v in per.values()) for k in range(3)]
    print(f"{'total':78s} {tot[0]:8d} {tot[1]:7d} {tot[2]:8d}")
    tail = [ln for ln in p.stdout.splitlines() if re.search(r"\d+ (passed|failed)", ln)]
    print("pytest:", tail[-1] if tail else p.stdout[-500:])
    if p.returncode:
        print(p.stdout[-4000:])
    return p.returncode


if __name__ == "__main__":
    raise SystemExit(main())
