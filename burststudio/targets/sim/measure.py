"""Calibration's measurements over HTTP: what to send (within the server's limits), sending it, and reading vLLM's
step histograms and the API server's CPU time off `/metrics` around each stretch. calibrate.py fits the cost model
to what this returns; the module doc there says what each stretch measures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from burststudio.sse import DONE, data_of
from burststudio.targets.sim.calibrate import (CalibrationError, CpuSegment, Measurements, Observation, ServerLimits,
                                               decode_observations, prefill_observation)
from burststudio.vllm_metrics import histogram_totals

SCRAPES_ALONE = 20  # back-to-back /metrics reads that measure what one costs the API server
WAKE_GAPS = (0.01, 0.03, 0.1, 0.3, 1.0)  # idle seconds before the wake-up stretch's lone requests
WAKE_GAPS_QUICK = (0.01, 0.1, 1.0)


# What to measure ----------------------------------------------------------------------------------------------------
@dataclass
class MeasurementPlan:
    prefill_lengths: list[int]
    prefill_reps: int
    decode_runs: list[tuple[int, int, int]]  # (batch, prompt tokens, output tokens), in the order run
    warmup: int = 3
    wake_gaps: list[float] = field(default_factory=list)  # idle seconds before a lone request
    wake_reps: int = 0
    wake_prompt: int = 0

    @property
    def requests(self) -> int:
        return (self.warmup + len(self.prefill_lengths) * self.prefill_reps + sum(b for b, _, _ in self.decode_runs)
                + len(self.wake_gaps) * self.wake_reps)


def measurement_plan(limits: ServerLimits, *, quick: bool = False) -> MeasurementPlan:
    """Prompt lengths for prefill, and (batch, prompt, output) runs for decode that fit the server's limits."""
    longest = min(limits.max_batched_tokens, limits.max_model_len - 2)
    if longest < 16:
        raise CalibrationError(f"the server's limits leave no room to measure prefill (max_model_len "
                               f"{limits.max_model_len}, max_num_batched_tokens {limits.max_batched_tokens})")
    n_lengths = 4 if quick else 7
    lengths = sorted({max(8, int(round(16 + (longest - 16) * i / (n_lengths - 1)))) for i in range(n_lengths)})
    out_tokens = 32 if quick else 64
    out_tokens = max(8, min(out_tokens, limits.max_model_len // 4))
    batches = [1, 2, 4] if quick else [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    batches = [b for b in batches if b <= limits.max_batch]
    if not quick and limits.max_batch not in batches:
        batches.append(limits.max_batch)
    if quick and batches[-1] != min(4, limits.max_batch):
        batches.append(min(4, limits.max_batch))
    runs: list[tuple[int, int, int]] = []
    for b in batches:
        for want in ((32, longest) if not quick else (32, longest // 2)):
            p = min(want, limits.max_model_len - 1 - out_tokens)
            if limits.block_size and limits.kv_blocks:
                # Every sequence of the batch must keep its blocks to the end: no preemption while measuring.
                per_seq_blocks = (limits.kv_blocks - 1) // b
                p = min(p, per_seq_blocks * limits.block_size - out_tokens - 1)
            # The batch's prompts should be prefilled in one step, so that decode steps are nearly all there is.
            p = min(p, max(16, limits.max_batched_tokens // b))
            if p >= 8 and (b, p, out_tokens) not in runs:
                runs.append((b, p, out_tokens))
    if not runs:
        raise CalibrationError("the server's KV cache is too small to measure decoding without preemption")
    if not quick:
        # Twice each: a decode batch takes a fraction of a second, and one busy spell on a shared machine can
        # slow all of it; the fit's soft-L1 loss then sets the slow one aside.
        runs = runs + runs
    # The shortest idle time is about the prefill stretch's own (a scrape or two between requests), so the costs
    # fitted there are the baseline; the longest is past where the measured cost levels off (about a second).
    gaps = list(WAKE_GAPS_QUICK if quick else WAKE_GAPS)
    return MeasurementPlan(prefill_lengths=lengths, prefill_reps=3 if quick else 5, decode_runs=runs,
                           warmup=2 if quick else 4, wake_gaps=gaps, wake_reps=2 if quick else 4,
                           wake_prompt=min(200, longest))


# Measuring ----------------------------------------------------------------------------------------------------------
async def _stream(session, url: str, model: str, ids: list[int], max_tokens: int) -> list[tuple[float, int]]:
    """Send one request; (perf_counter time, completion tokens so far) at each chunk that carries tokens, with the
    send time first as (t0, 0)."""
    import json
    import time

    import aiohttp

    body = {"model": model, "prompt": ids, "max_tokens": max_tokens, "min_tokens": max_tokens, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    where = url + "/v1/completions"
    points: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    points.append((t0, 0))
    try:
        async with session.post(where, json=body) as resp:
            if resp.status != 200:
                text = await resp.text()
                raise CalibrationError(f"HTTP {resp.status}: {_error_text(text)}", where=where)
            count = 0
            async for raw in resp.content:
                payload = data_of(raw)
                if payload is None:
                    continue
                if payload == DONE:
                    break
                now = time.perf_counter()
                try:
                    obj = json.loads(payload)
                except ValueError:
                    raise CalibrationError("a stream chunk is not JSON", where=where) from None
                if obj.get("error"):
                    raise CalibrationError(f"error in the stream: {_error_text(json.dumps(obj))}", where=where)
                if not obj.get("choices"):
                    continue
                usage = obj.get("usage") or {}
                count = int(usage.get("completion_tokens") or count + 1)
                points.append((now, count))
    except aiohttp.ClientError as exc:
        raise CalibrationError(f"request failed ({exc.__class__.__name__}: {exc})", where=where) from None
    if len(points) < 2:
        raise CalibrationError("the stream carried no tokens", where=where)
    if points[-1][1] < max_tokens:
        raise CalibrationError(f"asked for {max_tokens} tokens, got {points[-1][1]} (the server must honour "
                               "min_tokens and ignore_eos)", where=where)
    return points


def _error_text(text: str) -> str:
    import json

    try:
        obj = json.loads(text)
        err = obj.get("error", obj)
        msg = err.get("message") if isinstance(err, dict) else str(err)
    except (ValueError, AttributeError):
        msg = text
    msg = " ".join(str(msg or "no message").split())
    return msg if len(msg) <= 200 else msg[:197] + "..."


def measure(url: str, model: str, plan: MeasurementPlan, limits: ServerLimits, *, seed: int = 0,
            progress: Callable[[int, int], None] | None = None, timeout_s: float = 120.0,
            use_metrics: bool = True) -> Measurements:
    """Run the plan against the server at `url` (synchronously; an event loop of its own). With `use_metrics` the
    step times come from the server's histograms when it has them, else from the client's timings."""
    import asyncio

    return asyncio.run(_measure(url, model, plan, limits, seed=seed, progress=progress, timeout_s=timeout_s,
                                use_metrics=use_metrics))


async def _totals(session, url: str, counter: list | None = None) -> dict[str, tuple[float, float]]:
    if counter is not None:
        counter[0] += 1
    try:
        async with session.get(url + "/metrics") as resp:
            if resp.status != 200:
                return {}
            return histogram_totals(await resp.text())
    except Exception:  # noqa: BLE001 (no /metrics is allowed: the client's timings are used instead)
        return {}


async def _settled(session, url: str, before: dict, key: str, count: int,
                   counter: list | None = None) -> tuple[float, float] | None:
    """The (sum, count) added to histogram `key` once `count` observations have landed (the server records them
    just after the stream ends); None if they do not within a second."""
    import asyncio

    for _ in range(40):
        now = await _totals(session, url, counter)
        if key in now and key in before:
            ds, dc = now[key][0] - before[key][0], now[key][1] - before[key][1]
            if dc >= count:
                return (ds, dc) if dc == count else None
        await asyncio.sleep(0.025)
    return None


async def _measure(url, model, plan: MeasurementPlan, limits: ServerLimits, *, seed, progress, timeout_s,
                   use_metrics):
    import asyncio
    import time

    import aiohttp

    rng = random.Random(seed)
    vocab = max(2, int(limits.vocab_size))

    def prompt(n: int) -> list[int]:
        # Fresh random ids every time: no prefix-cache hit may shorten a prefill.
        return [rng.randrange(vocab) for _ in range(n)]

    done = 0
    total = plan.requests

    def tick(n: int = 1) -> None:
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    m = Measurements()
    t_start = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        # Warm-up: the first requests after start-up pay one-off costs (allocations, lazy imports).
        warm = min(max(plan.prefill_lengths), limits.max_model_len - 5)
        for _ in range(plan.warmup):
            await _stream(session, url, model, prompt(warm), 4)
            tick()
        scrapes = [0]
        base = await _totals(session, url) if use_metrics else {}
        m.engine_timings = "prefill" in base and "itl" in base
        cpu_mark = None
        if "cpu" in base:
            # What the scrapes themselves cost the API server, to take out of the stretches below.
            for _ in range(SCRAPES_ALONE):
                last = await _totals(session, url, scrapes)
            if "cpu" in last:
                m.api_segments.append(CpuSegment(last["cpu"][0] - base["cpu"][0], 0, 0, scrapes[0]))
                cpu_mark = (last["cpu"][0], scrapes[0])
        jobs = [L for L in plan.prefill_lengths for _ in range(plan.prefill_reps)]
        rng.shuffle(jobs)  # spread each length over the whole run, so a busy spell on the machine hits all alike

        async def close_segment(requests: int, tokens: int) -> None:
            nonlocal cpu_mark
            if cpu_mark is None:
                return
            now = await _totals(session, url, scrapes)
            if "cpu" in now:
                m.api_segments.append(CpuSegment(now["cpu"][0] - cpu_mark[0], requests, tokens,
                                                 scrapes[0] - cpu_mark[1]))
                cpu_mark = (now["cpu"][0], scrapes[0])

        for L in jobs:
            before = await _totals(session, url, scrapes) if m.engine_timings else {}
            pts = await _stream(session, url, model, prompt(L), 1)
            m.observations.append(prefill_observation(L, pts[1][0] - pts[0][0]))
            if m.engine_timings:
                got = await _settled(session, url, before, "prefill", 1, scrapes)
                if got:
                    m.observations.append(Observation("prefill_step", got[0], prefill_tokens=L,
                                                      prefill_attn=L * (L + 1) // 2))
                    m.overheads.append(pts[1][0] - pts[0][0] - got[0])
            else:
                await asyncio.sleep(0.01)  # let the engine go idle: each prefill must run alone
            tick()
        await close_segment(len(jobs), len(jobs))
        decode_requests = decode_tokens = 0
        for b, p, n in plan.decode_runs:
            before = await _totals(session, url, scrapes) if m.engine_timings else {}
            streams = await asyncio.gather(*[_stream(session, url, model, prompt(p), n) for _ in range(b)])
            decode_requests += b
            decode_tokens += b * n
            got = await _settled(session, url, before, "itl", b * (n - 1), scrapes) if m.engine_timings else None
            if got:
                # Steps making tokens 2..n read p+1 .. p+n-1 tokens of KV per sequence: p + n/2 on average.
                m.observations.append(Observation("decode", got[0] / got[1], decode_seqs=b,
                                                  context_tokens=b * (p + n / 2)))
            else:
                m.observations.extend(decode_observations([s[1:] for s in streams], p))
            tick(b)
        await close_segment(decode_requests, decode_tokens)
        gaps = [g for g in plan.wake_gaps for _ in range(plan.wake_reps)]
        rng.shuffle(gaps)
        for g in gaps:
            await asyncio.sleep(g)
            pts = await _stream(session, url, model, prompt(plan.wake_prompt), 1)
            m.wake.append((g, pts[1][0] - pts[0][0]))
            tick()
        await close_segment(len(gaps), len(gaps))
    m.requests = done
    m.seconds = time.perf_counter() - t_start
    return m


def limits_from_info(info, *, max_batch: int, max_batched_tokens: int, vocab_size: int = 32000) -> ServerLimits:
    """ServerLimits from a target's TargetInfo and what the caller knows of the engine's settings."""
    if not info.max_model_len:
        raise CalibrationError("the server does not say its max_model_len (/v1/models)", where=info.url or None)
    return ServerLimits(max_model_len=int(info.max_model_len), max_batch=int(max_batch),
                        max_batched_tokens=int(max_batched_tokens), block_size=info.block_size,
                        kv_blocks=info.kv_blocks, vocab_size=min(int(info.vocab_size or vocab_size), vocab_size))
