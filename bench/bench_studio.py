"""The studio's costs: the Workload screen's preview recompute time, and the studio charting a live replay.

1. Preview: synthesise a workload and compute everything the preview draws (100k and 1M requests).
2. Live: a 200 requests/s Poisson replay (64-token streams) against the test server (tests/testserver.py, its own
   process), the same workload run twice in one invocation: headless (`burststudio replay PRESET --json`) and
   started by the studio (its own process: the app headless at 160x48 via App.run_test, the preset loaded, Start,
   the Replay screen charting and filling the latest-requests table), and headless again with `--events` (its
   stdout drained, drawn by nobody: the engine's event work without the studio). Reported: the engine's dispatch lateness
   (scheduled -> sent) p50/p99/max in both runs and their ratio, which must stay near 1, and the studio process's
   CPU share over the run (its own process only: the engine is a child with its own CPU) with its redraws a second
   (ticks that drew at least one chart). `--before DIR` charts the same replay with an older studio as well (e.g.
   `mkdir /tmp/before && git archive COMMIT burststudio | tar -x -C /tmp/before`), so both share one machine state.
3. Engine side: the CPU the engine spends on the live figures the studio charts (replay.events.LiveStats).

Run: .venv/bin/python bench/bench_studio.py [--seconds 30] [--rate 200] [--rounds 1] [--skip-preview] [--before DIR]
The machine is shared: compare the runs of one round, and repeat rounds to see the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if "--package" in sys.argv:
    sys.path.insert(0, sys.argv[sys.argv.index("--package") + 1])
from benchlib import free_port, wait_healthy  # noqa: E402
PY = sys.executable

from burststudio.studio import preview, workload_actions as actions  # noqa: E402

PRESET = """\
[workload]
name = "studio-bench"
requests = {requests}
seed = 1

[workload.arrivals]
process = "poisson"
rate = {rate}

[workload.prompt]
dist = "fixed"
value = 100

[workload.output]
dist = "fixed"
value = 64

[target]
kind = "url"
url = "{url}"

[replay]
scrape_interval_s = 0.5
"""


def bench_preview() -> None:
    print("1. Preview recompute")
    print("requests  synth+preview median ms  (synth / stats / bins / fit ms)")
    for n in (100_000, 1_000_000):
        totals, parts = [], []
        for _ in range(5 if n <= 100_000 else 3):
            values = dict(actions.GENERATOR_START)
            values["requests"] = n
            t0 = time.perf_counter()
            w = actions.synthesize(actions.spec_from_values(values), seed=0, base_dir=Path.cwd())
            t1 = time.perf_counter()
            p = preview.compute(w)
            totals.append(time.perf_counter() - t0)
            parts.append((t1 - t0, p.timings["stats"], p.timings["bins"], p.timings["fit"]))
        i = totals.index(statistics.median(totals)) if len(totals) % 2 else 0
        s, st, b, f = (x * 1000 for x in parts[i])
        print(f"{n:>9,}  {statistics.median(totals) * 1000:10.1f}  ({s:.1f} / {st:.1f} / {b:.1f} / {f:.1f})")


def bench_live_stats() -> None:
    """What the engine pays for the live figures (replay.events.LiveStats): one second at 200 requests/s of
    64-token streams, i.e. 200 request_ended calls and 4 progress ticks."""
    from types import SimpleNamespace

    from burststudio.replay.events import LiveStats

    ms = 1_000_000
    recs = []
    for i in range(200):
        sent = 10**12 + i * 5 * ms
        first = sent + 40 * ms
        recs.append(SimpleNamespace(i=i, outcome="ok", prompt_tokens=100, completion_tokens=64, sent_ns=sent,
                                    scheduled_ns=sent - ms, first_ns=first, end_ns=first + 63 * 5 * ms,
                                    chunk_ns=[first + k * 5 * ms for k in range(64)]))
    stats = LiveStats()
    times = []
    for rep in range(21):
        t0 = time.perf_counter()
        for k in range(4):
            for r in recs[k * 50:(k + 1) * 50]:
                stats.request_ended(r)
            stats.tick(rep + k * 0.25)
        times.append(time.perf_counter() - t0)
    print("\n3. Engine side: live figures for one second at 200 requests/s (64-token streams)")
    print(f"   {statistics.median(times) * 1000:.2f} ms of CPU per second (median of 21)")


class Server:
    """tests/testserver.py in its own process: first token after 40 ms, then a token every 5 ms."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([PY, "-m", "tests.testserver", "--port", str(self.port), "--ttft", "0.04",
                                      "--token-delay", "0.005", "--uvloop"], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.url)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def lateness(summary: dict) -> dict:
    late = summary["dispatch_lateness_s"]
    return {"p50_ms": late["p50"] * 1e3, "p99_ms": late["p99"] * 1e3, "max_ms": late["max"] * 1e3,
            "sent": summary["sent"], "finished": summary["finished"], "failed": summary["failed"]}


