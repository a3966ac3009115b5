"""A request's state inside the simulated engine, what one engine step did, and the engine's counters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from burststudio.vocab import OK

# A request's place in the engine
WAITING, RUNNING, FINISHED = 0, 1, 2


class SimRequest:
    """One request's state inside the engine."""

    __slots__ = ("rid", "arrival_s", "engine_s", "prompt", "max_out", "prefix", "status", "computed", "out", "held",
                 "n_reg", "keys", "n_shared", "preemptions", "cached_tokens", "first_s", "last_s", "end_s",
                 "max_gap_s", "outcome", "token_times", "resumed", "eng_first_s", "eng_end_s", "c_first", "c_last",
                 "c_gap", "c_times", "added_s")

    def __init__(self, rid: int, arrival_s: float, prompt: int, max_out: int, prefix: Sequence[int] | None):
        self.rid = rid
        self.arrival_s = arrival_s
        self.engine_s = arrival_s
        self.prompt = prompt
        self.max_out = max_out
        self.prefix = prefix
        self.status = WAITING
        self.computed = 0  # tokens whose KV is computed
        self.out = 0  # tokens generated
        self.held: list = []  # one entry per block held: its cache key, or None when not registered
        self.n_reg = 0  # leading held blocks already considered for registration
        self.keys: list | None = None  # cache keys of the shared leading pages (built on first admission)
        self.n_shared = 0
        self.preemptions = 0
        self.cached_tokens = -1  # prefix-cache hit at first admission; -1 until admitted
        self.first_s = math.nan
        self.last_s = math.nan
        self.end_s = math.nan
        self.max_gap_s = 0.0
        self.outcome = OK
        self.token_times: list[float] | None = None
        self.resumed = False
        # Engine-side first token and end (vLLM's own histograms stamp these); first_s/end_s are what the client sees
        self.eng_first_s = math.nan
        self.eng_end_s = math.nan
        self.added_s = math.nan  # when the API server began handing it to the engine (vLLM's arrival stamp)
        # The client's view while an API server stage delivers the tokens (apiserver.py); moved into first_s.. at the end
        self.c_first = math.nan
        self.c_last = math.nan
        self.c_gap = 0.0
        self.c_times: list[float] | None = None

    @property
    def num_tokens(self) -> int:
        return self.prompt + self.out


@dataclass
class StepResult:
    """What one engine step did; `end_s` is when its tokens come out."""

    start_s: float
    end_s: float
    steps: int = 1  # > 1 for a jump over identical decode steps
    tokens: list = field(default_factory=list)  # requests that produced a token (one each; `steps` each in a jump)
    finished: list = field(default_factory=list)
    preempted: list = field(default_factory=list)
    prefill_tokens: int = 0
    batch_tokens: int = 0  # tokens scheduled in the (each) step
    first_end_s: float = 0.0  # a jump: end of its first step
    max_step_s: float = 0.0  # a jump: its longest step after the first
    times: list | None = None  # a jump with recorded tokens: every step's end


@dataclass
class Counters:
    """Cumulative engine counters, in vLLM's /metrics terms."""

    preemptions: int = 0
    rejections: int = 0
    rejections_in_stream: int = 0  # of `rejections`, those sent as an error event inside a 200 stream
    prompt_tokens: int = 0
    generation_tokens: int = 0
    prefix_queries: int = 0
    prefix_hits: int = 0
    finished_length: int = 0
    finished_error: int = 0
    steps: int = 0
    jumps: int = 0
    busy_s: float = 0.0
