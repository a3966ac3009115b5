"""Loading speed: `burststudio inspect FILE --json` on BurstGPT-sized files, and `burststudio --help` start-up.

Generates under bench/out/ (gitignored, reused when present):
- a 1,429,737-row CSV shaped like BurstGPT_1.csv (6 columns, integer timestamps over 61 days, ties within seconds),
- a 5,344,016-row CSV shaped like BurstGPT_3.csv (8 columns, float timestamps from ~19,440,110 s, Session IDs,
  Elapsed time, about 7% failures).
Each command runs as a subprocess, interpreter start-up included; peak memory is the child's max RSS.

    .venv/bin/python bench/bench_inspect.py [--repeat N] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent / "burststudio"
ROWS_1 = 1_429_737
ROWS_3 = 5_344_016


def _make(path: Path, rows: int, *, layout8: bool, seed: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    days = 110 if layout8 else 61
    start = 19_440_110 if layout8 else 5
    # Gamma inter-arrivals (shape 0.5: bursty, CV ~1.4) scaled to the span, floored to whole seconds like the source.
    gaps = rng.gamma(0.5, 2.0, rows)
    ts = np.floor(start + np.cumsum(gaps) * (days * 86400 / gaps.sum()))
    api = rng.random(rows) < (0.45 if layout8 else 0.3)
    fail_p = np.where(api, 0.076, 0.008) if layout8 else np.full(rows, 0.018)
    failed = rng.random(rows) < fail_p
    req = np.minimum(rng.zipf(1.1, rows), 1500).astype(np.int64) * 20
    resp = np.minimum(rng.zipf(1.1, rows), 250).astype(np.int64) * 15
    req[failed & (rng.random(rows) < 0.7)] = 0
    resp[failed] = 0
    model = np.where(rng.random(rows) < 0.8, "ChatGPT", "GPT-4")
    log = np.where(api, "API log", "Conversation log")
    cols: dict[str, object] = {"Timestamp": ts if layout8 else ts.astype(np.int64)}
    if layout8:
        pool = np.array([str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(200_000)])
        sid = pool[rng.integers(0, pool.size, rows)].astype(object)
        sid[api] = None
        cols["Session ID"] = pa.array(sid, type=pa.string())
        cols["Elapsed time"] = np.where(failed, 0, np.ceil(resp / 40 + rng.random(rows) * 3)).astype(np.int64)
    cols.update({"Model": model, "Request tokens": req, "Response tokens": resp, "Total tokens": req + resp,
                 "Log Type": log})
    table = pa.table(cols)
    tmp = path.with_suffix(".tmp")
    with pa.OSFile(str(tmp), "wb") as sink:
        # The published files have an unquoted header line.
        sink.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"))
    tmp.replace(path)


def ensure(path: Path, rows: int, *, layout8: bool, seed: int) -> Path:
    if not path.exists():
        t = time.perf_counter()
        print(f"generating {path.name} ({rows:,} rows)...", flush=True)
        _make(path, rows, layout8=layout8, seed=seed)
        print(f"  done in {time.perf_counter() - t:.1f} s, {path.stat().st_size / 1e6:.0f} MB", flush=True)
    return path


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, the child's max RSS in MB, stdout) of one run."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        # wait4 reports the resources of this one child, not a running maximum over all children.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.read().strip()}")
        return wall, usage.ru_maxrss / 1024, out.read()


def best_of(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [timed(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the best time is reported")
    parser.add_argument("--skip-large", action="store_true", help="skip the 5.3M-row file")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}; best of {args.repeat}")

    help_s, help_rss, _ = best_of([str(BIN), "--help"], max(args.repeat, 5))
    print(f"burststudio --help: {help_s:.3f} s (target < 0.5 s)")

    f1 = ensure(OUT / "burstgpt1_like.csv", ROWS_1, layout8=False, seed=1)
    t1, rss1, out1 = best_of([str(BIN), "inspect", str(f1), "--json"], args.repeat)
    summary = json.loads(out1)
    print(f"inspect {summary['requests']:,} rows (BurstGPT_1-shaped, {f1.stat().st_size / 1e6:.0f} MB): "
          f"{t1:.2f} s, peak RSS {rss1:.0f} MB (target <= 6 s, aim 3 s)")

    if not args.skip_large:
        f3 = ensure(OUT / "burstgpt3_like.csv", ROWS_3, layout8=True, seed=3)
        t3, rss3, out3 = best_of([str(BIN), "inspect", str(f3), "--json"], args.repeat)
        summary = json.loads(out3)
        print(f"inspect {summary['requests']:,} rows (BurstGPT_3-shaped, 8 columns, {f3.stat().st_size / 1e6:.0f} MB): "
              f"{t3:.2f} s, peak RSS {rss3:.0f} MB (aim < 1.5 GB)")


if __name__ == "__main__":
    main()
