"""How far the simulator is from the real engine: the same presets replayed on the managed CPU vLLM and simulated.

    .venv/bin/python bench/bench_fidelity.py [--profile P | --calibrate] [--presets a,b,c] [--out DIR]
                                             [--url URL] [--sim-only]

Before each replay the server is warmed up (a few rounds of requests of the presets' shape): the table compares
steady behaviour, not the server's first requests after start-up. The simulator is run on the arrivals the real
server saw (the real client's send times; on a busy 2-core machine the client sends late and in clumps under a
burst); the simulation at the preset's schedule is printed beside it. A third table gives the share of streams the
client received whole, at their end.

One managed vLLM (CPU build, tiny model) is started with the kv-pressure engine settings (16 KV blocks of 128
tokens, max_num_seqs 8, max_num_batched_tokens 512, max_model_len 512, prefix caching, at most 24 requests queued),
the simulator gets the same settings, and each preset's first DURATIONS[name] seconds are replayed on the one and
simulated on the other. `--calibrate` first calibrates the cost model on that same server (as `burststudio
calibrate` does) and simulates with the result; otherwise `--profile` (default cpu-tiny) is used. Prints one table:
TTFT p50/p99, E2E p50, KV-cache peak, preemptions and rejections, real against simulated, with the relative error.

The machine has 2 cores shared with other work: the load average before and after each replay is printed, since
a busy machine slows the real engine and its API server (not the simulator). Run directories go under --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The kv-pressure engine (presets/vllm-cpu-kv-pressure.toml): small enough that bursts fill the KV cache.
ENGINE = dict(max_model_len=512, max_num_seqs=8, max_num_batched_tokens=512, enable_prefix_caching=True,
              max_num_queued_reqs=24)
KV_BYTES = "1M"  # 16 blocks of 128 tokens of the tiny model
NUM_BLOCKS, BLOCK_SIZE = 16, 128
# Long enough for each preset's shape: steady state; the first on-period of on-off-bursts (seed 0) and the calm
# after it; the flash crowd at 120 s, its peak and most of its decay.
DURATIONS = {"steady-poisson": 60.0, "on-off-bursts": 150.0, "flash-crowd": 200.0}
FIGURES = (("TTFT p50 (ms)", "ttft_s", "p50", 1e3), ("TTFT p99 (ms)", "ttft_s", "p99", 1e3),
           ("E2E p50 (ms)", "e2e_s", "p50", 1e3), ("KV-cache peak", "kv_cache_usage_peak", None, 1.0),
           ("preemptions", "preemptions", None, 1.0), ("rejections", "admission_rejections", None, 1.0))
LATENCY = {"ttft_s", "e2e_s"}


def figure(summary: dict, key: str, stat: str | None, scale: float) -> float | None:
    v = summary.get(key)
    if stat is not None:
        v = (v or {}).get(stat)
    return None if v is None else float(v) * scale


def rel_error(real: float | None, sim: float | None) -> str:
    if real is None or sim is None:
        return "n/a"
    if real == 0:
        return "0" if sim == 0 else "n/a"
    return f"{(sim - real) / real * 100:+.0f}"


def fmt(v: float | None, key: str) -> str:
    if v is None:
        return "n/a"
    if key in LATENCY:
        return f"{v:.1f}"
    if key == "kv_cache_usage_peak":
        return f"{v:.2f}"
    return f"{v:.0f}"


# The server's own latency histograms: vLLM stamps the first token in the engine core, so these leave out the time
# the API server takes to deliver the stream (on the busy machine its stalls dominate the client's TTFT).
SERVER_HISTOGRAMS = {"ttft": "vllm:time_to_first_token_seconds", "e2e": "vllm:e2e_request_latency_seconds"}


def scrape_buckets(url: str) -> dict[str, list[tuple[float, float]]]:
    """Cumulative (upper bound, count) buckets of the TTFT and E2E histograms, summed over engines."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for key, name in SERVER_HISTOGRAMS.items():
            if family.name != name:
                continue
            acc: dict[float, float] = {}
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    le = float(sample.labels["le"])
                    acc[le] = acc.get(le, 0.0) + sample.value
            out[key] = sorted(acc.items())
    return out


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Quantile of a cumulative histogram, linear within the bucket (as Prometheus' histogram_quantile)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0.0)
        prev_le, prev_c = le, c
    return prev_le


def delta_buckets(after, before):
    return {k: [(le, c - dict(before.get(k, [])).get(le, 0.0)) for le, c in v] for k, v in after.items()}


def sim_buckets(run_dir: Path, bounds: dict[str, list[float]]) -> dict[str, list[tuple[float, float]]]:
    """The simulated run's engine-side TTFT and E2E (first and last token as the engine made them, before the
    modelled API server delivers them) put in the server's buckets, so both sides are read alike."""
    import numpy as np

    ttft, e2e = [], []
    with open(run_dir / "journal.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") != "end" or rec.get("engine_first_s") is None:
                continue
            # vLLM stamps a request's arrival when its API server hands it to the engine, after any wait there
            t0 = rec.get("engine_arrival_s", rec["sent_s"])
            ttft.append(rec["engine_first_s"] - t0)
            if rec.get("engine_end_s") is not None:
                e2e.append(rec["engine_end_s"] - t0)
    values = {"ttft": np.array(ttft), "e2e": np.array(e2e)}
    return {k: [(le, float(np.sum(values[k] <= le))) for le in bounds[k]] for k in bounds}


def real_sent_times(real_dir: Path):
    """Per planned request, when the real client sent it (NaN if never, or if it never reached the server)."""
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(real_dir / "requests.parquet", columns=["i", "sent_s", "outcome"])
    sent = np.full(int(df["i"].max()) + 1 if len(df) else 0, np.nan)
    # A connection the server had already closed (keep-alive race) carried no request to vLLM: not an arrival.
    df = df[df["outcome"] != "connection"]
    sent[df["i"].to_numpy()] = df["sent_s"].to_numpy()
    return sent


def held_share(run_dir: Path) -> float:
    """Share of finished requests whose whole stream reached the client at once, at its end."""
    import pandas as pd

    df = pd.read_parquet(run_dir / "requests.parquet", columns=["outcome", "chunks_us"])
    chunks = [c for o, c in zip(df["outcome"], df["chunks_us"]) if o == "ok" and c is not None and len(c) > 1]
    return sum(1 for c in chunks if c[-1] - c[0] < 2000) / len(chunks) if chunks else 0.0


def start_vllm(out: Path):
    from burststudio.settings import VllmSettings
    from burststudio.targets.vllm import VllmTarget

    settings = VllmSettings(model="tiny", build="cpu", kv_cache_memory_bytes=KV_BYTES, enforce_eager=True,
                            startup_timeout_s=600.0, **ENGINE)
    target = VllmTarget(settings)
    t0 = time.monotonic()
    target.start(run_dir=out, progress=lambda s: print(f"  vLLM: {s}", file=sys.stderr, flush=True))
    target.wait_healthy(600.0)
    print(f"vLLM healthy in {time.monotonic() - t0:.0f} s at {target.url}", file=sys.stderr)
    return target


def warm_up(url: str, rounds: int = 3) -> float:
    """A few rounds of requests shaped like the presets' (8 at once: ~200-token prompts, 64 tokens out) before a
    replay, so that its first seconds measure the server in steady state rather than its first requests after start-up
    or after the previous replay's calm (a run's cold first seconds gave steady-poisson's p99)."""
    import asyncio
    import random

    import aiohttp

    from burststudio.targets.sim import calibrate as cal

    rng = random.Random(1)

    async def go() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            for _ in range(rounds):
                await asyncio.gather(*[cal._stream(session, url, "tiny", [rng.randrange(32000) for _ in range(200)],
                                                   64) for _ in range(ENGINE["max_num_seqs"])])

    t0 = time.monotonic()
    asyncio.run(go())
    time.sleep(1.0)  # let the last requests' metrics settle and the machine go quiet again
    return time.monotonic() - t0


def calibrate(url: str, out: Path):
    from burststudio.targets.sim import calibrate as cal

    limits = cal.ServerLimits(max_model_len=ENGINE["max_model_len"], max_batch=ENGINE["max_num_seqs"],
                              max_batched_tokens=ENGINE["max_num_batched_tokens"], block_size=BLOCK_SIZE,
                              kv_blocks=NUM_BLOCKS)
    plan = cal.measurement_plan(limits)
    m = cal.measure(url, "tiny", plan, limits)
    profile, report = cal.fit_profile(m.observations, name="cpu-calibrated", api_segments=m.api_segments, wake=m.wake,
                                      overheads=m.overheads,
                                      description="kv-pressure engine settings, measured by bench_fidelity.py",
                                      suggested=dict(ENGINE, num_blocks=NUM_BLOCKS, block_size=BLOCK_SIZE))
    profile = dataclasses.replace(profile, sources=cal.profile_sources(limits, "vllm-cpu", m, report,
                                                                       os.getloadavg()))
    path = out / "cpu-calibrated.json"
    profile.save(path)
    print(f"calibrated in {m.seconds:.1f} s: " + ", ".join(cal.fmt_profile(profile)), file=sys.stderr)
    for line in report.lines():
        print("  " + line, file=sys.stderr)
    return str(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="cpu-tiny", help="cost profile for the simulator (name or .json)")
    ap.add_argument("--calibrate", action="store_true", help="calibrate on the same server first and use that")
    ap.add_argument("--presets", default=",".join(DURATIONS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "fidelity"))
    ap.add_argument("--url", default=None, help="use this running server (with the same engine settings)")
    ap.add_argument("--sim-only", action="store_true", help="only simulate (to look at what each preset does)")
    ap.add_argument("--real-from", metavar="DIR", default=None,
                    help="take the real side from an earlier run of this script (its timestamped folder) instead "
                    "of replaying: to try another profile against the same replays")
    args = ap.parse_args()

    from burststudio.replay.simulated import simulate_to_run_dir
    from burststudio.presets import load_preset
    from burststudio.replay.runner import run_replay
    from burststudio.settings import SimSettings

    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    target = None
    url = args.url
    if not args.sim_only and url is None and not args.real_from:
        target = start_vllm(out)
        url = target.url
    rows = []
    extra_rows = []
    try:
        profile = calibrate(url, out) if args.calibrate and url else args.profile
        sim_settings = SimSettings(profile=profile, num_blocks=NUM_BLOCKS, block_size=BLOCK_SIZE, **ENGINE)
        for name in names:
            preset = load_preset(ROOT / "presets" / f"{name}.toml")
            preset.replay = dataclasses.replace(preset.replay, duration_s=DURATIONS.get(name, 60.0),
                                                scrape_interval_s=0.25)
            preset.target = dataclasses.replace(preset.target, sim=sim_settings)
            workload = preset.build_workload()
            t0 = time.perf_counter()
            sim = simulate_to_run_dir(preset, workload, sim_settings, out / f"{name}-sim")
            sim_wall = time.perf_counter() - t0
            sim_sched = sim
            real = None
            load = None
            if url:
                warm = warm_up(url)
                print(f"  warmed the server up in {warm:.1f} s", file=sys.stderr)
                load0 = os.getloadavg()[0]
                before = scrape_buckets(url)
                res = run_replay(workload, dataclasses.replace(preset.target, kind="url", url=url), preset.replay,
                                 name=name, resolved_toml=preset.resolved_toml(), run_dir=out / f"{name}-real",
                                 target_url=url, on_notice=lambda m: print(f"  {m}", file=sys.stderr))
                real = res.summary
                load = (load0, os.getloadavg()[0])
                server = delta_buckets(scrape_buckets(url), before)
                (out / f"{name}-real" / "server_histograms.json").write_text(json.dumps(server))
            elif args.real_from:
                real_dir = Path(args.real_from) / f"{name}-real"
                real = json.loads((real_dir / "summary.json").read_text())
                hist = real_dir / "server_histograms.json"
                server = {k: [tuple(x) for x in v] for k, v in json.loads(hist.read_text()).items()} \
                    if hist.exists() else {}
            if real is not None:
                # The client on this 2-core machine sends late under a burst (its own dispatch lateness, seconds at
                # the peaks), in clumps: simulate the arrivals the server saw, so the table compares the server,
                # not the load generator. The schedule's own simulation is kept beside it.
                sent = real_sent_times(real_dir if args.real_from else out / f"{name}-real")
                sim = simulate_to_run_dir(preset, workload, sim_settings, out / f"{name}-sim", sent_s=sent)
                simb = sim_buckets(out / f"{name}-sim", {k: [le for le, _ in v] for k, v in server.items()})
                for key, label in (("ttft", "TTFT p50 at the server (ms)"), ("e2e", "E2E p50 at the server (ms)")):
                    if key in server:
                        extra_rows.append((name, label, bucket_quantile(server[key], 0.5) * 1e3,
                                           bucket_quantile(simb[key], 0.5) * 1e3))
            rows.append((name, real, sim, load, sim_wall, sim_sched))
            print(f"{name}: simulated {sim['sent']} requests in {sim_wall:.2f} s"
                  + (f"; replayed, load average {load[0]:.1f} -> {load[1]:.1f}" if load else ""), file=sys.stderr)
    finally:
        if target is not None:
            target.stop()

    print(f"profile: {profile}")
    print("| preset | figure | real | simulated | error % |")
    print("|---|---|---|---|---|")
    table = []
    for name, real, sim, load, _, _ in rows:
        for label, key, stat, scale in FIGURES:
            r = figure(real, key, stat, scale) if real else None
            s = figure(sim, key, stat, scale)
            print(f"| {name} | {label} | {fmt(r, key)} | {fmt(s, key)} | {rel_error(r, s)} |")
            table.append({"preset": name, "figure": label, "real": r, "sim": s})
    if extra_rows:
        print()
        print("vLLM's own histograms (first token stamped in the engine core; simulated values put in the same "
              "buckets):")
        print("| preset | figure | real | simulated | error % |")
        print("|---|---|---|---|---|")
        for name, label, r, sv in extra_rows:
            print(f"| {name} | {label} | {r:.1f} | {sv:.1f} | {rel_error(r, sv)} |")
            table.append({"preset": name, "figure": label, "real": r, "sim": sv})
    if any(real for _, real, *_ in rows):
        print()
        print("The same, simulated at the preset's schedule (the arrivals a client that keeps time would make):")
        print("| preset | figure | real | simulated | error % |")
        print("|---|---|---|---|---|")
        for name, real, _, _, _, sched in rows:
            for label, key, stat, scale in FIGURES:
                r = figure(real, key, stat, scale) if real else None
                s = figure(sched, key, stat, scale)
                print(f"| {name} | {label} | {fmt(r, key)} | {fmt(s, key)} | {rel_error(r, s)} |")
                table.append({"preset": name, "figure": label + " (at the schedule)", "real": r, "sim": s})
        print()
        print("Streams the client received whole at their end (first token no earlier than 2 ms before the last):")
        for name, real, *_ in rows:
            if real:
                shares = [held_share(out / f"{name}-sim")]
                real_dir = Path(args.real_from) / f"{name}-real" if args.real_from else out / f"{name}-real"
                shares.insert(0, held_share(real_dir))
                print(f"  {name}: real {shares[0] * 100:.0f}%, simulated {shares[1] * 100:.0f}%")
                table.append({"preset": name, "figure": "streams received whole (%)", "real": shares[0] * 100,
                              "sim": shares[1] * 100})
    for name, real, sim, load, _, _ in rows:
        extra = (f"load average {load[0]:.1f} -> {load[1]:.1f}; " if load else "")
        print(f"{name}: {extra}sent {sim['sent']}, sim finished {sim['finished']}"
              + (f", real finished {real['finished']} failed {real['failed']} {real.get('failures_by_class')}"
                 if real else ""))
    (out / "fidelity.json").write_text(json.dumps({"profile": profile, "rows": table}, indent=2))
    print(f"runs: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
