"""The vocabulary of a run: every name that the client, the simulator, the recorder, the summary, the commands and
the studio share. Defined here once and imported everywhere else; this module imports nothing beyond the standard
library, so the pure summary and the studio can read it without loading the HTTP stack.

Outcomes (a failed request keeps everything it measured up to its failure):
  ok            the stream ended with [DONE] and at least the asked number of tokens (or fewer: a short answer,
                when `[replay] short_answers = "ok"`; its `shortfall` says how many fewer)
  http_4xx      a 4xx answer other than 429        http_429   rate limited (Retry-After kept)
  http_503      the engine's queue is full           http_5xx   another 5xx answer
  stream_error  an {"error": ...} event inside a 200 stream (vLLM's second queue-full check, engine errors)
  truncated     the stream ended with fewer tokens than asked: cleanly (a short answer, unless short answers
                count as ok) or without [DONE]
  connection    refused, reset, or cut mid-stream
  timeout       connect, response headers, first token, idle between chunks or total time passed its limit
  malformed     a chunk that is not JSON, or a 200 answer that is not a stream
  cancelled     the run stopped before the request ended
"""

from __future__ import annotations

from typing import Any, TypedDict

# --- outcomes -------------------------------------------------------------------------------------------------------
OK = "ok"
HTTP_4XX = "http_4xx"
HTTP_429 = "http_429"
HTTP_503 = "http_503"
HTTP_5XX = "http_5xx"
STREAM_ERROR = "stream_error"
TRUNCATED = "truncated"
CONNECTION = "connection"
TIMEOUT = "timeout"
MALFORMED = "malformed"
CANCELLED = "cancelled"

OUTCOMES = (OK, HTTP_4XX, HTTP_429, HTTP_503, HTTP_5XX, STREAM_ERROR, TRUNCATED, CONNECTION, TIMEOUT, MALFORMED,
            CANCELLED)
FAILURES = tuple(o for o in OUTCOMES if o not in (OK, CANCELLED))
# A journal outcome this version does not know counts as a failure of this class, never as a silent drop.
UNKNOWN = "unknown"


def outcome_of_status(status: int) -> str:
    """The outcome of an HTTP answer that is not a 200 stream."""
    if status == 429:
        return HTTP_429
    if status == 503:
        return HTTP_503
    if 400 <= status < 500:
        return HTTP_4XX
    return HTTP_5XX


# What a short answer is (a stream that ended cleanly, with [DONE], with fewer tokens than asked: a server that
# ignores `ignore_eos`/`min_tokens` ends answers at the model's end of text), `[replay] short_answers`:
SHORT_FAIL = "fail"  # a failure of class truncated: the run did not send the load it planned
SHORT_OK = "ok"  # outcome ok, measured with its real length; the summary counts short answers apart
SHORT_ANSWERS = (SHORT_FAIL, SHORT_OK)


# --- exit codes, shared by every command -----------------------------------------------------------------------------
EXIT_OK = 0
EXIT_USAGE = 2  # bad input, bad preset, unreachable server: the run could not happen
EXIT_LIMITS = 3  # the run happened and broke a limit set in the preset
EXIT_TARGET_DIED = 4  # the target died mid-run
EXIT_WRITE_FAILED = 5  # the run directory could not be written; what was written stays readable
EXIT_STOPPED = 130  # Ctrl-C / SIGTERM

# How a run ended (`reason` in summary.json and the run_finished event), and its exit code.
REASON_DONE = "done"
REASON_STOPPED = "stopped"
REASON_TARGET_DIED = "target_died"
REASON_LIMITS = "limits"
REASON_WRITE_FAILED = "write_failed"
REASON_EXIT = {REASON_DONE: EXIT_OK, REASON_STOPPED: EXIT_STOPPED, REASON_TARGET_DIED: EXIT_TARGET_DIED,
               REASON_LIMITS: EXIT_LIMITS, REASON_WRITE_FAILED: EXIT_WRITE_FAILED}

# --- fleets -------------------------------------------------------------------------------------------------------------
# The replica that served a request (journal field, sample key, summary table) and how the run knew it.
REPLICA = "replica"
REPLICA_BY_CLIENT = "client"  # the client routed it (client-side routing, or the simulated router)
REPLICA_BY_COUNTERS = "counters"  # a router routed it and did not say: only each replica's own counters tell
# Routing policies (replay/routing.py): the client's, and the simulated router's.
ROUTE_ROUND_ROBIN = "round_robin"
ROUTE_LEAST_OUTSTANDING = "least_outstanding"
ROUTE_POWER_OF_TWO = "power_of_two"
ROUTE_SESSION = "session"
ROUTE_PREFIX = "prefix"
ROUTE_CONSISTENT_HASH = "consistent_hash"
ROUTE_POLICIES = (ROUTE_ROUND_ROBIN, ROUTE_LEAST_OUTSTANDING, ROUTE_POWER_OF_TWO, ROUTE_SESSION, ROUTE_PREFIX,
                  ROUTE_CONSISTENT_HASH)

