"""The shared report at size: file size and time to write `report RUN --html` for runs of 1k, 10k and 100k requests
(64 streamed tokens each, bursts, 3% failures, /metrics every 0.5 s), and the time headless Chromium takes to draw
the page (navigation start to the last chart drawn, from the page's own clock).

    .venv/bin/python bench/bench_report.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from burststudio import rundir  # noqa: E402
from burststudio.replay import recorder  # noqa: E402


def make_run(d: Path, n: int) -> Path:
    """A run directory of `n` requests over n/50 seconds, a burst in its second fifth, written by the recorder."""
    rng = np.random.default_rng(3)
    span = n / 50
    arrivals = np.sort(np.r_[rng.uniform(0, span, n - n // 4), rng.uniform(0.2 * span, 0.3 * span, n // 4)])
    rec = recorder.Recorder(d)
    rec.write_run_info({"format": rundir.RUN_INFO_FORMAT, "name": f"bench-{n}", "started_at": "2026-01-01T00:00:00",
                        "complete": True, "reason": "done", "target": {"kind": "url", "url": "http://127.0.0.1:1"},
                        "plan": {"planned": n}, "settings": {"burst_window_s": 2.0}})
    burst = (arrivals > 0.2 * span) & (arrivals < 0.3 * span)
    for i, t in enumerate(arrivals):
        ttft = 0.05 + rng.exponential(0.5 if burst[i] else 0.03)
        failed = rng.uniform() < 0.03
        chunks = [] if failed else (np.cumsum(np.r_[ttft, rng.uniform(0.01, 0.03, 63)]) * 1e6).astype(int).tolist()
        rec.sent(i, float(t))
        rec.ended({"i": i, "row": i, "outcome": "http_503" if failed else "ok", "status": 503 if failed else 200,
                   "scheduled_s": float(t), "sent_s": float(t), "first_s": None if failed else float(t + ttft),
                   "end_s": float(t + (chunks[-1] / 1e6 if chunks else 0.01)), "chunks_us": chunks,
                   "prompt_tokens": 100, "output_tokens": 64, "usage_completion_tokens": None if failed else 64,
                   "chunk_tokens": len(chunks)})
    for k in range(int(span / 0.5) + 1):
        tk = k * 0.5
        load = float(np.mean((arrivals > tk - 5) & (arrivals <= tk))) * 20
        rec.sample({"t": tk, "kv_cache_usage": min(1.0, load), "running": int(8 * min(1, load)),
                    "waiting": int(max(0, load - 1) * 30), "preemptions_total": k // 10})
    rec.close()
    rundir.build_summary(d, write=True)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    from tests.support.browser import find_chromium, open_page

    chromium = find_chromium()
    print(f"{'requests':>9} {'journal MB':>10} {'write s':>8} {'page MB':>8} {'draw ms':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            run = make_run(Path(tmp) / f"run-{n}", n)
            page = Path(tmp) / f"run-{n}.html"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "burststudio", "report", str(run), "--html", str(page)], check=True,
                           capture_output=True)
            wrote = time.perf_counter() - t0
            drawn = "-"
            if chromium:
                load = open_page(page, {"ms": "document.body.getAttribute('data-drawn-ms')"}, settle_s=0.2)
                drawn = load.values["ms"] if not load.errors else f"errors: {load.errors[:1]}"
            print(f"{n:>9} {(run / recorder.JOURNAL).stat().st_size / 1e6:>10.1f} {wrote:>8.2f} "
                  f"{page.stat().st_size / 1e6:>8.2f} {drawn:>8}")
    print(json.dumps({"chromium": chromium}))


if __name__ == "__main__":
    main()
