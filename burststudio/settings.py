"""The `[target]` and `[replay]` settings of an experiment, as plain dataclasses.

Presets (burststudio/presets.py) fill these from TOML and validate them from the description each field carries
(`setting`, a schema.Param): `doc` is the one-line description `docs/presets.md` shows, `min`/`max` bound numbers,
`choices` restricts strings.
The replay engine and the targets read only these classes, never the TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from burststudio.schema import SCALE_MAX, Param
from burststudio.targets import registry as target_kinds
from burststudio.vocab import ROUTE_POLICIES, SHORT_ANSWERS, SHORT_FAIL


def off_or_at_least(least: float):
    """A Param check for a value where 0 turns something off and a positive value must be at least `least`."""
    def check(path: tuple, value: float) -> float:
        from burststudio.preset_validate import Invalid

        if 0 < value < least:
            raise Invalid(path, f"too small: {value:g} (0 turns it off; the smallest allowed is {least:g})")
        return value

    return check


def setting(default: Any, doc: str, **bounds: Any) -> Any:
    """A dataclass field carrying its description (a schema.Param: doc, `min`, `max`, `choices`).

    The Param's name and type are filled from the field when it is read (`schema.field_param`)."""
    choices = bounds.get("choices")
    if choices is not None:
        bounds["choices"] = tuple(choices)
    meta: dict[str, Any] = {"param": Param("", "", doc, default, **bounds)}
    if choices is not None:
        # Kept as given: a list that grows later (the target registry's names) stays the field's choices.
        meta["choices"] = choices
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class VllmSettings:
    """A vLLM server that BurstStudio starts and stops (`target.kind = "vllm"`)."""

    model: str = setting("tiny", 'Model path or name; "tiny" is the bundled dummy-weight Llama (no download).')
    served_model_name: str = setting("tiny", "The model name the server answers to.")
    build: str = setting("auto", "vLLM build: auto (CPU build without a GPU), cpu or gpu.", choices=["auto", "cpu", "gpu"])
    max_model_len: int = setting(512, "--max-model-len: longest prompt + output in tokens.", min=16)
    max_num_seqs: int = setting(8, "--max-num-seqs: sequences in one batch.", min=1)
    max_num_batched_tokens: int = setting(512, "--max-num-batched-tokens: tokens in one engine step.", min=16)
    kv_cache_memory_bytes: str = setting("", '--kv-cache-memory-bytes, e.g. "1M" (16 blocks of the tiny model); '
                                         'empty: 1G on the CPU build (its own default takes about 90% of the memory), '
                                         "vLLM's default on a GPU.")
    gpu_memory_utilization: float = setting(0.0, "--gpu-memory-utilization (GPU build); 0: vLLM default.", min=0.0, max=1.0)
    enable_prefix_caching: bool = setting(True, "--enable-prefix-caching.")
    max_num_queued_reqs: int = setting(0, "--max-num-queued-reqs: reject with 503 beyond this many waiting; 0: unbounded.", min=0)
    enforce_eager: bool = setting(True, "--enforce-eager: skip torch.compile (faster start on CPU).")
    dtype: str = setting("bfloat16", "--dtype.")
    extra_args: list = setting([], "More command-line flags passed to the server as they are.")
    startup_timeout_s: float = setting(300.0, "Seconds to wait for the server to become healthy.", min=1.0)
    replicas: int = setting(1, "vLLM servers to start, each on its own port with its own log; more than one is a "
                            "fleet, routed by vllm-router (`router`) or by the client (`target.route`).", min=1)
    router: bool = setting(False, "Start vllm-router in front of the replicas (the `vllm-router` package).")
    router_policy: str = setting("round_robin", "vllm-router's --policy.",
                                 choices=["round_robin", "power_of_two", "cache_aware", "consistent_hash", "random"])
    router_args: list = setting([], "More vllm-router flags, passed as they are.")


@dataclass
class SimSettings:
    """The built-in engine simulator (`target.kind = "sim"`)."""

    profile: str = setting("cpu-tiny", "Cost profile: a named profile or a path to a calibrated profile file.")
    num_blocks: int = setting(16, "KV-cache blocks.", min=1)
    block_size: int = setting(128, "Tokens per KV-cache block.", min=1)
    max_num_seqs: int = setting(8, "Sequences in one batch.", min=1)
    max_num_batched_tokens: int = setting(512, "Tokens in one engine step.", min=16)
    max_model_len: int = setting(512, "Longest prompt + output in tokens.", min=16)
    enable_prefix_caching: bool = setting(True, "Reuse KV blocks of shared prefixes.")
    max_num_queued_reqs: int = setting(0, "Reject with 503 beyond this many waiting; 0: unbounded.", min=0)
    replicas: int = setting(1, "Simulated engines; more than one is a fleet routed by `target.route` "
                            "(docs/fleets.md).", min=1)