# --- server samples ----------------------------------------------------------------------------------------------------
# One /metrics sample (metrics.jsonl, `sample` events) is {"t": seconds from the run start, KEY: value, ...}; the
# real scraper and the simulator both write these keys. Gauges are read as they are, counters as run deltas.
SAMPLE_TIME = "t"
KV_CACHE_USAGE = "kv_cache_usage"  # a 0-1 fraction
RUNNING = "running"
WAITING = "waiting"
PREEMPTIONS_TOTAL = "preemptions_total"
ADMISSION_REJECTIONS_TOTAL = "admission_rejections_total"
PREFIX_CACHE_QUERIES_TOTAL = "prefix_cache_queries_total"
PREFIX_CACHE_HITS_TOTAL = "prefix_cache_hits_total"
PROMPT_TOKENS_TOTAL = "prompt_tokens_total"
GENERATION_TOKENS_TOTAL = "generation_tokens_total"
REQUEST_SUCCESS_TOTAL = "request_success_total"

SAMPLE_GAUGES = (KV_CACHE_USAGE, RUNNING, WAITING)
SAMPLE_COUNTERS = (PREEMPTIONS_TOTAL, ADMISSION_REJECTIONS_TOTAL, PREFIX_CACHE_QUERIES_TOTAL, PREFIX_CACHE_HITS_TOTAL,
                   PROMPT_TOKENS_TOTAL, GENERATION_TOKENS_TOTAL, REQUEST_SUCCESS_TOTAL)
SAMPLE_KEYS = SAMPLE_GAUGES + SAMPLE_COUNTERS
# Per-reason series are PREFIX + the reason label, e.g. "waiting_capacity".
WAITING_BY_REASON = "waiting_"
ADMISSION_REJECTIONS_BY_REASON = "admission_rejections_"
# Sample keys repeated in progress events, for readers that only follow progress.
PROGRESS_SAMPLE_KEYS = (KV_CACHE_USAGE, RUNNING, WAITING, PREEMPTIONS_TOTAL)

# --- live events (replay.events; events.jsonl and `--events`) ----------------------------------------------------------
# Every event is {"event": TYPE, "t": seconds from the run start or None before it, ...fields}.
EVENT_TYPE = "event"
EVENT_TIME = "t"
EV_TARGET = "target"
EV_RUN_STARTED = "run_started"
EV_WARMUP = "warmup"
EV_NOTICE = "notice"
EV_PROGRESS = "progress"
EV_SAMPLE = "sample"
EV_RUN_FINISHED = "run_finished"
EVENT_TYPES = (EV_TARGET, EV_WARMUP, EV_RUN_STARTED, EV_NOTICE, EV_PROGRESS, EV_SAMPLE, EV_RUN_FINISHED)
# A warm-up's state: it runs (an event as it starts and as each of its requests ends), then it is done.
WARMUP_RUNNING = "running"
WARMUP_DONE = "done"


class WarmupEvent(TypedDict, total=False):
    """The fields of a `warmup` event: the requests sent before the run's clock starts, excluded from every figure."""

    event: str
    t: None  # before the run starts
    state: str  # WARMUP_RUNNING | WARMUP_DONE
    requests: int  # warm-up requests to send
    ended: int
    failed: int  # of those ended, how many did not end ok
    elapsed_s: float  # since the warm-up began


WARMUP_FIELDS = tuple(WarmupEvent.__annotations__)


class ProgressEvent(TypedDict, total=False):
    """The fields of a `progress` event (replay/events.py's module doc says how each is computed)."""

    event: str
    t: float | None
    planned: int
    sent: int
    finished: int
    failed: int
    cancelled: int
    in_flight: int
    by_class: dict[str, int]  # failures by outcome, cumulative
    lateness_p99_s: float | None  # over the requests that ended since the last progress event
    ttft_p50_s: float | None  # rolling, successful requests
    ttft_p99_s: float | None
    itl_p50_s: float | None  # rolling, every chunk gap
    itl_p99_s: float | None
    kv_cache_usage: float  # PROGRESS_SAMPLE_KEYS: the latest sample, absent without one
    running: float
    waiting: float
    preemptions_total: float
    # The latest finished requests, newest last, each
    # [i, outcome, prompt_tokens, output_tokens, ttft_s, e2e_s, itl_mean_s, lateness_s, replica]
    requests: list[list[Any]]


PROGRESS_FIELDS = tuple(ProgressEvent.__annotations__)
