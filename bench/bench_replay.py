"""Replay engine: accuracy and speed against the project's test server in its own process.

    .venv/bin/python bench/bench_replay.py [--seconds 10] [--quick] [--before DIR]

`--keep-awake` keeps every core busy with a lowest-priority loop, which yields to any other work: on a virtual
machine an idle core halts and takes up to milliseconds to wake, and this shows how much of a figure that is.
`--before DIR` runs the same cases with the package found in DIR as well (e.g. the last commit:
`mkdir /tmp/old && git archive HEAD burststudio | tar -x -C /tmp/old`), so before and after share one machine state.

Figures (printed, and meant for docs/performance.md under `## Replay engine`):
  1. TTFT accuracy: a server that answers after 40 ms (spinning for the first token's time, and logging when each
     first token left); at 50 requests/s, each request's measured TTFT against the server's own (first write -
     arrival): the client's measuring error, loopback transit both ways included.
  2. Dispatch lateness at 500 requests/s (Poisson, 64-token streams): p50/p99 as the engine records it, and the lag
     seen at the server (arrival - planned send time, same monotonic clock).
  3. Sustained 1,000 streamed requests/s of 64 tokens: achieved send rate against the requested one. The server runs
     as two processes on one port with a 10 ms write interval (it could not write 64,000 chunks a second alone); the
     engine picks its dispatch shards itself (replay/shard.py).
Each line notes the CPU seconds of the engine (shards included) and of the server: both share this machine's cores.

`vllm bench serve` and AIPerf at the same rates, against the same server: bench/bench_peers.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import cpu_seconds, free_port, wait_healthy  # noqa: E402
PY = sys.executable

from burststudio.workload.model import Workload  # noqa: E402


class Server:
    def __init__(self, ttft: float, token_delay: float, workers: int = 1, write_interval: float = 0.0,
                 precise_first: bool = False):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="bench-arrivals-"))
        self.proc = subprocess.Popen([PY, "-m", "tests.testserver", "--port", str(self.port), "--ttft", str(ttft),
                                      "--token-delay", str(token_delay), "--uvloop", "--workers", str(workers),
                                      "--write-interval", str(write_interval), "--arrivals-dir", str(self.dir)]
                                     + (["--precise-first"] if precise_first else []),
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.url)

    def pids(self) -> list[int]:
        kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid] + [int(k) for k in kids]

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids())

    def stop(self) -> np.ndarray:
        """Stop every server process; returns the arrival times they recorded."""
        self.proc.terminate()
        self.proc.wait(20)
        arr = [np.array(json.loads(f.read_text()), dtype=np.int64) for f in self.dir.glob("arrivals-*.json")]
        return np.sort(np.concatenate(arr)) if arr else np.empty(0, np.int64)

    def server_ttft(self) -> np.ndarray:
        """The server's own TTFT of each request (first token written - arrival, seconds), in arrival order; read
        after stop()."""
        pairs = [json.loads(f.read_text()) for f in self.dir.glob("firsts-*.json")]
        p = np.array([x for part in pairs for x in part], dtype=np.int64).reshape(-1, 2)
        p = p[np.argsort(p[:, 0])]
        return (p[:, 1] - p[:, 0]) / 1e9


def poisson(rate: float, seconds: float, output: int, seed: int = 1) -> Workload:
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    gaps = rng.exponential(1 / rate, n)
    a = np.cumsum(gaps) - gaps[0]
    return Workload.from_columns(a, np.full(n, 100), np.full(n, output))


def run_engine(w: Workload, url: str, out: Path, package_dir: Path = ROOT) -> tuple[dict, float]:
    trace = out.with_suffix(".parquet")
    w.to_parquet(trace)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ, PYTHONPATH=str(package_dir))
    p = subprocess.run([PY, "-m", "burststudio", "replay", str(trace), "--target", url, "--out", str(out),
                        "--json"], cwd=package_dir, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 3):
        raise RuntimeError(p.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(p.stdout.strip().splitlines()[-1]), cpu


def server_lag(out: Path, arrivals_ns: np.ndarray) -> np.ndarray:
    """Arrival at the server - planned send time, k-th arrival against k-th planned time."""
    info = json.loads((out / "run.json").read_text())
    import pyarrow.parquet as pq

    sched = np.sort(pq.read_table(out / "requests.parquet", columns=["scheduled_s"]).column(0).to_numpy())
    planned = info["t0_perf_ns"] + (sched * 1e9).astype(np.int64)
    arr = np.sort(arrivals_ns)[-planned.size:]
    if arr.size != planned.size:  # requests that never reached the server: no honest pairing
        return np.full(1, np.nan)
    return (arr - planned) / 1e9


def ttft_error(out: Path, served: np.ndarray) -> np.ndarray:
    """Measured TTFT - the server's own (its first write - the request's arrival), request by request: the k-th
    request sent against the k-th to arrive (50 requests/s leaves milliseconds between them, so the order holds)."""
    import pyarrow.parquet as pq

    t = pq.read_table(out / "requests.parquet", columns=["sent_s", "first_s"]).to_pandas().dropna()
    t = t.sort_values("sent_s")
    measured = (t["first_s"] - t["sent_s"]).to_numpy()
    if measured.size != served.size:
        return np.full(1, np.nan)
    return measured - served


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each rate run")
    ap.add_argument("--quick", action="store_true", help="2 s runs (a smoke test of the benchmark itself)")
    ap.add_argument("--before", metavar="DIR", default=None, help="also run the package found in DIR (an older one)")
    ap.add_argument("--only", default="ttft,500,1000", help="cases to run: ttft, 500, 1000")
    ap.add_argument("--keep-awake", action="store_true",
                    help="run a nice-19 busy loop per core for the whole benchmark, so no core sits idle: shows how "
                    "much of the figures is the cores' own wake-up from idle (long on a virtual machine)")
    a = ap.parse_args()
    if a.keep_awake:
        import atexit

        spinners = [subprocess.Popen(["nice", "-n", "19", PY, "-c", "while True: pass"])
                    for _ in range(os.cpu_count() or 1)]
        atexit.register(lambda: [p.kill() for p in spinners])
    secs = 2.0 if a.quick else a.seconds
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    versions = [("after", ROOT)] + ([("before", Path(a.before))] if a.before else [])
    cases = a.only.split(",")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; runs in {tmp}")

    for label, pkg in versions:
        if "ttft" not in cases:
            break
        srv = Server(ttft=0.040, token_delay=0.005, precise_first=True)
        try:
            c0 = srv.cpu()
            s, cpu = run_engine(poisson(50, secs, 16), srv.url, tmp / f"ttft-{label}", pkg)
            srv_cpu = srv.cpu() - c0
        finally:
            srv.stop()
        t = s["ttft_s"]
        served = srv.server_ttft()
        err = ttft_error(tmp / f"ttft-{label}", served)
        print(f"[ttft {label}] server TTFT 40 ms (its own first writes: p50 {ms(float(np.median(served)))}, max "
              f"{ms(float(served.max()))}), 50 req/s, {s['finished']} requests: measured p50 {ms(t['p50'])}, p99 "
              f"{ms(t['p99'])}; measured - server's own, per request: p50 {ms(float(np.median(err)))}, p99 "
              f"{ms(float(np.quantile(err, 0.99)))}, max {ms(float(err.max()))}, within 1 ms "
              f"{(np.abs(err) <= 0.001).mean() * 100:.1f}%; engine CPU {cpu:.1f} s, server CPU {srv_cpu:.1f} s; "
              f"load {os.getloadavg()[0]:.1f}", flush=True)

    for rate in (500, 1000):
        if str(rate) not in cases:
            continue
        for label, pkg in versions:
            workers, interval = (2, 0.010) if rate >= 1000 else (1, 0.0)
            srv = Server(ttft=0.040, token_delay=0.002, workers=workers, write_interval=interval)
            out = tmp / f"rate{rate}-{label}"
            try:
                c0 = srv.cpu()
                w = poisson(rate, secs, 64)
                s, cpu = run_engine(w, srv.url, out, pkg)
                srv_cpu = srv.cpu() - c0
            finally:
                arrivals = srv.stop()
            lag = server_lag(out, arrivals)
            shards = json.loads((out / "run.json").read_text()).get("dispatch_shards", 1)
            late = s["dispatch_lateness_s"]
            asked = (len(w) - 1) / w.duration_s
            got = s["throughput"]["sent_per_s"]
            print(f"[rate {rate} {label}] asked {asked:.1f} req/s, sent {got:.1f} req/s ({(got / asked - 1) * 100:+.2f}%), "
                  f"finished {s['finished']}/{s['sent']}, failed {s['failed']} {s['failures_by_class'] or ''}; "
                  f"lateness p50 {ms(late['p50'])} p99 {ms(late['p99'])} max {ms(late['max'])}; lag at server "
                  f"p50 {ms(float(np.median(lag)))} p99 {ms(float(np.quantile(lag, 0.99)))}; "
                  f"TTFT p50 {ms(s['ttft_s']['p50'])} p99 {ms(s['ttft_s']['p99'])}; shards {shards}, server "
                  f"processes {workers} (write interval {interval * 1e3:.0f} ms); engine CPU {cpu:.1f} s, server CPU "
                  f"{srv_cpu:.1f} s over {secs:.0f} s; load {os.getloadavg()[0]:.1f}", flush=True)
    print("[peers] vllm bench serve / AIPerf: see bench/bench_peers.py")


if __name__ == "__main__":
    main()
