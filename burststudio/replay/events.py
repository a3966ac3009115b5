"""Live events: JSON lines the studio reads from the engine's stdout (`--events`), also kept in events.jsonl.

Every event is one JSON object with `"event"` (its type) and `"t"` (seconds from the run start; null before it);
the type names and the progress fields are burststudio.vocab's (EVENT_TYPES, ProgressEvent):
  target        the target's state before the run: state (starting | healthy | failed), kind, and
                  starting: stage (what the target is doing, e.g. vLLM's "loading model")
                  healthy:  url, model, engine, max_model_len, kv_capacity_tokens, kv_blocks, block_size
                  failed:   message (one line)
  warmup        before the run (t null): state (running | done), requests, ended, failed, elapsed_s; the requests
                  sent before the clock starts (vocab.WarmupEvent), in no figure
  run_started   run_dir, plan counts, target description, settings
  notice        message (something the user should know, said once: e.g. no /metrics)
  progress      about 4 a second:
                  sent, finished, failed, cancelled, in_flight, planned, by_class (failures by class, cumulative),
                  lateness_p99_s of the requests that ended since the last progress event;
                  rolling over the requests that ended in the last ROLLING_S seconds: ttft_p50_s, ttft_p99_s
                  (successful requests), itl_p50_s, itl_p99_s (every chunk gap); null when none ended then;
                  kv_cache_usage, running, waiting, preemptions_total: the latest /metrics sample (absent without);
                  requests: the latest finished requests (at most LATEST_REQUESTS, newest last), each
                    [i, outcome, prompt_tokens, output_tokens, ttft_s, e2e_s, itl_mean_s, lateness_s]
  sample        one /metrics sample (kv_cache_usage, running, waiting, preemptions_total, ...)
  run_finished  exit_code, summary (the whole summary.json), reason (done | stopped | target_died | limits)

Cost: the engine calls `request_ended` once per request (a few list appends and one numpy diff of its chunk times)
and the percentiles are computed once per progress event over at most ROLLING_S seconds of values, capped at
MAX_ITL_PER_TICK chunk gaps a tick, so a progress event costs well under a millisecond at 200 requests/s.
"""

from __future__ import annotations

import json
import sys
import time
from collections import deque
from typing import Any, Callable, TextIO

from burststudio.vocab import (EV_PROGRESS, EV_SAMPLE, EV_TARGET, EVENT_TIME, EVENT_TYPE, OK, PROGRESS_SAMPLE_KEYS,
                               ProgressEvent)

# Rolling percentiles cover the requests that ended in the last ROLLING_S seconds.
ROLLING_S = 2.0
# Finished requests sent with each progress event (newest last): enough for a live table, bounded at any rate.
LATEST_REQUESTS = 32
# Chunk gaps kept per progress tick (evenly thinned above it): bounds the percentile cost at high rates.
MAX_ITL_PER_TICK = 4096


class LiveStats:
    """Rolling latency percentiles, the latest finished requests and the latest server sample, for progress events.

    `request_ended` takes a replay.client.RequestRecord (read only; times are perf_counter_ns)."""

    def __init__(self, t0_ns: int | None = None, rolling_s: float = ROLLING_S, latest: int = LATEST_REQUESTS):
        self.t0_ns = t0_ns
        self.rolling_s = rolling_s
        self._ttft: list[float] = []
        self._itl: list[Any] = []  # numpy arrays of chunk gaps (ns), one per request
        self._ticks: deque[tuple[float, Any, Any]] = deque()  # (end time s, ttft array, itl array) per tick
        self._latest: deque[list[Any]] = deque(maxlen=latest)
        self._new_latest = 0
        self.sample: dict[str, Any] = {}

    def request_ended(self, r: Any) -> None:
        sent = r.sent_ns
        ttft = (r.first_ns - sent) / 1e9 if r.first_ns and sent else None
        chunks = r.chunk_ns
        itl_mean = None
        if len(chunks) > 1:
            import numpy as np

            self._itl.append(np.diff(np.asarray(chunks, dtype=np.int64)))
            itl_mean = (chunks[-1] - chunks[0]) / (len(chunks) - 1) / 1e9
        if r.outcome == OK and ttft is not None:
            self._ttft.append(ttft)
        self._latest.append([r.i, r.outcome, r.prompt_tokens, r.completion_tokens, _r(ttft),
                             _r((r.end_ns - sent) / 1e9 if r.end_ns and sent else None), _r(itl_mean),
                             _r((sent - r.scheduled_ns) / 1e9 if sent else None), getattr(r, "replica", None)])
        self._new_latest += 1

    def observe_sample(self, sample: dict[str, Any]) -> None:
        self.sample = {k: sample[k] for k in PROGRESS_SAMPLE_KEYS if k in sample}

    def tick(self, now_s: float | None) -> ProgressEvent:
        """The fields a progress event adds (see module doc); resets the per-tick batches."""
        import numpy as np

        ttft = np.asarray(self._ttft, dtype=np.float64)
        itl = (np.concatenate([np.asarray(g, dtype=np.float64) for g in self._itl]) / 1e9 if self._itl
               else np.zeros(0))
        if itl.size > MAX_ITL_PER_TICK:
            itl = itl[np.linspace(0, itl.size - 1, MAX_ITL_PER_TICK).astype(np.int64)]
        self._ttft, self._itl = [], []
        now = now_s if now_s is not None else 0.0
        self._ticks.append((now, ttft, itl))
        while self._ticks and self._ticks[0][0] < now - self.rolling_s:
            self._ticks.popleft()
        all_ttft = np.concatenate([x[1] for x in self._ticks]) if self._ticks else np.zeros(0)
        all_itl = np.concatenate([x[2] for x in self._ticks]) if self._ticks else np.zeros(0)
        out = ProgressEvent()
        out["ttft_p50_s"], out["ttft_p99_s"] = _quantiles(all_ttft)
        out["itl_p50_s"], out["itl_p99_s"] = _quantiles(all_itl)
        out.update(self.sample)  # type: ignore[typeddict-item]
        n = min(self._new_latest, len(self._latest))
        out["requests"] = list(self._latest)[len(self._latest) - n:] if n else []
        self._new_latest = 0
        return out


