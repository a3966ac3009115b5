"""Figures of the managed vLLM engine (CPU build, bundled tiny model, the kv-pressure preset's 16-block cache).

    .venv/bin/python bench/bench_vllm.py

Starts one server and prints: start-up time (launch to /health 200, with the time of each stage), memory (RSS
of the whole process group), single-stream TTFT, generated tokens/s with 8 sequences, what the kv-pressure preset's
20 s replay shows, and how long stop() takes. Two shared cores: figures move with the machine's other work.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from burststudio.presets import load_preset  # noqa: E402
from burststudio.replay.runner import run_replay  # noqa: E402
from burststudio.targets.supervise import group_members
from burststudio.targets.vllm import VllmTarget  # noqa: E402

PRESET = ROOT / "presets" / "vllm-cpu-kv-pressure.toml"


def group_rss_mib(pgid: int) -> tuple[float, int]:
    total_kib = 0
    pids = group_members(pgid)
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024, len(pids)


async def stream(session, url: str, prompt: list[int], out_tokens: int) -> tuple[float, float, int]:
    """(ttft_s, e2e_s, completion tokens) of one streamed token-id completion."""
    body = {"model": "tiny", "prompt": prompt, "max_tokens": out_tokens, "min_tokens": out_tokens,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    ttft = None
    tokens = 0
    async with session.post(url + "/v1/completions", json=body) as resp:
        resp.raise_for_status()
        async for raw in resp.content:
            line = raw.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and ttft is None:
                ttft = time.perf_counter() - t0
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return ttft or float("nan"), time.perf_counter() - t0, tokens


def prompt(i: int, n: int) -> list[int]:
    # Distinct prompts, so the prefix cache does not shorten the prefill.
    return [(1000 + 97 * i + j) % 31000 + 3 for j in range(n)]


async def client_figures(url: str) -> dict[str, float]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        await stream(session, url, prompt(0, 64), 8)  # warm-up
        ttfts = []
        for i in range(20):
            ttft, _, _ = await stream(session, url, prompt(i + 1, 64), 16)
            ttfts.append(ttft)
        # 8 sequences of 64 + 128 tokens: 2 blocks each, the 16-block cache holds them all without preemption.
        rates = []
        for r in range(3):
            t0 = time.perf_counter()
            results = await asyncio.gather(*(stream(session, url, prompt(100 + 8 * r + k, 64), 128)
                                             for k in range(8)))
            rates.append(sum(tok for _, _, tok in results) / (time.perf_counter() - t0))
    ttfts.sort()
    return {"ttft_p50_ms": statistics.median(ttfts) * 1e3, "ttft_p90_ms": ttfts[int(0.9 * len(ttfts))] * 1e3,
            "tokens_per_s_8": statistics.median(rates), "tokens_per_s_8_min": min(rates),
            "tokens_per_s_8_max": max(rates)}


def main() -> int:
    preset = load_preset(PRESET)
    run_root = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    target = VllmTarget(preset.target.vllm)
    stages: list[tuple[str, float]] = []
    t0 = time.monotonic()
    target.start(run_dir=run_root, progress=lambda s: stages.append((s, time.monotonic() - t0)))
    try:
        target.wait_healthy(preset.target.vllm.startup_timeout_s)
        startup_s = time.monotonic() - t0
        info = target.describe()
        rss_idle, nproc = group_rss_mib(target.pgid)
        figures = asyncio.run(client_figures(target.url))
        result = run_replay(preset.build_workload(), preset.target, preset.replay, name=preset.name,
                            run_dir=run_root / "kv-pressure", target_url=target.url)
        rss_after, _ = group_rss_mib(target.pgid)
    finally:
        t_stop = time.monotonic()
        pgid = target.pgid
        target.stop()
        stop_s = time.monotonic() - t_stop
    s = result.summary
    rejected = {k: v for k, v in s["failures_by_class"].items() if k in ("http_503", "stream_error")}
    print(f"## Managed vLLM ({info.engine}, {info.build} build, model {info.model}, "
          f"KV {info.kv_capacity_tokens} tokens = {info.kv_blocks} blocks x {info.block_size})")
    print(f"start-up (launch -> /health 200): {startup_s:.1f} s; stages: "
          + ", ".join(f"{name} {t:.1f} s" for name, t in stages))
    print(f"memory (RSS of the process group, {nproc} processes): {rss_idle:.0f} MiB idle, "
          f"{rss_after:.0f} MiB after the burst")
    print(f"single-stream TTFT (64-token prompt, 20 requests): p50 {figures['ttft_p50_ms']:.1f} ms, "
          f"p90 {figures['ttft_p90_ms']:.1f} ms")
    print(f"generated tokens/s, 8 sequences x 128 tokens: median {figures['tokens_per_s_8']:.0f} "
          f"(3 rounds: {figures['tokens_per_s_8_min']:.0f}-{figures['tokens_per_s_8_max']:.0f})")
    print(f"kv-pressure replay ({PRESET.name}): sent {s['sent']} = finished {s['finished']} + failed {s['failed']}"
          f" + cancelled {s['cancelled']}; failures {s['failures_by_class']}")
    print(f"  server: KV usage peak {s['kv_cache_usage_peak']}, waiting peak {s['waiting_peak']}, running peak "
          f"{s['running_peak']}, preemptions {s['preemptions']}, admission rejections {s['admission_rejections']}"
          f" (client saw {sum(rejected.values())} as {rejected})")
    ttft = s["ttft_s"]
    print(f"  TTFT p50 {ttft['p50'] * 1e3:.0f} ms, p99 {ttft['p99'] * 1e3:.0f} ms over {ttft['count']} finished;"
          f" burst episodes vs calm: {fmt_burst(s.get('burst'))}")
    print(f"stop(): {stop_s:.1f} s, processes left: {len(group_members(pgid))}")
    return 0


def fmt_burst(b) -> str:
    if not b or not b.get("busy") or not b.get("calm"):
        return "-"
    def one(g) -> str:
        p = g["ttft_s"]["p50"]
        return f"failed {100 * (g['failed_share'] or 0):.0f}%, TTFT p50 {p * 1e3:.0f} ms" if p else \
            f"failed {100 * (g['failed_share'] or 0):.0f}%"
    return f"busy {one(b['busy'])} / calm {one(b['calm'])}"


if __name__ == "__main__":
    raise SystemExit(main())
