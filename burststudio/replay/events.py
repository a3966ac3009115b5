"""Live events: JSON lines the studio reads from the engine's stdout (`--events`), also kept in events.jsonl.

Every event is one JSON object with `"event"` (its type) and `"t"` (seconds from the run start; null before it):
  run_started   run_dir, plan counts, target description, settings
  notice        message (something the user should know, said once: e.g. no /metrics)
  progress      sent, finished, failed, cancelled, in_flight, planned, by_class, lateness_p99_s and ttft_p50_s of
                the requests that ended since the last progress event (about 4 a second)
  sample        one /metrics sample (kv_cache_usage, running, waiting, ...)
  run_finished  exit_code, summary (the whole summary.json), reason (done | stopped | target_died | limits)
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, TextIO

EVENT_TYPES = ("run_started", "notice", "progress", "sample", "run_finished")


class Events:
    """Fan-out of events to the run directory and, with `--events`, to stdout."""

    def __init__(self, sinks: list[Callable[[dict[str, Any]], None]] | None = None, *,
                 stdout: TextIO | None = None, t0_ns: int | None = None):
        self.sinks = list(sinks or [])
        self.stdout = stdout
        self.t0_ns = t0_ns

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        t = round((time.perf_counter_ns() - self.t0_ns) / 1e9, 6) if self.t0_ns else None
        obj = {"event": event, "t": t, **fields}
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


def stdout_events() -> TextIO:
    return sys.stdout