def _quantiles(x: Any) -> tuple[float | None, float | None]:
    if x.size == 0:
        return None, None
    import numpy as np

    p50, p99 = np.quantile(x, (0.5, 0.99))
    return round(float(p50), 6), round(float(p99), 6)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


class Events:
    """Fan-out of events to the run directory and, with `--events`, to stdout.

    With `stats` (a LiveStats), sample events feed it and progress events carry its fields."""

    def __init__(self, sinks: list[Callable[[dict[str, Any]], None]] | None = None, *,
                 stdout: TextIO | None = None, t0_ns: int | None = None, stats: LiveStats | None = None):
        self.sinks = list(sinks or [])
        self.stdout = stdout
        self.t0_ns = t0_ns
        self.stats = stats

    def request_ended(self, r: Any) -> None:
        if self.stats is not None:
            self.stats.request_ended(r)

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        t = round((time.perf_counter_ns() - self.t0_ns) / 1e9, 6) if self.t0_ns else None
        if self.stats is not None:
            if event == EV_PROGRESS:
                fields.update(self.stats.tick(t))
            elif event == EV_SAMPLE:
                self.stats.observe_sample(fields)
        obj = {EVENT_TYPE: event, EVENT_TIME: t, **fields}
        for sink in self.sinks:
            sink(obj)
        if self.stdout is not None:
            try:
                self.stdout.write(json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str) + "\n")
                self.stdout.flush()
            except (BrokenPipeError, ValueError):
                # The reader went away (the studio closed): keep running and recording.
                self.stdout = None
        return obj


class TargetStatus:
    """`target` events while the target starts: wraps the target's progress callback, then says healthy or failed."""

    def __init__(self, stdout: TextIO | None, kind: str, notice: Callable[[str], None] | None = None):
        self.events = Events(stdout=stdout)
        self.kind = kind
        self.notice = notice
        self.state = "starting"
        self.events.emit(EV_TARGET, state="starting", kind=kind, stage="starting")

    def progress(self, message: str) -> None:
        self.events.emit(EV_TARGET, state="starting", kind=self.kind, stage=message)
        if self.notice is not None:
            self.notice(message)

    def healthy(self, info: Any) -> None:
        self.state = "healthy"
        d = info.to_dict() if hasattr(info, "to_dict") else dict(info)
        self.events.emit(EV_TARGET, state="healthy", **{k: d.get(k) for k in (
            "kind", "url", "model", "engine", "max_model_len", "kv_capacity_tokens", "kv_blocks", "block_size")})

    def failed(self, exc: BaseException) -> None:
        """Report a failure before the target was healthy (later failures belong to the run's own events)."""
        if self.state != "starting":
            return
        self.state = "failed"
        lines = str(exc).strip().splitlines()
        self.events.emit(EV_TARGET, state="failed", kind=self.kind,
                         message=lines[0] if lines else type(exc).__name__)


def stdout_events() -> TextIO:
    return sys.stdout
