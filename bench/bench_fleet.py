"""Figures of a two-replica CPU vLLM fleet (presets/vllm-cpu-fleet.toml), real and simulated.

    .venv/bin/python bench/bench_fleet.py [--out bench/out/fleet] [--sim-only]

Starts the preset's two replicas once and prints:
  1. start-up (launch to both healthy, then the router) and memory (RSS of every process group);
  2. fidelity: the preset's burst through the replicas with client round-robin routing (so every request knows its
     replica), against `simulate` of the same fleet and policy: per-replica TTFT p50/p99, E2E p50, KV peak,
     preemptions, rejections and error %;
  3. policies: a bursty conversation workload (shared prefixes per conversation) through round-robin,
     least-outstanding and prefix affinity, real and simulated: goodput, imbalance, prefix-cache hit rate;
  4. the preset's burst through vllm-router (per-replica figures from the replicas' counters).
Two shared cores: the figures move with the machine's other work (the load average is printed).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from burststudio.presets import load_preset, preset_from_dict  # noqa: E402
from burststudio.replay.runner import run_replay  # noqa: E402
from burststudio.replay.simulated import simulate_to_run_dir  # noqa: E402
from burststudio.targets.fleet import Fleet  # noqa: E402
from burststudio.targets.router import RouterTarget  # noqa: E402
from burststudio.targets.supervise import group_members  # noqa: E402
from burststudio.targets.vllm import VllmTarget  # noqa: E402

PRESET = ROOT / "presets" / "vllm-cpu-fleet.toml"
POLICIES = ("round_robin", "least_outstanding", "prefix")
SLO_TTFT_S = 1.0

# Conversations whose starts come in bursts: each turn repeats its conversation so far (prefix blocks of 64 tokens),
# no system prompt shared by all (a shared first block would send every request to one replica under prefix
# affinity, docs/fleets.md).
CONVERSATIONS = {
    "name": "fleet-conversations", "duration_s": 20.0, "seed": 1,
    "arrivals": {"process": "windowed_gamma", "windows": [
        {"duration_s": 4.0, "rate": 1.0, "cv": 1.0}, {"duration_s": 2.0, "rate": 40.0, "cv": 1.5},
        {"duration_s": 14.0, "rate": 1.0, "cv": 1.0}]},
    "prompt": {"dist": "lognormal", "median": 120.0, "sigma": 0.3, "min": 16, "max": 200},
    "output": {"dist": "lognormal", "median": 48.0, "sigma": 0.3, "min": 8, "max": 96},
    "sessions": {"block_tokens": 64, "shared_prefix_tokens": 0, "max_context_tokens": 512,
                 "turns": {"dist": "geometric", "mean": 4.0, "max": 8},
                 "think_time": {"dist": "exponential", "mean_s": 1.5}},
}


class Lent(Fleet):
    """The started replicas lent to one replay: its start and stop leave them running."""

    def start(self, run_dir=None, progress=None) -> None:
        pass

    def wait_healthy(self, timeout_s: float) -> None:
        pass

    def stop(self) -> None:
        pass


def rss_mib(pgids) -> float:
    kib = 0
    for pgid in pgids:
        for pid in group_members(pgid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        kib += int(line.split()[1])
            except OSError:
                pass
    return kib / 1024


def fmt(x, scale=1.0, digits=0) -> str:
    return "-" if x is None else f"{x * scale:.{digits}f}"


def err_pct(real, sim) -> str:
    if real is None or sim is None or real == 0:
        return "-"
    return f"{100 * (sim - real) / real:+.0f}%"


def replica_rows(s) -> dict:
    return {r["replica"]: r for r in s.get("replicas") or []}


def fidelity_table(real, sim) -> None:
    print("| replica | figure | real | simulated | error |\n|---|---|---|---|---|")
    rr, sr = replica_rows(real), replica_rows(sim)
    for name in sorted(rr):
        a, b = rr[name], sr.get(name, {})
        for label, get, scale, digits in (
                ("TTFT p50 ms", lambda r: (r.get("ttft_s") or {}).get("p50"), 1e3, 0),
                ("TTFT p99 ms", lambda r: (r.get("ttft_s") or {}).get("p99"), 1e3, 0),
                ("E2E p50 s", lambda r: (r.get("e2e_s") or {}).get("p50"), 1, 2),
                ("KV peak", lambda r: r.get("kv_cache_usage_peak"), 1, 2),
                ("preemptions", lambda r: r.get("preemptions"), 1, 0),
                ("rejections", lambda r: r.get("rejections"), 1, 0)):
            x, y = get(a), get(b)
            print(f"| {name} | {label} | {fmt(x, scale, digits)} | {fmt(y, scale, digits)} | {err_pct(x, y)} |")


def policy_line(kind, policy, s) -> str:
    g = (s.get("goodput") or {}).get("share")
    imb = s.get("imbalance") or {}
    hit = s.get("prefix_cache_hit_rate")
    return (f"| {policy} | {kind} | {fmt(g, 100, 0)}% | {fmt(imb.get('overall'), 1, 2)} | "
            f"{fmt(imb.get('busy'), 1, 2)} | {fmt(hit, 100, 0)}% | {fmt(s['ttft_s'].get('p99'), 1e3, 0)} | "
            f"{s['failed']} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "fleet"))
    ap.add_argument("--sim-only", action="store_true")
    a = ap.parse_args()
    out = Path(a.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    print(f"load average at the start: {os.getloadavg()[0]:.2f}; run directories under {out}")
    preset = load_preset(PRESET)
    conv = preset_from_dict({"workload": CONVERSATIONS, "target": {"kind": "url"},
                             "replay": {"scrape_interval_s": 0.2, "burst_window_s": 2.0, "slo_ttft_s": SLO_TTFT_S}})
    conv.target.sim = copy.deepcopy(preset.target.sim)
    burst, talk = preset.build_workload(), conv.build_workload()
    print(f"preset burst: {len(burst)} requests; conversations: {len(talk)} requests")

    sims = {}
    for policy in POLICIES:
        conv.target.route = policy
        sims[policy] = simulate_to_run_dir(conv, talk, conv.target.sim, out / f"sim-conv-{policy}")
    preset.target.route = "round_robin"
    sims["burst"] = simulate_to_run_dir(preset, burst, preset.target.sim, out / "sim-burst-rr")
    if a.sim_only:
        reals = {}
    else:
        reals = real_runs(preset, conv, burst, talk, out)
    if "burst" in reals:
        print("\n### Fidelity: the preset's burst, client round-robin, real against simulated")
        fidelity_table(reals["burst"], sims["burst"])
    print("\n### Policies: bursty conversations, two replicas")
    print("| policy | run | goodput (TTFT <= 1 s) | imbalance overall | imbalance busy | prefix-cache hits | "
          "TTFT p99 ms | failed |\n|---|---|---|---|---|---|---|---|")
    for policy in POLICIES:
        if policy in reals:
            print(policy_line("real", policy, reals[policy]))
        print(policy_line("simulated", policy, sims[policy]))
    if "router" in reals:
        s = reals["router"]
        print("\n### The preset through vllm-router (round_robin), per-replica figures from the replicas' counters")
        print(f"finished {s['finished']} of {s['sent']}, failed {s['failed']}, imbalance {s['imbalance']}")
        for r in s["replicas"]:
            print(f"  replica {r['replica']}: {r['requests']} finished, KV peak {fmt(r['kv_cache_usage_peak'], 1, 2)}, "
                  f"waiting peak {fmt(r['waiting_peak'])}, preemptions {fmt(r['preemptions'])}, "
                  f"rejections {fmt(r['rejections'])}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


def real_runs(preset, conv, burst, talk, out: Path) -> dict:
    settings = preset.target.vllm
    members = []
    for k in range(settings.replicas):
        one = copy.deepcopy(settings)
        one.replicas = 1
        members.append(VllmTarget(one))
        members[-1].bind_replica(k, settings.replicas)
    names = [str(k) for k in range(len(members))]
    reals: dict = {}
    router = None
    t0 = time.monotonic()
    try:
        for name, m in zip(names, members):
            m.start(out / "fleet" / f"replica-{name}")
        for m in members:
            m.wait_healthy(settings.startup_timeout_s)
        up = time.monotonic() - t0
        print(f"\n### Start-up and memory\nboth replicas healthy {up:.1f} s after launch; "
              f"{rss_mib([m.pgid for m in members]):.0f} MiB resident (both process groups)")
        t1 = time.monotonic()
        router = RouterTarget(settings, members)
        router.start(out / "fleet")
        router.wait_healthy(60)
        print(f"vllm-router healthy {time.monotonic() - t1:.1f} s after its launch; fleet with router "
              f"{rss_mib([m.pgid for m in members] + [router._supervised.proc.pid]):.0f} MiB resident")
        client = Lent("vllm", members, names)
        preset.target.route = "round_robin"
        reals["burst"] = run_replay(burst, preset.target, preset.replay, name="fleet-burst-rr",
                                    run_dir=out / "real-burst-rr", target=client).summary
        for policy in POLICIES:
            conv.target.route = policy
            reals[policy] = run_replay(talk, conv.target, conv.replay, name=f"fleet-conv-{policy}",
                                       run_dir=out / f"real-conv-{policy}", target=Lent("vllm", members, names)
                                       ).summary
        reals["router"] = run_replay(burst, preset.target, preset.replay, name="fleet-burst-router",
                                     run_dir=out / "real-burst-router",
                                     target=Lent("vllm", members, names, front=router)).summary
    finally:
        t2 = time.monotonic()
        if router is not None:
            router.stop()
        for m in members:
            m.stop()
        print(f"fleet stopped in {time.monotonic() - t2:.1f} s")
    return reals


if __name__ == "__main__":
    raise SystemExit(main())
