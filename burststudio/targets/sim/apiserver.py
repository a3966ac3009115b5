"""vLLM's API server as a stage of its own: one thread that every request and every streamed token passes through.

vLLM's OpenAI server is one Python process (an asyncio event loop) beside the engine core. Every request costs it
CPU time to parse, validate and hand to the engine, and every output token costs it time to process the engine's
output and write the stream. It does that work in turn, so under a burst it falls behind: requests wait before the
engine sees them and tokens wait after the engine made them, and a client's first token comes late by that queue,
not by the engine. The stage is modelled as a single server working through jobs first come first served, in the
order they became ready:

- `arrive` (a request's HTTP body reaches it): the first half of `api_request_s`; at its start the queue check of
  `--max-num-queued-reqs` (vLLM's `_preflight`): with that many requests in flight the answer is a plain HTTP 503,
  before any response starts. Otherwise an `add` job is queued behind whatever became ready meanwhile, as the
  request's coroutine awaits and the event loop serves others;
- `add` (the request is handed to the engine): the second half; at its start the same check again (vLLM's
  `add_request`): a burst whose requests all passed the first check while the server was behind is now over the
  limit, and those get the error as an event inside a 200 stream. An accepted request is in flight from here and
  reaches the engine's waiting queue `request_overhead_s` after the job ends;
- `out` (one engine step's output): `api_token_s` per token in the step; its tokens reach the clients at the job's
  end, and a request whose last token it carries stops counting as in flight then (vLLM's output processor counts
  a request until it has processed its final output). Each such request then keeps the thread `api_after_s` more
  (ending its response, its stats): the part of `api_request_s` calibration found off the first token's path.

A `/metrics` read every scrape interval (as the replay's scraper makes them) takes the thread `api_scrape_s`: vLLM
renders the metrics on the event loop.

`arrive` and `add` share what is left of `api_request_s` in two halves. The halves are an assumption: vLLM does not
expose where in a request's handling the time goes.
"""

from __future__ import annotations

import heapq
import math

from burststudio.targets.sim.costmodel import CostProfile
from burststudio.targets.sim.request import FINISHED
from burststudio.vocab import HTTP_503, STREAM_ERROR

ARRIVE, ADD, OUT, SCRAPE = 0, 1, 2, 3
PREFLIGHT_SHARE = 0.5  # share of api_request_s spent before the first queue check


class ApiStage:
    """The API server's queue of work and its clock. `push` jobs as they become ready, `run(upto)` does every job
    ready by `upto` (its effects may lie later: a job starts when the thread is free)."""

    __slots__ = ("engine", "limit", "free_s", "in_flight", "jobs", "seq", "record", "a_s", "b_s",
                 "token_s", "overhead_s", "after_s", "scrape_s", "scrape_every_s", "next_scrape_s")

    def __init__(self, engine, profile: CostProfile, queue_limit: int, record_tokens: bool,
                 scrape_interval_s: float = 0.0):
        self.engine = engine
        self.limit = int(queue_limit)
        self.free_s = 0.0  # when the thread is next free
        self.in_flight = 0  # requests handed to the engine whose final output it has not processed
        self.jobs: list = []  # (ready_s, seq, kind, payload)
        self.seq = 0
        self.record = record_tokens
        on_path = profile.api_request_s - profile.api_after_s
        self.a_s = on_path * PREFLIGHT_SHARE
        self.b_s = on_path - self.a_s
        self.after_s = profile.api_after_s
        self.scrape_s = profile.api_scrape_s
        self.scrape_every_s = float(scrape_interval_s) if self.scrape_s > 0 else 0.0
        self.next_scrape_s = 0.0 if self.scrape_every_s > 0 else math.inf
        self.token_s = profile.api_token_s
        self.overhead_s = profile.request_overhead_s

    def arrive(self, r) -> None:
        if self.record:
            r.c_times = []
        self.push(r.arrival_s, ARRIVE, r)

    def push(self, ready_s: float, kind: int, payload) -> None:
        heapq.heappush(self.jobs, (ready_s, self.seq, kind, payload))
        self.seq += 1

    def next_ready_s(self) -> float:
        return self.jobs[0][0] if self.jobs else math.inf

    def run(self, upto: float) -> None:
        jobs = self.jobs
        # Scrapes are queued lazily: each only has to be in line before the jobs that became ready after it.
        while self.next_scrape_s <= upto:
            self.push(self.next_scrape_s, SCRAPE, None)
            self.next_scrape_s += self.scrape_every_s
        while jobs and jobs[0][0] <= upto:
            ready, _, kind, payload = heapq.heappop(jobs)
            start = self.free_s if self.free_s > ready else ready
            if kind == OUT:
                self._deliver(start, payload)
            elif kind == SCRAPE:
                self.free_s = start + self.scrape_s
            elif kind == ARRIVE:
                self.free_s = start + self.a_s
                if self.limit and self.in_flight >= self.limit:
                    self._reject(payload, start, in_stream=False)
                else:
                    self.push(self.free_s, ADD, payload)
            else:
                if self.limit and self.in_flight >= self.limit:
                    self.free_s = start
                    self._reject(payload, start, in_stream=True)
                else:
                    self.free_s = start + self.b_s
                    self.in_flight += 1
                    payload.added_s = start
                    self.engine.accept(payload, self.free_s + self.overhead_s)

    def _reject(self, r, t: float, in_stream: bool) -> None:
        c = self.engine.counters
        c.rejections += 1
        if in_stream:
            c.rejections_in_stream += 1
        r.outcome = STREAM_ERROR if in_stream else HTTP_503
        r.status = FINISHED
        r.end_s = t

    def _deliver(self, start: float, step) -> None:
        """One step's (or one jump's) tokens through the thread."""
        tokens = step.tokens
        n = len(tokens)
        if step.steps == 1:
            end = start + self.token_s * n
            self.free_s = end
            for r in tokens:
                if r.c_first != r.c_first:  # NaN: the first token
                    r.c_first = end
                else:
                    gap = end - r.c_last
                    if gap > r.c_gap:
                        r.c_gap = gap
                r.c_last = end
                if self.record:
                    r.c_times.append(end)
        else:
            # A jump is only taken when the thread keeps up with every one of its steps (can_follow), so each step's
            # tokens come out `cost` after the step: the engine's times shifted by that.
            cost = self.token_s * n
            first = step.first_end_s + cost
            last = step.end_s + cost
            self.free_s = last
            for r in tokens:
                if r.c_first != r.c_first:
                    r.c_first = first
                gap = max(first - r.c_last, step.max_step_s)
                if gap > r.c_gap:
                    r.c_gap = gap
                r.c_last = last
                if self.record:
                    r.c_times.extend(t + cost for t in step.times)
        for r in step.finished:
            r.eng_end_s = r.end_s
            r.end_s = r.c_last
            self.in_flight -= 1
            self.free_s += self.after_s

    def can_follow(self, now: float, first_step_s: float, seqs: int) -> bool:
        """Whether the thread, free by the end of the first of some identical decode steps of `seqs` sequences,
        delivers each step's tokens before the next step ends (then a jump's client times are exact)."""
        if self.jobs:
            return False
        return self.free_s <= now + first_step_s and self.token_s * seqs <= first_step_s

    def finish(self, requests) -> None:
        """Move the client's view into first_s/last_s/max_gap_s/token_times; the engine's into eng_*."""
        for r in requests:
            r.eng_first_s = r.first_s
            r.first_s = r.c_first
            r.last_s = r.c_last
            r.max_gap_s = r.c_gap
            if self.record:
                r.token_times = r.c_times
