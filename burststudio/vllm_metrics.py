"""vLLM's Prometheus `/metrics`: the metric names across versions, and how a page is read.

The replay's scraper, the targets (KV-cache capacity), calibration (step histograms) and the simulated server (which
writes these names) all take them from here, so what the simulator exposes and what the reader looks for cannot
drift apart.

Names across vLLM versions: KV usage is `KV_CACHE_USAGE_PERC` (>= 0.9.2; a 0-1 fraction despite the name) or
`GPU_CACHE_USAGE_PERC` (<= 0.11); prefix-cache counters lost their `gpu_` prefix the same way; the inter-token
histogram was `TIME_PER_OUTPUT_TOKEN` before. Values of several engines (data parallel, label `engine`) are summed,
KV usage averaged.

vLLM exposes hundreds of series (histogram buckets most of all): parsing a whole page takes about 15 ms, which would
stall a replay's event loop. `filter_page` cuts it down to the series read here, by name, before prometheus_client's
parser sees it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from burststudio import vocab

# Counter families are named without `_total`; their samples (what a page carries) end in it.
TOTAL = "_total"

KV_CACHE_USAGE_PERC = "vllm:kv_cache_usage_perc"
GPU_CACHE_USAGE_PERC = "vllm:gpu_cache_usage_perc"
NUM_REQUESTS_RUNNING = "vllm:num_requests_running"
NUM_REQUESTS_WAITING = "vllm:num_requests_waiting"
NUM_REQUESTS_WAITING_BY_REASON = NUM_REQUESTS_WAITING + "_by_reason"  # 0.32: reason = capacity | deferred
NUM_PREEMPTIONS = "vllm:num_preemptions"
ADMISSION_REJECTIONS = "vllm:admission_rejections"  # 0.32: reason = max_num_queued_reqs | max_num_queued_tokens
PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries"
PREFIX_CACHE_HITS = "vllm:prefix_cache_hits"
GPU_PREFIX_CACHE_QUERIES = "vllm:gpu_prefix_cache_queries"
GPU_PREFIX_CACHE_HITS = "vllm:gpu_prefix_cache_hits"
PROMPT_TOKENS = "vllm:prompt_tokens"
GENERATION_TOKENS = "vllm:generation_tokens"
REQUEST_SUCCESS = "vllm:request_success"  # finished_reason = stop | length | abort | error | repetition
TIME_TO_FIRST_TOKEN = "vllm:time_to_first_token_seconds"
E2E_REQUEST_LATENCY = "vllm:e2e_request_latency_seconds"
REQUEST_PREFILL_TIME = "vllm:request_prefill_time_seconds"
INTER_TOKEN_LATENCY = "vllm:inter_token_latency_seconds"
TIME_PER_OUTPUT_TOKEN = "vllm:time_per_output_token_seconds"
CACHE_CONFIG_INFO = "vllm:cache_config_info"
# Its labels read here (vLLM adds dozens more); the CPU build counts its blocks under NUM_CPU_BLOCKS.
BLOCK_SIZE, NUM_GPU_BLOCKS, NUM_CPU_BLOCKS = "block_size", "num_gpu_blocks", "num_cpu_blocks"
KV_CACHE_SIZE_TOKENS, ENABLE_PREFIX_CACHING = "kv_cache_size_tokens", "enable_prefix_caching"
# prometheus_client's process collector in the serving process: vLLM's API server.
PROCESS_CPU_SECONDS = "process_cpu_seconds"

# sample key -> sample names, the first present wins
GAUGES: dict[str, tuple[str, ...]] = {
    vocab.KV_CACHE_USAGE: (KV_CACHE_USAGE_PERC, GPU_CACHE_USAGE_PERC),
    vocab.RUNNING: (NUM_REQUESTS_RUNNING,),
    vocab.WAITING: (NUM_REQUESTS_WAITING,),
}
COUNTERS: dict[str, tuple[str, ...]] = {
    vocab.PREEMPTIONS_TOTAL: (NUM_PREEMPTIONS + TOTAL,),
    vocab.ADMISSION_REJECTIONS_TOTAL: (ADMISSION_REJECTIONS + TOTAL,),
    vocab.PREFIX_CACHE_QUERIES_TOTAL: (PREFIX_CACHE_QUERIES + TOTAL, GPU_PREFIX_CACHE_QUERIES + TOTAL),
    vocab.PREFIX_CACHE_HITS_TOTAL: (PREFIX_CACHE_HITS + TOTAL, GPU_PREFIX_CACHE_HITS + TOTAL),
    vocab.PROMPT_TOKENS_TOTAL: (PROMPT_TOKENS + TOTAL,),
    vocab.GENERATION_TOKENS_TOTAL: (GENERATION_TOKENS + TOTAL,),
    vocab.REQUEST_SUCCESS_TOTAL: (REQUEST_SUCCESS + TOTAL,),
}
BY_LABEL: dict[str, tuple[str, str]] = {  # sample key prefix -> (sample name, label)
    "waiting_": (NUM_REQUESTS_WAITING_BY_REASON, "reason"),
    "admission_rejections_": (ADMISSION_REJECTIONS + TOTAL, "reason"),
}
# Step histograms timed in the engine core (a busy API server does not blur them): key -> family names, first
# present wins.
ENGINE_HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "prefill": (REQUEST_PREFILL_TIME,),
    "itl": (INTER_TOKEN_LATENCY, TIME_PER_OUTPUT_TOKEN),
}

WANTED: frozenset[str] = frozenset(
    [n for names in (*GAUGES.values(), *COUNTERS.values()) for n in names]
    + [m for m, _ in BY_LABEL.values()] + [CACHE_CONFIG_INFO])
# Family names as they appear on # HELP / # TYPE lines (counters without _total).
_FAMILIES = frozenset(n[:-len(TOTAL)] if n.endswith(TOTAL) else n for n in WANTED) | WANTED

_LINE_RE: dict[frozenset[str], Any] = {}


def _lines_of(text: str, names: frozenset[str]) -> str:
    rx = _LINE_RE.get(names)
    if rx is None:
        alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        rx = _LINE_RE[names] = re.compile(rf"^(?:# (?:HELP|TYPE) )?(?:{alt})(?:[ {{].*)?$", re.M)
    return "\n".join(m.group(0) for m in rx.finditer(text)) + "\n"


def filter_page(text: str, with_info: bool = True) -> str:
    """Only the lines (and their HELP/TYPE lines) of the series `parse_metrics` reads.

    The cache-config series carries dozens of labels and costs more to parse than everything else together: a
    scraper reads it once per run (`with_info`).
    """
    names = _FAMILIES if with_info else _FAMILIES - {CACHE_CONFIG_INFO}
    return _lines_of(text, names)


def _families(text: str):
    from prometheus_client.parser import text_string_to_metric_families

    return text_string_to_metric_families(text)


def parse_metrics(text: str, with_info: bool = True) -> dict[str, Any]:
    """One sample under vocab's sample keys from a /metrics page (keys absent where the server lacks them); the raw
    cache-config labels under `cache_config`."""
    values: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in _families(filter_page(text, with_info)):
        for s in fam.samples:
            values.setdefault(s.name, []).append((s.labels, s.value))
    out: dict[str, Any] = {}
    for key, names in GAUGES.items():
        for name in names:
            if name in values:
                vals = [v for _, v in values[name]]
                out[key] = sum(vals) / len(vals) if key == vocab.KV_CACHE_USAGE else sum(vals)
                break
    for key, names in COUNTERS.items():
        for name in names:
            if name in values:
                out[key] = sum(v for _, v in values[name])
                break
    for prefix, (name, label) in BY_LABEL.items():
        for labels, v in values.get(name, []):
            if label in labels:
                k = prefix + labels[label]
                out[k] = out.get(k, 0.0) + v
    if CACHE_CONFIG_INFO in values:
        labels = values[CACHE_CONFIG_INFO][0][0]
        out["cache_config"] = {k: v for k, v in labels.items() if k not in ("engine", "model_name")}
    return out


def _whole(value: Any) -> int | None:
    """A label's count ("16", "16.0"); None for "None", empty, and what no cache holds (negative, fractional,
    infinite, beyond 2**53): a server's numbers are not believed blindly."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and 0 <= x <= 2**53 and x == int(x)):
        return None
    return int(x)