@dataclass
class TargetSettings:
    """Where the workload is sent."""

    # The registry's own list: a kind registered later is a valid choice too.
    kind: str = setting("url", target_kinds.choices_text(with_summary=True) + ".", choices=target_kinds.NAMES)
    url: str = setting("http://127.0.0.1:8000", "Base URL of an OpenAI-compatible server (kind = url).")
    model: str = setting("", "Model name to request; empty: the first one /v1/models lists.")
    api_key_env: str = setting("", "Name of an environment variable holding the API key (never stored in a run).")
    headers: dict = setting({}, 'More HTTP headers on every request, e.g. { "X-Tenant" = "a" } (stored in the run: '
                            "put keys in api_key_env).")
    urls: list = setting([], "A fleet of running servers (kind = url): each replica's base URL, routed by the "
                         "client (`route`); or leave it empty and name a router in `url` and the replicas' "
                         "`metrics_urls`.")
    metrics_urls: list = setting([], "With a router in `url`: each replica's /metrics URL, sampled per replica.")
    route: str = setting("round_robin", "How the client (or the simulated router) spreads a fleet's requests: "
                         + ", ".join(ROUTE_POLICIES) + " (docs/fleets.md).", choices=ROUTE_POLICIES)
    vocab_size: int = setting(32000, "Token ids sent stay below this (an id outside the vocabulary crashes vLLM).", min=2)
    vllm: VllmSettings = field(default_factory=VllmSettings, metadata={"doc": "Managed vLLM settings."})
    sim: SimSettings = field(default_factory=SimSettings, metadata={"doc": "Simulator settings."})


@dataclass
class TimeoutSettings:
    """Per-request time limits; a request that passes one ends with outcome `timeout`."""

    connect_s: float = setting(10.0, "Seconds to open a connection.", min=0.001)
    # vLLM (and any server that streams) sends its response headers before the engine schedules the request: they
    # come in milliseconds, seconds at most on a saturated API server. None within 30 s means the server's
    # application never took the request (a full accept queue, a hung server), which a 300 s first-token limit would
    # wait out: told apart as timeout `headers`, not blamed on the engine's queue.
    headers_s: float = setting(30.0, "Seconds from sending to the response headers (the server took the request).",
                               min=0.001)
    first_token_s: float = setting(300.0, "Seconds from sending to the first token.", min=0.001)
    idle_s: float = setting(60.0, "Seconds between two chunks of a stream.", min=0.001)
    total_s: float = setting(0.0, "Seconds for the whole request; 0: no limit beyond the others.", min=0.0)


@dataclass
class LimitSettings:
    """Limits for CI: a run that breaks one exits with code 3. Unset (negative) limits are not checked."""

    goodput_min: float = setting(-1.0, "Fail when the share of requests meeting the SLOs is below this (0-1).", max=1.0)
    failed_share_max: float = setting(-1.0, "Fail when the share of failed requests is above this (0-1).", max=1.0)
    ttft_p99_max_s: float = setting(-1.0, "Fail when TTFT p99 in seconds is above this.")
    tpot_p99_max_s: float = setting(-1.0, "Fail when TPOT p99 in seconds is above this.")
    itl_p99_max_s: float = setting(-1.0, "Fail when ITL p99 in seconds is above this.")
    e2e_p99_max_s: float = setting(-1.0, "Fail when E2E p99 in seconds is above this.")
    goodput_rate_min: float = setting(-1.0, "Fail when fewer requests a second than this met every objective.")


# The fields every request body has (either endpoint): `extra_body` adds to them and cannot replace one.
BODY_FIELDS = frozenset({"model", "prompt", "messages", "max_tokens", "max_completion_tokens", "min_tokens",
                         "ignore_eos", "stream", "stream_options"})


