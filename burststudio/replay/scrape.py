"""Sample the server's /metrics while the replay runs.

What a page holds and how it is read (names across vLLM versions, the cut-down page handed to the parser) lives in
burststudio.vllm_metrics; this module only paces the reads and reports a server without /metrics once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from burststudio.vllm_metrics import filter_page, parse_metrics
from burststudio.vocab import SAMPLE_TIME

__all__ = ["Scraper", "filter_page", "parse_metrics"]


class Scraper:
    """Samples /metrics every `interval_s` into `on_sample`; a server without /metrics is reported once.

    `url` is the server's base URL; `metrics_url` (an endpoint's own, see targets.base.Endpoint) replaces
    `url/metrics` where given."""

    def __init__(self, session, url: str, interval_s: float, t0_ns: int, on_sample: Callable[[dict], None],
                 on_notice: Callable[[str], None], headers: dict[str, str] | None = None,
                 metrics_url: str | None = None):
        self.session = session
        self.url = metrics_url or url.rstrip("/") + "/metrics"
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
