"""Soak: a long replay at a steady 500 requests/s against the test server, both in their own processes.

    .venv/bin/python bench/bench_soak.py [--minutes 10] [--rate 500] [--output 8]

Figures (printed, and meant for docs/reliability.md under `## Soak`):
  - the replay process's resident memory (VmRSS from /proc, every `--every` seconds): at the end of the warm-up
    (the first minute, or a fifth of a shorter run), its peak while sending, and the growth between the two;
    the aim is under 50 MB of growth. The peak of the summary phase after the last request (the journal read back
    into one table) is shown apart, since it is bounded by the run's length, not by time.
  - dispatch lateness (sent - scheduled) per minute of schedule, p50 / p99 / max: flat means the last minutes are
    no later than the first;
  - the journal read back: every planned request has its `end` line, and `sent == finished + failed + cancelled`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import free_port, wait_healthy  # noqa: E402
PY = sys.executable

from burststudio.replay import recorder  # noqa: E402
from burststudio.workload.model import Workload  # noqa: E402


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively (the replay's dispatch shards, above one process's rate)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def start_server(ttft: float, token_delay: float, preexec=None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # Only the replay's memory is measured; --uvloop keeps the server's CPU share small on two shared cores.
    proc = subprocess.Popen([PY, "-m", "tests.testserver", "--port", str(port), "--ttft", str(ttft),
                             "--token-delay", str(token_delay), "--uvloop"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, tries=200)
    except RuntimeError:
        proc.kill()
        raise
    return proc, url


def poisson(rate: float, seconds: float, output: int, seed: int = 7) -> Workload:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds * 1.1) + 10
    gaps = rng.exponential(1 / rate, n)
    a = np.cumsum(gaps) - gaps[0]
    a = a[a < seconds]  # whole minutes only, so the last minute of lateness is a full one
    n = a.size
    return Workload.from_columns(a, np.full(n, 64), np.full(n, output))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the schedule (default 10)")
    ap.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    ap.add_argument("--output", type=int, default=8, help="streamed tokens per request (default 8)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between two RSS samples (default 2)")
    ap.add_argument("--out", default=None, help="run directory (default: a new temporary directory)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of the server and the replay (negative needs root): on a machine shared with other "
                         "work, keeps the figures about the replay rather than about the neighbours")
    a = ap.parse_args()
    seconds = a.minutes * 60
    warm_s = min(60.0, seconds / 5)
    tmp = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench-soak-"))
    tmp.mkdir(parents=True, exist_ok=True)
    w = poisson(a.rate, seconds, a.output)
    trace = tmp / "soak.parquet"
    w.to_parquet(trace)
    run_dir = tmp / "run"
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, nice {a.nice}; {len(w):,} requests over "
          f"{seconds:.0f} s at {a.rate:g}/s, {a.output} tokens each; run in {run_dir}", flush=True)

    preexec = (lambda: os.nice(a.nice)) if a.nice else None
    server, url = start_server(ttft=0.02, token_delay=0.002, preexec=preexec)
    samples: list[tuple[int, float]] = []  # (perf_counter_ns, RSS MB of the replay and its shards)
    engine_only: list[float] = []
    shards = 0
    try:
        t_start = time.monotonic()
        t_start_ns = time.perf_counter_ns()
        proc = subprocess.Popen([PY, "-m", "burststudio", "replay", str(trace), "--target", url, "--out",
                                 str(run_dir), "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=preexec)
        while proc.poll() is None:
            rss = rss_mb(proc.pid)
            if rss is not None:
                kids = descendants(proc.pid)
                shards = max(shards, len(kids))
                samples.append((time.perf_counter_ns(), rss + sum(rss_mb(k) or 0.0 for k in kids)))
                engine_only.append(rss)
            time.sleep(a.every)
        out, err = proc.communicate()
        wall = time.monotonic() - t_start
    finally:
        server.terminate()
        server.wait(10)
    if not out.strip():
        print(f"the replay exited with {proc.returncode}: {err.strip()[-500:]}")
        return 1
    summary = json.loads(out.strip().splitlines()[-1])
    if proc.returncode not in (0, 3):
        print(f"the replay exited with {proc.returncode}: {err.strip().splitlines()[-1]}")

    # perf_counter is CLOCK_MONOTONIC on Linux, the clock of the replay's `t0_perf_ns`: samples map onto the schedule.
    info = json.loads((run_dir / "run.json").read_text())
    t0 = int(info["t0_perf_ns"])
    records, sent = recorder.read_journal(run_dir)
    sched = np.array([r["scheduled_s"] for r in records])
    late = np.array([r["sent_s"] - r["scheduled_s"] for r in records])
    startup_s = (t0 - t_start_ns) / 1e9
    t_sched = np.array([(t - t0) / 1e9 for t, _ in samples])
    mem = np.array([m for _, m in samples])
    sending = (t_sched >= warm_s) & (t_sched <= seconds)
    warm_rss = float(np.interp(warm_s, t_sched, mem)) if mem.size else float("nan")
    peak_sending = float(mem[sending].max()) if sending.any() else float("nan")
    last_sending = float(mem[sending][-1]) if sending.any() else float("nan")
    after = t_sched > seconds
    peak_after = float(mem[after].max()) if after.any() else float("nan")

    eng = np.array(engine_only)
    eng_growth = float(eng[sending].max() - np.interp(warm_s, t_sched, eng)) if sending.any() else float("nan")
    print(f"\n[memory] replay process + {shards} dispatch shard(s), summed. RSS at the end of the {warm_s:.0f} s warm-up {warm_rss:.1f} MB; while sending: peak "
          f"{peak_sending:.1f} MB, last {last_sending:.1f} MB; growth after warm-up {peak_sending - warm_rss:+.1f} MB "
          f"(peak) / {last_sending - warm_rss:+.1f} MB (last) (aim < 50 MB); summary phase peak {peak_after:.1f} MB; "
          f"{len(samples)} samples every {a.every:g} s; the engine process alone grew {eng_growth:+.1f} MB")
    by_min = [f"{m}: {mem[(t_sched >= m * 60) & (t_sched < (m + 1) * 60)].max():.0f}"
              for m in range(int(seconds // 60)) if ((t_sched >= m * 60) & (t_sched < (m + 1) * 60)).any()]
    print(f"[memory] RSS peak MB by minute of schedule: {', '.join(by_min)}")
    minute = np.floor(sched / 60).astype(int)
    print("[lateness] per minute of schedule: minute  requests  p50 ms  p99 ms  max ms")
    p99s = []
    for m in range(int(minute.max()) + 1 if minute.size else 0):
        sel = late[minute == m]
        if not sel.size:
            continue
        p50, p99 = np.quantile(sel, [0.5, 0.99])
        p99s.append(p99)
        print(f"           {m:6d}  {sel.size:8d}  {p50 * 1e3:6.2f}  {p99 * 1e3:6.2f}  {sel.max() * 1e3:6.1f}")
    if p99s:
        print(f"[lateness] p99 by minute: first {p99s[0] * 1e3:.2f} ms, last {p99s[-1] * 1e3:.2f} ms, "
              f"highest {max(p99s) * 1e3:.2f} ms, lowest {min(p99s) * 1e3:.2f} ms; last / first "
              f"{p99s[-1] / p99s[0]:.2f}")
    n = len(w)
    complete = len(records) == n and len(sent) == n
    ident = summary["sent"] == summary["finished"] + summary["failed"] + summary["cancelled"]
    size = (run_dir / recorder.JOURNAL).stat().st_size / 1e6
    print(f"[journal] {len(records):,} end lines, {len(sent):,} sent, of {n:,} planned ({size:.0f} MB): "
          f"{'complete' if complete else 'INCOMPLETE'}; summary sent {summary['sent']:,} = finished "
          f"{summary['finished']:,} + failed {summary['failed']:,} + cancelled {summary['cancelled']:,}: "
          f"{'holds' if ident else 'BROKEN'}; failures {summary['failures_by_class'] or 'none'}")
    tp = summary["throughput"]
    print(f"[run] sent {tp['sent_per_s']:.1f} req/s, TTFT p50 {summary['ttft_s']['p50'] * 1e3:.1f} ms; wall "
          f"{wall:.0f} s (start-up {startup_s:.1f} s, summary phase included); t0 {info.get('t0_perf_ns')}")
    return 0 if complete and ident and proc.returncode in (0, 3) else 1


if __name__ == "__main__":
    raise SystemExit(main())
