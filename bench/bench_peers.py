"""BurstStudio's replay engine against `vllm bench serve` and AIPerf: same test server, same rates, one run.

    .venv/bin/python bench/bench_peers.py [--seconds 20] [--rates 50,200,500] [--tools burststudio,vllm,aiperf]
                                          [--overload-rate 1000] [--top-rate 1000] [--trace-rate 500]
                                          [--quick] [--json OUT.json]

The project's test server (tests/testserver.py, through bench/peers/server.py) runs in its own process and answers
every request with its first token 40 ms after arrival and 64 tokens 2 ms apart. It stamps each completion
request's arrival on CLOCK_MONOTONIC, which every process here shares, so the send lag is measured AT THE SERVER:
k-th arrival - k-th planned send time (both sorted; the same comparison for every tool). The planned times come from:
  burststudio  its run directory: run.json `t0_perf_ns` + requests.parquet `scheduled_s`
  vllm         its own gaps and clock start, written down by bench/peers/vllm_bench.py (vLLM saves neither)
  aiperf       Poisson: its `credit_issued_ns` (profile_export.jsonl), the moment its timing service released the
               request; its plan itself is not saved, so lateness of the timing loop is not in this figure.
               Trace: the trace timestamps, anchored at the earliest (issued - timestamp) of the run.
Before the tools run, a plain blocking client at 10 requests/s learns the server's own floor: TTFT overshoot of its
timers and the send-to-arrival time of one request on an idle loop.

Rows: each tool at each rate (interleaved: all tools at one rate, then the next rate), BurstStudio alone at
1,000/s, then a Mooncake-style JSONL trace (Poisson at 500/s, timestamps in ms) replayed by each tool, then the
overload case: each tool at 1,000/s against a second server that holds about half of that (aiohttp's default
accept queue of 128, 64 tokens 4 ms apart, 15 us of CPU per token). Columns: TTFT error p50/p99 (what the tool
measured - 40 ms), lag at the server p50/p99/max, achieved rate at the server against the tool's planned rate,
failed requests, CPU seconds of the client (all its processes) and of the server, the client's CPU in cores over
the load window (first to last arrival at the server, from its process tree sampled every 0.2 s: start-up and
drain left out), the kernel's listen-queue overflows during the run (machine-wide: TcpExtListenOverflows) and the
machine's load average when the row started. A tool that cannot be installed or fails is a row that says so; the
benchmark goes on.

AIPerf is installed on first use into a throwaway venv (bench/out/peers/aiperf-venv), never into the project's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchlib import TreeCpu, cpu_seconds, free_port, wait_healthy  # noqa: E402
PY = sys.executable
OUT = ROOT / "bench" / "out" / "peers"
PEERS = ROOT / "bench" / "peers"
AIPERF_VERSION = "0.13.0"
TTFT_S = 0.040
TOKEN_DELAY_S = 0.002
OVERLOAD_TOKEN_DELAY_S = 0.004
OVERLOAD_CPU_PER_TOKEN_S = 15e-6
OVERLOAD_BACKLOG = 128
OUTPUT_TOKENS = 64
PROMPT_TOKENS = 100
TRACE_PROMPT_TOKENS = 112  # 7 blocks of 16 tokens: the hash-id block size given to vLLM and AIPerf
MODEL = "tiny"


# Machinery --------------------------------------------------------------------------------------------------------
def wall_minus_perf_ns() -> int:
    """CLOCK_REALTIME - CLOCK_MONOTONIC, system-wide: turns the server's stamps into the wall clock AIPerf uses."""
    best = None
    for _ in range(5):
        a = time.perf_counter_ns()
        w = time.time_ns()
        b = time.perf_counter_ns()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) // 2)
    return best[1]


