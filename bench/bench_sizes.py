"""Work without bounds: each input of docs/reliability.md's "Sizes" table through the command a user runs, with its
wall time, its own peak RSS (wait4) and the line it ends with.

    .venv/bin/python bench/bench_sizes.py [--code DIR] [--cap-gb 4] [--only NAME]

`--code DIR` runs another checkout (e.g. one from before the limits) with PYTHONPATH=DIR; `--cap-gb` caps each
command's address space (RLIMIT_AS) so that a run without the limits fails at the cap instead of taking the
machine. The inputs are made in a temporary folder (the gzip takes about 35 s to write: 2 GB through gzip -1).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LENGTHS = '[workload.prompt]\ndist = "fixed"\nvalue = 10\n\n[workload.output]\ndist = "fixed"\nvalue = 10\n'


def run(args: list[str], code: Path, cap_gb: float, timeout: float = 300) -> tuple[int, str, float, float]:
    """(exit code, last stderr line, wall s, peak RSS MB)."""
    env = {**os.environ, "PYTHONPATH": str(code)}

    def cap() -> None:
        if cap_gb:
            limit = int(cap_gb * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "burststudio", *args], cwd=code, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=cap)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        err.seek(0)
        lines = [x for x in err.read().decode("utf-8", "replace").splitlines() if x.strip()]
    return proc.returncode, (lines[-1] if lines else ""), wall, usage.ru_maxrss / 1024


def inputs(tmp: Path) -> dict[str, tuple[list[str], object]]:
    """name -> (command line, a function that makes what it needs, or None)."""
    def preset(name: str, text: str) -> Path:
        p = tmp / name
        p.write_text(text)
        return p

    def bomb() -> None:
        with open(tmp / "bomb.csv.gz", "wb") as out:
            sh = ('(echo arrival_s,prompt_tokens,output_tokens; yes 0.5,100,100 | head -n 170000000) | gzip -1')
            subprocess.run(["bash", "-c", sh], stdout=out, check=True)

    def big_preset() -> None:
        values = ", ".join(["1.0"] * 14_000_000)
        preset("big.toml", '[workload]\nduration_s = 60.0\n[workload.arrivals]\nprocess = "poisson"\nrate = 1.0\n'
               f'[workload.arrivals.modulation]\nkind = "profile"\nvalues = [{values}]\n' + LENGTHS)

    def slow_profile() -> None:
        from burststudio.targets.sim.costmodel import PROFILES

        data = {k: v for k, v in PROFILES["cpu-tiny"].to_dict().items() if k != "name"}
        data["base_s"] = 1e6
        (tmp / "slow.json").write_text(json.dumps(data))

    sim = preset("sim.toml", '[workload]\nrequests = 1000\n[workload.arrivals]\nprocess = "poisson"\nrate = 10.0\n'
                 + LENGTHS + '[target]\nkind = "sim"\n')
    rate = preset("rate.toml", '[workload]\nduration_s = 3600.0\n[workload.arrivals]\nprocess = "poisson"\n'
                  'rate = 1e9\n' + LENGTHS)
    duration = preset("duration.toml", '[workload]\nduration_s = 1e12\n[workload.arrivals]\nprocess = "poisson"\n'
                      'rate = 1.0\n' + LENGTHS)
    out = str(tmp / "out.parquet")
    return {
        "closed loop, users = 100000000": (["replay", "CLOSED", "--out", str(tmp / "closed")], None),
        "cost profile base_s = 1e6": (["simulate", str(sim), "--profile", str(tmp / "slow.json"), "--out",
                                       str(tmp / "slow")], slow_profile),
        "9.9 MB gzip of 2.04 GB of rows": (["convert", str(tmp / "bomb.csv.gz"), "-o", out], bomb),
        "70 MB preset": (["synth", str(tmp / "big.toml"), "-o", out], big_preset),
        "rate = 1e9 for an hour": (["synth", str(rate), "-o", out], None),
        "duration_s = 1e12": (["synth", str(duration), "-o", out], None),
        "FIFO trace with a writer": (["inspect", str(tmp / "fifo.csv")], None),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    ap.add_argument("--cap-gb", type=float, default=0.0, help="address-space cap of each command (GB; 0: none)")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this")
    args = ap.parse_args()
    from tests.support.faults import FaultServer
    from tests.support.replay import workload

    print(f"code {args.code}; cap {args.cap_gb or 'none'} GB; load {os.getloadavg()[0]:.2f}")
    print(f"{'case':34} {'exit':>4} {'wall s':>8} {'peak MB':>8}  last line")
    with tempfile.TemporaryDirectory() as d, FaultServer({"ttft_s": 0.002, "token_delay_s": 0.001}) as srv:
        tmp = Path(d)
        trace = tmp / "w.parquet"
        workload(40, gap_s=0.0, prompt=20, output=2).to_parquet(trace)
        closed = tmp / "closed.toml"
        closed.write_text(f'[workload]\ntrace = "{trace}"\n[target]\nkind = "url"\nurl = "{srv.url}"\n'
                          '[replay]\nmode = "closed"\nusers = 100000000\n')
        fifo = tmp / "fifo.csv"
        os.mkfifo(fifo)
        for name, (cmd, make) in inputs(tmp).items():
            if args.only and args.only not in name:
                continue
            if make is not None:
                make()
            cmd = [str(closed) if c == "CLOSED" else c for c in cmd]
            writer = None
            if "FIFO" in name:
                writer = subprocess.Popen(["bash", "-c", f"while true; do printf 'arrival_s,prompt_tokens,"
                                           f"output_tokens\\n0,1,1\\n' > {fifo}; done"])
            try:
                code, line, wall, peak = run(cmd, args.code, args.cap_gb, timeout=20 if writer else 300)
            finally:
                if writer is not None:
                    writer.kill()
                    writer.wait()
            print(f"{name:34} {code:>4} {wall:>8.2f} {peak:>8.0f}  {line[:150]}", flush=True)


if __name__ == "__main__":
    main()