@dataclass
class ReplaySettings:
    """How the workload is sent."""

    mode: str = setting("open", "open: each request at its scheduled time; closed: N users back to back.",
                        choices=["open", "closed"])
    users: int = setting(8, "Concurrent users in closed-loop mode.", min=1)
    think_time_s: float = setting(0.0, "Pause of a closed-loop user between two requests.", min=0.0)
    duration_s: float = setting(0.0, "Replay only the first S seconds of the workload; 0: all of it.", min=0.0)
    # The scales' bounds (schema.SCALE_MAX) keep a replicated row count and a stretched time inside int64.
    time_scale: float = setting(1.0, "Stretch (>1) or compress (<1) the schedule.", min=1e-6, max=SCALE_MAX)
    rate_scale: float = setting(1.0, "Thin (<1) or replicate (>1) arrivals, keeping the burst shape.", min=1e-6,
                                max=SCALE_MAX)
    max_concurrency: int = setting(0, "At most this many requests in flight (open loop); 0: no cap.", min=0)
    # 60 s: the longest stream a healthy server sends (2,000 tokens at 20 ms) ends within it, and an overloaded
    # run ends a minute after its schedule instead of after its slowest request's time limits.
    drain_s: float = setting(60.0, "Seconds requests still in flight get after the schedule ends; then they are "
                             "cancelled (counted, with the reason); 0: no limit beyond their own.", min=0.0)
    # A quarter of the smallest common listen backlog (128): replay/pool.py says why.
    connections_opening: int = setting(32, "Connections opened at once, at most, until the server first answers "
                                       "on them (across dispatch processes).", min=1)
    endpoint: str = setting("completions", "completions (token-id prompts) or chat (text, needs a tokenizer).",
                            choices=["completions", "chat"])
    failed_rows: str = setting("skip", "Rows the trace recorded as failed: skip (counted) or send as recorded.",
                               choices=["skip", "send"])
    overlong: str = setting("clip", "Prompts longer than the server allows: clip or skip (counted either way).",
                            choices=["clip", "skip"])
    # Default fail: the replay asks for exact output lengths (min_tokens, ignore_eos), so an answer that ends early is
    # a run that did not send the load it planned (or a server cutting answers under load); a server that cannot
    # honour those fields (not vLLM) is replayed with "ok" and its short answers are counted apart.
    short_answers: str = setting(SHORT_FAIL, "An answer that ends cleanly with fewer tokens than asked: fail (outcome "
                                 "truncated) or ok (measured with its real length, counted apart in the summary).",
                                 choices=list(SHORT_ANSWERS))
    warmup: int = setting(-1, "Requests of the workload's shape sent before the clock starts, recorded apart and "
                          "excluded from every figure; -1: the target kind's default (" + target_kinds.warmup_text()
                          + ").", min=-1)
    # Faster than every 10 ms a scrape measures mostly itself (vLLM renders the page on its API server's thread),
    # and a simulated run would take a sample per step of virtual time.
    scrape_interval_s: float = setting(0.5, "Seconds between two /metrics samples; 0: do not sample; else at least "
                                       "0.01.", min=0.0, check=off_or_at_least(0.01))
    slo_ttft_s: float = setting(0.0, "TTFT objective for goodput, seconds; 0: none.", min=0.0)
    slo_tpot_s: float = setting(0.0, "TPOT objective for goodput, seconds; 0: none.", min=0.0)
    slo_itl_s: float = setting(0.0, "ITL objective for goodput: no gap between two chunks of a request longer than "
                               "this, seconds; 0: none.", min=0.0)
    slo_e2e_s: float = setting(0.0, "E2E objective for goodput, seconds from sending to the last token; 0: none.",
                               min=0.0)
    # p50, p90 and p99 are always reported (the figures read them); these are added to every latency figure.
    percentiles: list = setting([50.0, 90.0, 99.0], "Percentiles of every latency figure (p50, p90 and p99 "
                                "always; others added, e.g. [50, 90, 95, 99, 99.9]).", min=0.0, max=100.0)
    tokenizer: str = setting("", "A Hugging Face tokenizer (folder or tokenizer.json): text prompts of exactly each "
                             "row's token count in it; empty: token-id prompts (completions) or words (chat).")
    dataset: str = setting("", "A JSONL file of prompts or ShareGPT-style conversations whose content fills the "
                           "prompts, fitted to each row's length (needs tokenizer); empty: none.")
    extra_body: dict = setting({}, 'More fields of every request body (sampling parameters, ...), e.g. '
                               '{ temperature = 0.7 }; the fields BurstStudio sets cannot be replaced.')
    # Each slice is a row of rates and percentiles: under a tenth of a second they hold a request or two each, and a
    # run of hours would be tens of millions of rows (1e-300 s would be more slices than memory holds).
    slice_s: float = setting(0.0, "Write slices.parquet: rate, latency percentiles and failures per slice of this "
                             "many seconds; 0: none; else at least 0.1.", min=0.0, check=off_or_at_least(0.1))
    burst_window_s: float = setting(10.0, "Window length of the burst view: about the shortest burst's length.",
                                    min=0.001)
    # Twice the median rate: a burst the BurstGPT study would call one, well above a steady stream's noise.
    burst_rate_factor: float = setting(2.0, "A window with more arrivals than this many times the median window's "
                                       "starts a burst episode (docs/replay.md, Bursts).", min=1.0)
    seed: int = setting(0, "Seed for thinning and token ids.", min=0)
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings, metadata={"doc": "Per-request time limits."})
    limits: LimitSettings = field(default_factory=LimitSettings, metadata={"doc": "CI limits (exit code 3)."})
