"""Sample the server's /metrics while the replay runs.

vLLM exposes hundreds of series (histogram buckets most of all): parsing the whole page takes about 15 ms, which
would stall the dispatcher's event loop. The page is first cut down to the series read here, by name, and only
that is handed to prometheus_client's parser.

Names across vLLM versions (see the notes on vLLM's metrics): KV usage is `vllm:kv_cache_usage_perc` (>= 0.9.2) or
`vllm:gpu_cache_usage_perc` (older); prefix cache counters lost their `gpu_` prefix the same way. Values of several
engines (data parallel) are summed, KV usage averaged.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from burststudio.vocab import (ADMISSION_REJECTIONS_BY_REASON, ADMISSION_REJECTIONS_TOTAL, GENERATION_TOKENS_TOTAL,
                               KV_CACHE_USAGE, PREEMPTIONS_TOTAL, PREFIX_CACHE_HITS_TOTAL, PREFIX_CACHE_QUERIES_TOTAL,
                               PROMPT_TOKENS_TOTAL, REQUEST_SUCCESS_TOTAL, RUNNING, SAMPLE_TIME, WAITING,
                               WAITING_BY_REASON)

# sample key -> metric sample names, first present wins
_GAUGES = {
    KV_CACHE_USAGE: ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    RUNNING: ("vllm:num_requests_running",),
    WAITING: ("vllm:num_requests_waiting",),
}
_COUNTERS = {
    PREEMPTIONS_TOTAL: ("vllm:num_preemptions_total",),
    ADMISSION_REJECTIONS_TOTAL: ("vllm:admission_rejections_total",),
    PREFIX_CACHE_QUERIES_TOTAL: ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    PREFIX_CACHE_HITS_TOTAL: ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    PROMPT_TOKENS_TOTAL: ("vllm:prompt_tokens_total",),
    GENERATION_TOKENS_TOTAL: ("vllm:generation_tokens_total",),
    REQUEST_SUCCESS_TOTAL: ("vllm:request_success_total",),
}
_BY_LABEL = {  # sample key prefix -> (metric, label)
    WAITING_BY_REASON: ("vllm:num_requests_waiting_by_reason", "reason"),
    ADMISSION_REJECTIONS_BY_REASON: ("vllm:admission_rejections_total", "reason"),
}
_INFO = "vllm:cache_config_info"

WANTED: frozenset[str] = frozenset(
    [n for names in (*_GAUGES.values(), *_COUNTERS.values()) for n in names]
    + [m for m, _ in _BY_LABEL.values()] + [_INFO])
# Family names as they appear on # HELP / # TYPE lines (counters without _total).
_FAMILIES = frozenset(n[:-6] if n.endswith("_total") else n for n in WANTED) | WANTED


_LINE_RE: dict[bool, Any] = {}


def filter_page(text: str, with_info: bool = True) -> str:
    """Only the lines (and their HELP/TYPE lines) of the series this module reads.

    `cache_config_info` carries dozens of labels and costs more to parse than everything else together: it is
    read once per run (`with_info`).
    """
    rx = _LINE_RE.get(with_info)
    if rx is None:
        import re

        names = _FAMILIES | WANTED if with_info else (_FAMILIES | WANTED) - {_INFO}
        alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        rx = _LINE_RE[with_info] = re.compile(rf"^(?:# (?:HELP|TYPE) )?(?:{alt})(?:[ {{].*)?$", re.M)
    return "\n".join(m.group(0) for m in rx.finditer(text)) + "\n"


def parse_metrics(text: str, with_info: bool = True) -> dict[str, Any]:
    """One sample: the figures of module doc from a /metrics page (keys absent where the server lacks them)."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(filter_page(text, with_info)):
        for s in fam.samples:
            values.setdefault(s.name, []).append((s.labels, s.value))
    out: dict[str, Any] = {}
    for key, names in _GAUGES.items():
        for name in names:
            if name in values:
                vals = [v for _, v in values[name]]
                out[key] = sum(vals) / len(vals) if key == KV_CACHE_USAGE else sum(vals)
                break
    for key, names in _COUNTERS.items():
        for name in names:
            if name in values:
                out[key] = sum(v for _, v in values[name])
                break
    for prefix, (name, label) in _BY_LABEL.items():
        for labels, v in values.get(name, []):
            if label in labels:
                k = prefix + labels[label]
                out[k] = out.get(k, 0.0) + v
    if _INFO in values:
        labels = values[_INFO][0][0]
        out["cache_config"] = {k: v for k, v in labels.items() if k not in ("engine", "model_name")}
    return out


class Scraper:
    """Samples /metrics every `interval_s` into `on_sample`; a server without /metrics is reported once."""

    def __init__(self, session, url: str, interval_s: float, t0_ns: int, on_sample: Callable[[dict], None],
                 on_notice: Callable[[str], None], headers: dict[str, str] | None = None):
        self.session = session
        self.url = url.rstrip("/") + "/metrics"
        self.interval_s = interval_s
        self.t0_ns = t0_ns
        self.on_sample = on_sample
        self.on_notice = on_notice
        self.headers = headers or {}
        self.available: bool | None = None
        self.cache_config: dict[str, str] | None = None
        self.samples = 0

    async def sample_once(self) -> dict[str, Any] | None:
        import aiohttp

        try:
            async with self.session.get(self.url, headers=self.headers,
                                        timeout=aiohttp.ClientTimeout(total=max(1.0, self.interval_s * 4))) as r:
                if r.status != 200:
                    if self.available is None:
                        self.available = False
                        self.on_notice(f"the server has no /metrics (HTTP {r.status}); going on without server samples")
                    return None
                text = await r.text()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if self.available is None:
                self.available = False
                self.on_notice(f"/metrics did not answer ({type(exc).__name__}); going on without server samples")
            return None
        t = (time.perf_counter_ns() - self.t0_ns) / 1e9
        try:
            sample = parse_metrics(text, with_info=self.cache_config is None)
        except (ValueError, TypeError) as exc:
            if self.available is None:
                self.available = False
                self.on_notice(f"/metrics could not be parsed ({exc}); going on without server samples")
            return None
        if self.available is not True:
            self.available = True
        if "cache_config" in sample:
            cfg = sample.pop("cache_config")
            if self.cache_config is None:
                self.cache_config = cfg
        sample[SAMPLE_TIME] = round(t, 6)
        self.samples += 1
        self.on_sample(sample)
        return sample

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until `stop` is set, then once more so the last figures after the run are kept."""
        loop = asyncio.get_running_loop()
        nxt = loop.time()
        while not stop.is_set():
            await self.sample_once()
            if self.available is False:
                return
            nxt += self.interval_s
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, nxt - loop.time()))
            except asyncio.TimeoutError:
                pass
        await self.sample_once()