def run_child(cmd: list[str], *, timeout: float, env: dict | None = None, cwd: Path = ROOT,
              log: Path | None = None) -> tuple[int, float, str]:
    """(exit code, CPU seconds of the child and every descendant it reaped, output tail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log or os.devnull, "w") as out:
        p = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        sampler = TreeCpu(p.pid)
        try:
            code = p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 15)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
            code = -999
        finally:
            sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
    return code, cpu, tail


class Server:
    def __init__(self, log: Path, token_delay_s: float = TOKEN_DELAY_S, backlog: int = 4096,
                 cpu_per_token_s: float = 0.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([PY, str(PEERS / "server.py"), "--port", str(self.port), "--ttft", str(TTFT_S),
                                      "--token-delay", str(token_delay_s), "--model", MODEL, "--backlog",
                                      str(backlog), "--cpu-per-token", str(cpu_per_token_s)], cwd=ROOT,
                                     stdout=open(log, "w"), stderr=subprocess.STDOUT)
        wait_healthy(self.url, tries=150)

    def arrivals(self, since: int = 0) -> np.ndarray:
        data = json.loads(urllib.request.urlopen(f"{self.url}/bench/arrivals?since={since}", timeout=30).read())
        return np.array(data["arrivals_ns"], dtype=np.int64)

    def count(self) -> int:
        return json.loads(urllib.request.urlopen(f"{self.url}/bench/arrivals?since=1000000000", timeout=30)
                          .read())["count"]

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no request is running (the next tool must not inherit the last one's streams)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = urllib.request.urlopen(self.url + "/metrics", timeout=5).read().decode()
            running = [ln for ln in text.splitlines() if ln.startswith("vllm:num_requests_running")]
            if running and float(running[0].rsplit(" ", 1)[1]) == 0:
                return
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def listen_overflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full (`nstat -az
    TcpExtListenOverflows` reads the same counter). Machine-wide: other work's servers add to it."""
    with open("/proc/net/netstat") as f:
        head, values = [ln.split() for ln in f.readlines()[:2]]
    return int(values[head.index("ListenOverflows")])


def pct(x, q: float) -> float | None:
    x = np.asarray(x, dtype=float)
    return float(np.quantile(x, q)) if x.size else None


# Schedules --------------------------------------------------------------------------------------------------------
def poisson_arrivals(rate: float, n: int, seed: int) -> np.ndarray:
    """n Poisson arrivals from 0, stretched so the schedule's own rate is exactly `rate` ((n-1)/span), as vLLM
    rescales its gaps to the asked rate: every tool's achieved rate is then read against the same asked figure."""
    gaps = np.random.default_rng(seed).exponential(1 / rate, n)
    a = np.cumsum(gaps) - gaps[0]
    return a * ((n - 1) / rate / a[-1])


def write_trace(path: Path, rate: float, n: int, seed: int) -> np.ndarray:
    """A Mooncake-style JSONL trace (timestamps in ms, 7 hash ids of 16 tokens each, all distinct)."""
    ts_ms = np.round(poisson_arrivals(rate, n, seed) * 1000.0, 3)
    with open(path, "w") as f:
        for i, t in enumerate(ts_ms):
            f.write(json.dumps({"timestamp": float(t), "input_length": TRACE_PROMPT_TOKENS,
                                "output_length": OUTPUT_TOKENS, "hash_ids": list(range(7 * i, 7 * i + 7))}) + "\n")
    return ts_ms / 1000.0


def lag_at_server(planned_ns: np.ndarray, arrivals_ns: np.ndarray) -> np.ndarray:
    """k-th arrival - k-th planned send, in seconds (both sorted; arrivals are the last ones the run caused)."""
    planned = np.sort(planned_ns)
    arr = np.sort(arrivals_ns)[-planned.size:]
    n = min(planned.size, arr.size)
    return (arr[-n:] - planned[-n:]) / 1e9 if n else np.array([])


def rate_of(times_ns: np.ndarray) -> float | None:
    t = np.sort(times_ns)
    return (t.size - 1) / ((t[-1] - t[0]) / 1e9) if t.size > 1 and t[-1] > t[0] else None