def headless(preset: Path, out: Path) -> dict:
    """`burststudio replay PRESET --json`: the engine alone, as a user runs it without the studio."""
    p = subprocess.run([PY, "-m", "burststudio", "replay", str(preset), "--json", "--out", str(out)], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if p.returncode not in (0, 3):
        raise RuntimeError(f"the engine failed (exit {p.returncode})")
    # --json ends stdout with the summary as one JSON object.
    return lateness(json.loads(p.stdout.strip().splitlines()[-1]))


def headless_events(preset: Path, out: Path) -> dict:
    """`burststudio replay PRESET --events`, its stdout drained as the studio drains it but drawn by nobody: the
    engine's own cost of the live events, apart from the studio's CPU."""
    p = subprocess.run([PY, "-m", "burststudio", "replay", str(preset), "--events", "--out", str(out)], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if p.returncode not in (0, 3):
        raise RuntimeError(f"the engine failed (exit {p.returncode})")
    return lateness(json.loads((out / "summary.json").read_text()))


def studio_run(preset: Path, root: Path) -> dict:
    """In this process: the studio (headless, 160x48) loads the preset, Start replays the whole workload (duration
    0), and the Replay screen charts it. Its own CPU time from RunStarted to RunFinished (the engine is a child
    process with its own)."""
    from burststudio.studio.app import make_app
    from burststudio.studio.config import StudioConfig
    from burststudio.studio.messages import ChartsRedrawn, RunFinished, RunStarted

    marks: dict = {}
    # A message reaches the hook once per node it passes through: count each once (kept, so ids stay unique).
    redraws: dict[int, object] = {}

    def hook(message) -> None:
        if isinstance(message, RunStarted) and "start" not in marks:
            marks["start"] = (time.perf_counter(), time.process_time())
        elif isinstance(message, RunFinished) and "end" not in marks:
            marks["end"] = (time.perf_counter(), time.process_time())
            marks["run"] = message
        elif isinstance(message, ChartsRedrawn) and "start" in marks and "end" not in marks:
            redraws[id(message)] = message

    async def run() -> None:
        config = StudioConfig(root=root, preview_requests=20_000)
        if hasattr(config, "replay_duration_s"):  # an older studio (--before) had no duration field
            config.replay_duration_s = 0.0
        app = make_app(config)
        async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
            screen = app.workload_screen
            screen.load_source("preset", str(preset))
            while not (screen.preset is not None and screen.preview is not None):
                await pilot.pause(0.1)
            await pilot.press("f2")
            await app.run_action("start_replay")
            # Plain sleeps, not Pilot pauses (which wait for the app to go idle): the bench stays out of the figure.
            while "end" not in marks:
                await asyncio.sleep(0.2)

    asyncio.run(run())
    finished = marks["run"]
    if finished.error:
        raise RuntimeError(finished.error)
    wall = marks["end"][0] - marks["start"][0]
    cpu = marks["end"][1] - marks["start"][1]
    summary = json.loads((Path(finished.run_dir) / "summary.json").read_text())
    return {**lateness(summary), "cpu_share": cpu / wall, "wall_s": wall, "redraws_per_s": len(redraws) / wall}


def with_studio(preset: Path, root: Path, package: Path) -> dict:
    """studio_run in its own process, importing the studio from `package` (this tree, or an older one)."""
    env = dict(os.environ, PYTHONPATH=str(package), TEXTUAL_ANIMATIONS="none")
    p = subprocess.run([PY, __file__, "--studio-run", str(preset), str(root), "--package", str(package)], cwd=ROOT,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"the studio run failed: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_live(seconds: float, rate: float, rounds: int, before: Path | None) -> None:
    print(f"\n2. Live replay: Poisson {rate:g} requests/s for {seconds:g} s, 64-token streams, test server"
          f"  (load average {os.getloadavg()[0]:.2f} at the start)")
    server = Server()
    ratios: list[tuple[float, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-studio-") as tmp:
            root = Path(tmp)
            for sub in ("traces", "presets", "runs"):
                (root / sub).mkdir()
            preset = root / "presets" / "studio-bench.toml"
            preset.write_text(PRESET.format(requests=int(rate * seconds), rate=rate, url=server.url))
            print("round  run                 lateness p50 / p99 / max ms   sent   failed   studio CPU   redraws/s")
            for k in range(rounds):
                runs = [("headless --json", headless(preset, root / "runs" / f"headless-{k}")),
                        ("with the studio", with_studio(preset, root, ROOT)),
                        ("headless --events", headless_events(preset, root / "runs" / f"events-{k}"))]
                if before is not None:
                    runs.append(("studio (before)", with_studio(preset, root, before)))
                for name, r in runs:
                    cpu = f"{100 * r['cpu_share']:5.1f}% core" if "cpu_share" in r else " " * 10
                    rd = f"{r['redraws_per_s']:.1f}" if "redraws_per_s" in r else ""
                    print(f"{k + 1:>5}  {name:<18} {r['p50_ms']:8.2f} / {r['p99_ms']:7.2f} / {r['max_ms']:7.2f}"
                          f"   {r['sent']:>5}   {r['failed']:>5}   {cpu}   {rd}")
                alone, studio = runs[0][1], runs[1][1]
                ratio = (studio["p50_ms"] / alone["p50_ms"], studio["p99_ms"] / alone["p99_ms"])
                ratios.append(ratio)
                ev = runs[2][1]
                print(f"       lateness with the studio / headless: p50 {ratio[0]:.2f}, p99 {ratio[1]:.2f}; "
                      f"headless with --events / headless: p99 {ev['p99_ms'] / alone['p99_ms']:.2f}")
    finally:
        server.stop()
    if rounds > 1:
        print(f"   median of the rounds' ratios: p50 {statistics.median(r[0] for r in ratios):.2f}, "
              f"p99 {statistics.median(r[1] for r in ratios):.2f}")
    print(f"   load average {os.getloadavg()[0]:.2f} at the end")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip-preview", action="store_true")
    ap.add_argument("--before", metavar="DIR", type=Path, default=None,
                    help="also chart the replay with the studio found in DIR (an older tree, e.g. from `git archive COMMIT`)")
    ap.add_argument("--studio-run", nargs=2, metavar=("PRESET", "ROOT"), help=argparse.SUPPRESS)
    ap.add_argument("--package", type=Path, default=ROOT, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    if a.studio_run:
        print(json.dumps(studio_run(Path(a.studio_run[0]), Path(a.studio_run[1]))))
        return
    if not a.skip_preview:
        bench_preview()
    bench_live(a.seconds, a.rate, a.rounds, a.before)
    bench_live_stats()


if __name__ == "__main__":
    main()