def kv_cache(labels: dict[str, str]) -> dict[str, Any]:
    """block_size, blocks, tokens and prefix_caching of the KV cache from the cache-config labels (keys the server
    does not tell are left out).

    The CPU build reports its blocks as `num_cpu_blocks` (num_gpu_blocks 0 or "None"); a server without
    kv_cache_size_tokens holds blocks * block_size tokens.
    """
    block_size = _whole(labels.get(BLOCK_SIZE))
    blocks = _whole(labels.get(NUM_GPU_BLOCKS)) or _whole(labels.get(NUM_CPU_BLOCKS))
    tokens = _whole(labels.get(KV_CACHE_SIZE_TOKENS)) or (blocks * block_size if blocks and block_size else None)
    out: dict[str, Any] = {k: v for k, v in (("block_size", block_size), ("blocks", blocks), ("tokens", tokens))
                           if v is not None}
    prefix = str(labels.get(ENABLE_PREFIX_CACHING, "")).lower()
    if prefix in ("true", "false"):
        out["prefix_caching"] = prefix == "true"
    return out


def cache_config_labels(block_size: int, blocks: int, tokens: int, prefix_caching: bool) -> dict[str, str]:
    """The cache-config labels a server with this cache exposes (the simulator's), as `kv_cache` reads them."""
    return {BLOCK_SIZE: str(block_size), NUM_GPU_BLOCKS: str(blocks), KV_CACHE_SIZE_TOKENS: str(tokens),
            ENABLE_PREFIX_CACHING: str(bool(prefix_caching))}


def parse_cache_config(text: str) -> dict[str, Any]:
    """`kv_cache` of a /metrics page's cache-config series (empty when absent)."""
    for family in _families(_lines_of(text, frozenset([CACHE_CONFIG_INFO]))):
        for sample in family.samples:
            return kv_cache(sample.labels)
    return {}


def histogram_totals(text: str) -> dict[str, tuple[float, float]]:
    """(sum, count) of the engine's step histograms (ENGINE_HISTOGRAMS keys) over every engine, and the serving
    process's CPU seconds under "cpu" as (seconds, 1); {} when absent or unparseable."""
    family_key = {name: key for key, names in ENGINE_HISTOGRAMS.items() for name in names}
    totals: dict[str, list[float]] = {}
    try:
        families = list(_families(text))
    except (ValueError, TypeError):
        return {}
    for family in families:
        if family.name == PROCESS_CPU_SECONDS:
            for sample in family.samples:
                totals["cpu"] = [sample.value, 1.0]
            continue
        # Older parsers name a family without its unit suffix.
        name = family.name if family.name in family_key else family.name + "_seconds"
        key = family_key.get(name)
        if key is None or (key in totals and name != ENGINE_HISTOGRAMS[key][0]):
            continue  # an older name beside the current one
        acc = totals.setdefault(key, [0.0, 0.0])
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                acc[0] += sample.value
            elif sample.name.endswith("_count"):
                acc[1] += sample.value
    return {k: (v[0], v[1]) for k, v in totals.items()}