# The server's own floor ---------------------------------------------------------------------------------------------
def probe(srv: Server, n: int = 40) -> dict:
    """A blocking one-connection client at 10 requests/s: TTFT overshoot and send-to-arrival on an idle server."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port)
    body = json.dumps({"model": MODEL, "prompt": list(range(PROMPT_TOKENS)), "max_tokens": OUTPUT_TOKENS,
                       "stream": True}).encode()
    ttft, sent = [], []
    since = srv.count()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        while True:
            line = resp.readline()
            if line.startswith(b"data:"):
                ttft.append((time.perf_counter_ns() - t0) / 1e9 - TTFT_S)
                break
        sent.append(t0)
        resp.read()
        time.sleep(0.1)
    conn.close()
    arr = srv.arrivals(since)
    lag = (arr[-n:] - np.array(sent)) / 1e9
    return {"ttft_overshoot_p50_s": pct(ttft, 0.5), "ttft_overshoot_p99_s": pct(ttft, 0.99),
            "send_to_arrival_p50_s": pct(lag, 0.5), "send_to_arrival_p99_s": pct(lag, 0.99)}


# The three tools ----------------------------------------------------------------------------------------------------
def row_base(tool: str, case: str, asked: float, n: int) -> dict:
    return {"tool": tool, "case": case, "asked_per_s": asked, "planned": n, "status": "ok"}


def fill_lag(row: dict, planned_ns: np.ndarray | None, arrivals: np.ndarray, source: str) -> None:
    row["arrived"] = int(arrivals.size)
    row["achieved_per_s"] = rate_of(arrivals)
    if arrivals.size > 1 and TreeCpu.last is not None:
        row["client_cores"] = TreeCpu.last.cores(int(arrivals.min()), int(arrivals.max()))
    if planned_ns is not None and planned_ns.size:
        lag = lag_at_server(planned_ns, arrivals)
        row.update(lag_p50_s=pct(lag, 0.5), lag_p99_s=pct(lag, 0.99), lag_max_s=float(lag.max()) if lag.size else None,
                   planned_per_s=rate_of(planned_ns), lag_source=source)
    if arrivals.size > 2:
        gaps = np.diff(np.sort(arrivals)) / 1e9
        row["arrival_cv"] = float(gaps.std() / gaps.mean())


def run_burststudio(srv: Server, case: str, rate: float, seconds: float, work: Path, trace: Path | None) -> dict:
    from burststudio.workload.model import Workload

    n = int(rate * seconds)
    row = row_base("burststudio", case, rate, n)
    out = work / f"bs-{case}-{int(rate)}"
    shutil.rmtree(out, ignore_errors=True)
    if trace is None:
        src = work / f"bs-{case}-{int(rate)}.parquet"
        Workload.from_columns(poisson_arrivals(rate, n, seed=1), np.full(n, PROMPT_TOKENS),
                              np.full(n, OUTPUT_TOKENS)).to_parquet(src)
    else:
        src = trace
    since = srv.count()
    code, cpu, tail = run_child([PY, "-m", "burststudio", "replay", str(src), "--target", srv.url, "--out", str(out),
                                 "--json"], timeout=seconds * 4 + 120, log=work / f"bs-{case}-{int(rate)}.log")
    row["client_cpu_s"] = cpu
    if code not in (0, 3):
        row["status"] = f"failed (exit {code}): {tail.strip().splitlines()[-1] if tail.strip() else ''}"[:160]
        return row
    summary = json.loads((out / "summary.json").read_text())
    import pyarrow.parquet as pq

    t0 = json.loads((out / "run.json").read_text())["t0_perf_ns"]
    tab = pq.read_table(out / "requests.parquet", columns=["scheduled_s", "outcome"]).to_pydict()
    planned = t0 + (np.array(tab["scheduled_s"]) * 1e9).astype(np.int64)
    fill_lag(row, planned, srv.arrivals(since), "run directory (t0_perf_ns + scheduled_s)")
    t = summary["ttft_s"]
    row.update(ttft_err_p50_s=t["p50"] - TTFT_S if t.get("p50") is not None else None,
               ttft_err_p99_s=t["p99"] - TTFT_S if t.get("p99") is not None else None,
               failed=summary["failed"], finished=summary["finished"],
               own_lag_p99_s=summary["dispatch_lateness_s"]["p99"],
               own_rate_per_s=summary["throughput"].get("sent_per_s"), cancelled=summary["cancelled"],
               not_sent=summary.get("not_sent"), overload_note=(summary.get("overload") or {}).get("note"))
    return row


def run_vllm(srv: Server, case: str, rate: float, seconds: float, work: Path, tok: Path,
             trace: Path | None, trace_s: np.ndarray | None) -> dict:
    n = int(rate * seconds)
    row = row_base("vllm bench serve", case, rate, n)
    tag = f"vllm-{case}-{int(rate)}"
    sched = work / f"{tag}-schedule.json"
    result = work / f"{tag}.json"
    for p in (sched, result):
        p.unlink(missing_ok=True)
    cmd = [PY, str(PEERS / "vllm_bench.py"), "bench", "serve", "--backend", "openai", "--base-url", srv.url,
           "--endpoint", "/v1/completions", "--model", MODEL, "--tokenizer", str(tok), "--num-prompts", str(n),
           "--seed", "1", "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,99",
           "--save-detailed", "--save-result", "--result-dir", str(work), "--result-filename", result.name,
           "--disable-tqdm", "--ready-check-timeout-sec", "0"]
    if trace is None:
        cmd += ["--dataset-name", "random", "--random-input-len", str(PROMPT_TOKENS), "--random-output-len",
                str(OUTPUT_TOKENS), "--request-rate", str(rate)]
    else:
        cmd += ["--dataset-name", "timed_trace", "--dataset-path", str(trace), "--timed-trace-sec-multiplier",
                "0.001", "--timed-trace-chunk-hash-size", "16", "--request-rate", str(rate)]
    since = srv.count()
    code, cpu, tail = run_child(cmd, timeout=seconds * 4 + 300, env={"BENCH_VLLM_SCHEDULE": str(sched)},
                                log=work / f"{tag}.log")
    row["client_cpu_s"] = cpu  # includes its start-up (about 30 s of imports on this machine)
    if code != 0 or not result.exists():
        lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
        row["status"] = f"failed (exit {code}): {lines[-1] if lines else 'no output'}"[:160]
        return row
    res = json.loads(result.read_text())
    s = json.loads(sched.read_text()) if sched.exists() else {}
    planned, source = None, ""
    if s.get("start_perf_ns") is not None:
        if trace_s is None and len(s["draws"]) >= n:
            # get_request's own arithmetic: cumulative gamma gaps, rescaled so the last one lands at n / rate.
            d = np.cumsum(np.array(s["draws"][-n:]))
            d = d * (n / rate / d[-1])
            planned = s["start_perf_ns"] + (d * 1e9).astype(np.int64)
            source = "vLLM's own gaps and start, recorded by the wrapper"
        elif trace_s is not None:
            planned = s["start_perf_ns"] + (trace_s[:n] * 1e9).astype(np.int64)
            source = "trace timestamps from vLLM's recorded start"
    fill_lag(row, planned, srv.arrivals(since), source)
    ttfts = np.array([t for t in res.get("ttfts", []) if t and t > 0])
    row.update(ttft_err_p50_s=pct(ttfts, 0.5) - TTFT_S if ttfts.size else None,
               ttft_err_p99_s=pct(ttfts, 0.99) - TTFT_S if ttfts.size else None,
               failed=res.get("failed"), finished=res.get("completed"), own_rate_per_s=res.get("request_throughput"))
    starts = np.array(res.get("start_times") or [])
    if planned is not None and starts.size:
        own = np.sort((starts * 1e9).astype(np.int64)) - np.sort(planned)[: starts.size]
        row["own_lag_p99_s"] = pct(own / 1e9, 0.99)  # its send stamp - plan (vLLM does not report this itself)
    return row


def ensure_aiperf(log: Path) -> Path:
    """The aiperf command of a throwaway venv under bench/out/peers; installed on first use."""
    venv = OUT / "aiperf-venv"
    exe = venv / "bin" / "aiperf"
    if exe.exists():
        return exe
    shutil.rmtree(venv, ignore_errors=True)
    with open(log, "w") as f:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=f, stderr=subprocess.STDOUT)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"aiperf=={AIPERF_VERSION}"], check=True,
                       stdout=f, stderr=subprocess.STDOUT, timeout=1800)
    if not exe.exists():
        raise RuntimeError("aiperf installed no `aiperf` command")
    return exe


def run_aiperf(srv: Server, case: str, rate: float, seconds: float, work: Path, hf_home: Path,
               trace: Path | None, trace_s: np.ndarray | None) -> dict:
    n = int(rate * seconds)
    row = row_base("aiperf", case, rate, n)
    tag = f"aiperf-{case}-{int(rate)}"
    try:
        exe = ensure_aiperf(work / "aiperf-install.log")
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        row["status"] = f"not installed: {exc}"[:160]
        return row
    art = work / tag
    shutil.rmtree(art, ignore_errors=True)
    cmd = [str(exe), "profile", "--model", MODEL, "--url", srv.url, "--endpoint-type", "completions", "--streaming",
           "--tokenizer", "local/tok", "--random-seed", "1", "--ui", "none", "--output-artifact-dir", str(art)]
    if trace is None:
        cmd += ["--isl", str(PROMPT_TOKENS), "--osl", str(OUTPUT_TOKENS), "--request-rate", str(rate),
                "--arrival-pattern", "poisson", "--request-count", str(n)]
    else:
        cmd += ["--custom-dataset-type", "mooncake_trace", "--input-file", str(trace), "--fixed-schedule",
                "--isl-block-size", "16"]
    since = srv.count()
    code, cpu, tail = run_child(cmd, timeout=seconds * 6 + 300, cwd=work,
                                env={"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}, log=work / f"{tag}.log")
    row["client_cpu_s"] = cpu
    export = art / "profile_export.jsonl"
    if code != 0 or not export.exists():
        lines = [ln for ln in tail.strip().splitlines() if ln.strip()]
        row["status"] = f"failed (exit {code}): {lines[-1] if lines else 'no output'}"[:160]
        return row
    issued, ttft, errors = [], [], 0
    with open(export) as f:
        for line in f:
            rec = json.loads(line)
            md, m = rec.get("metadata", {}), rec.get("metrics", {})
            if md.get("benchmark_phase", "profiling") != "profiling":
                continue
            issued.append(md.get("credit_issued_ns"))
            if rec.get("error"):
                errors += 1
            elif "time_to_first_token" in m:
                ttft.append(m["time_to_first_token"]["value"] / 1e3)
    arrivals = srv.arrivals(since)
    off = wall_minus_perf_ns()
    issued_perf = np.array([x for x in issued if x], dtype=np.int64) - off
    if trace_s is None:
        planned, source = issued_perf, "its credit_issued_ns (its own plan is not saved)"
    else:
        rel = np.sort(issued_perf) - (np.sort(trace_s[: issued_perf.size]) * 1e9).astype(np.int64)
        planned = int(rel.min()) + (np.sort(trace_s[: issued_perf.size]) * 1e9).astype(np.int64)
        source = "trace timestamps, anchored at its earliest credit"
    fill_lag(row, planned, arrivals, source)
    summary = json.loads((art / "profile_export_aiperf.json").read_text())
    c2s = summary.get("credit_to_start_latency") or {}
    row.update(ttft_err_p50_s=pct(ttft, 0.5) - TTFT_S if ttft else None,
               ttft_err_p99_s=pct(ttft, 0.99) - TTFT_S if ttft else None, failed=errors, finished=len(ttft),
               own_lag_p99_s=c2s["p99"] / 1e3 if "p99" in c2s else None,
               own_rate_per_s=(summary.get("request_throughput") or {}).get("avg"))
    return row


def guarded(fn, tool: str, case: str, rate: float, seconds: float, srv: Server, *args) -> dict:
    cpu0 = srv.cpu()
    drops0 = listen_overflows()
    load1 = os.getloadavg()[0]
    wall0 = time.monotonic()
    TreeCpu.last = None
    try:
        row = fn(srv, case, rate, seconds, *args)
    except Exception as exc:  # noqa: BLE001 (a broken tool is a row of the table, not the end of the benchmark)
        row = row_base(tool, case, rate, int(rate * seconds))
        row["status"] = f"error: {type(exc).__name__}: {exc}"[:160]
        traceback.print_exc(file=sys.stderr)
    row["server_cpu_s"] = srv.cpu() - cpu0
    row["listen_overflows"] = listen_overflows() - drops0
    row["load1"] = load1
    row["wall_s"] = time.monotonic() - wall0
    try:
        srv.wait_idle()
    except OSError:
        pass
    print(f"  {fmt_row(row)}", flush=True)
    return row


# The table ----------------------------------------------------------------------------------------------------------
def ms(x) -> str:
    """Milliseconds, or seconds marked `s` from 10 s up."""
    return "-" if x is None else f"{x * 1e3:.1f}" if abs(x) < 10 else f"{x:.1f} s"


def fmt_row(r: dict) -> str:
    if r["status"] != "ok":
        return f"{r['tool']:<17} {r['case']:<8} {r['asked_per_s']:>6.0f}  {r['status']}"
    ach, plan = r.get("achieved_per_s"), r.get("planned_per_s") or r["asked_per_s"]
    dev = f"{(ach / plan - 1) * 100:+.1f}%" if ach else "-"
    return (f"{r['tool']:<17} {r['case']:<8} {r['asked_per_s']:>6.0f} {ach or 0:>9.1f} {dev:>7} "
            f"{ms(r.get('ttft_err_p50_s')):>7} {ms(r.get('ttft_err_p99_s')):>7} "
            f"{ms(r.get('lag_p50_s')):>7} {ms(r.get('lag_p99_s')):>8} {ms(r.get('lag_max_s')):>8} "
            f"{r.get('failed', '-')!s:>6} {r.get('client_cpu_s', 0):>7.1f} "
            f"{r.get('server_cpu_s', 0):>7.1f} {_num(r.get('client_cores'), 2):>6} {r.get('listen_overflows', '-')!s:>6} "
            f"{r.get('wall_s', 0):>6.0f} {r.get('load1', 0):>5.2f}" + ("" if r.get("arrived") == r["planned"] else
                                                  f"  ({r.get('arrived')} of {r['planned']} arrived)"))


def _num(x, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


HEADER = (f"{'tool':<17} {'case':<8} {'asked':>6} {'achieved':>9} {'vs plan':>7} {'TTFTe50':>7} {'TTFTe99':>7} "
          f"{'lag50':>7} {'lag99':>8} {'lagmax':>8} {'failed':>6} {'cli CPU':>7} {'srv CPU':>7} {'cores':>6} "
          f"{'ovflow':>6} {'wall':>6} {'load':>5}")
UNITS = ("(rates in requests/s at the server; TTFT error = measured - 40 ms and lag at the server in ms; CPU in "
         "seconds, the client's including its start-up; cores: the client's CPU over the load window; ovflow: listen-"
         "queue overflows on the machine during the row; wall: seconds the row took; load: 1-minute load average "
         "at its start)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    ap.add_argument("--rates", default="50,200,500")
    ap.add_argument("--tools", default="burststudio,vllm,aiperf")
    ap.add_argument("--top-rate", type=float, default=1000.0, help="BurstStudio alone (0: skip)")
    ap.add_argument("--trace-rate", type=float, default=500.0, help="the timestamped trace's rate (0: skip)")
    ap.add_argument("--overload-rate", type=float, default=1000.0,
                    help="every tool at this rate against a server that holds about half of it (0: skip)")
    ap.add_argument("--quick", action="store_true", help="3 s runs: a smoke test of the benchmark itself")
    ap.add_argument("--json", type=Path, default=None, help="also write every row as JSON here")
    a = ap.parse_args()
    secs = 3.0 if a.quick else a.seconds
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    rates = [float(r) for r in a.rates.split(",") if r.strip()]
    work = OUT / ("quick" if a.quick else "run")
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} (shared: figures are noisy; compare "
          f"within one run); work in {work}", flush=True)

    tok = hf_home = None
    try:
        sys.path.insert(0, str(PEERS))
        from tokenizer import build

        tok, hf_home = build(OUT)
    except Exception as exc:  # noqa: BLE001
        print(f"tokenizer: could not be built ({exc}); vllm and aiperf rows will fail", flush=True)

    srv = Server(work / "server.log")
    rows: list[dict] = []
    floor: dict = {}
    try:
        floor = probe(srv)
        print(f"server floor (blocking client, 10 requests/s), ms: TTFT overshoot p50 "
              f"{ms(floor['ttft_overshoot_p50_s'])} p99 {ms(floor['ttft_overshoot_p99_s'])}; send-to-arrival p50 "
              f"{ms(floor['send_to_arrival_p50_s'])} p99 {ms(floor['send_to_arrival_p99_s'])}", flush=True)
        print(HEADER, flush=True)

        def one(tool: str, case: str, rate: float, trace: Path | None = None, trace_s=None) -> None:
            if tool == "burststudio":
                rows.append(guarded(run_burststudio, tool, case, rate, secs, srv, work, trace))
            elif tool == "vllm":
                rows.append(guarded(run_vllm, "vllm bench serve", case, rate, secs, srv, work, tok, trace, trace_s))
            elif tool == "aiperf":
                rows.append(guarded(run_aiperf, tool, case, rate, secs, srv, work, hf_home, trace, trace_s))

        for rate in rates:
            for tool in tools:
                one(tool, "poisson", rate)
        if a.top_rate > 0 and "burststudio" in tools:
            one("burststudio", "poisson", a.top_rate)
        if a.trace_rate > 0:
            trace = work / f"mooncake-{int(a.trace_rate)}.jsonl"
            trace_s = write_trace(trace, a.trace_rate, int(a.trace_rate * secs), seed=2)
            for tool in tools:
                one(tool, "trace", a.trace_rate, trace, trace_s)
    finally:
        srv.stop()
    if a.overload_rate > 0:
        srv = Server(work / "server-overload.log", token_delay_s=OVERLOAD_TOKEN_DELAY_S, backlog=OVERLOAD_BACKLOG,
                     cpu_per_token_s=OVERLOAD_CPU_PER_TOKEN_S)
        try:
            for tool in tools:
                one(tool, "overload", a.overload_rate)
        finally:
            srv.stop()

    print()
    print(UNITS)
    print(HEADER)
    for r in rows:
        print(fmt_row(r))
    print("lag sources: " + "; ".join(sorted({f"{r['tool']} {r['case']}: {r['lag_source']}" for r in rows
                                                if r.get("lag_source")})))
    own = [f"{r['tool']} {r['case']} {r['asked_per_s']:.0f}/s {ms(r['own_lag_p99_s'])}" for r in rows
           if r.get("own_lag_p99_s") is not None]
    print("the tools' own send-lag p99 in ms (BurstStudio: dispatch lateness; vLLM: its send stamp - plan; AIPerf: "
          "credit_to_start_latency): " + "; ".join(own))
    if a.json:
        a.json.write_text(json.dumps({"floor": floor, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
