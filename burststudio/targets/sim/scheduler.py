"""A discrete-event model of vLLM's V1 scheduler, stepping in virtual time.

What it models (docs/simulator.md says why each matters and where it departs from vLLM):
- Continuous batching: each step first serves running requests in admission order (one token each when decoding,
  the next chunk when prefilling), then admits waiting requests first come first served, within `max_num_seqs`
  running and `max_num_batched_tokens` scheduled tokens a step. A long prompt is prefilled in chunks (chunked prefill).
- A paged KV cache of `num_blocks` blocks of `block_size` tokens; one block is vLLM's reserved null block, so
  `num_blocks - 1` hold tokens. A request holds ceil(tokens / block_size) blocks.
- Preemption by recompute: when a running request needs a block and none is free, the last-admitted running request
  loses all its blocks and goes back to the head of the waiting queue (repeatedly, until the block fits or the
  request itself was the one preempted). A step that preempted admits no waiting request.
- Prefix caching: full blocks are registered under a content key and stay cached after release until their block is
  reused (least recently freed first). A request's shared leading blocks come from the workload's `prefix_blocks`
  (ids of `prefix_block_tokens` tokens each, the workload's own block length, as replay.plan builds prompts); its own blocks are keyed by the request, so a preempted request
  finds what was not yet evicted when it resumes. At least the last prompt token is always computed.
- A bounded queue as `--max-num-queued-reqs`: an arrival finding that many requests in flight (waiting or running)
  is rejected with 503.
- Step time from costmodel.CostProfile; a request reaches the engine `request_overhead_s` after it arrives. The
  first step after the engine sat idle also pays the profile's wake-up cost for that idle time (`wake_s`).

Long stretches where the same requests only decode, no one can be admitted and no block runs out are advanced in
one jump (the step times summed in closed form), which is what makes an hour of traffic take seconds.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Sequence

from burststudio import vocab
from burststudio.errors import UserError
from burststudio.settings import SimSettings
from burststudio.targets.sim.blocks import BlockPool
from burststudio.targets.sim.costmodel import CostProfile, get_profile
from burststudio.targets.sim.request import FINISHED, RUNNING, WAITING, Counters, SimRequest, StepResult
from burststudio.vocab import CANCELLED, HTTP_4XX, HTTP_503, TRUNCATED
from burststudio.workload.model import DEFAULT_PREFIX_BLOCK_TOKENS


# Outcomes as the client names them: a prompt that does not fit max_model_len is HTTP_4XX (status 400); a full
# queue is HTTP_503 at the API server's first check and STREAM_ERROR (an error inside a 200 stream) at its second
# (apiserver.py); TRUNCATED is an output capped to fit max_model_len.


class SimEngine:
    """The scheduler, the block pool and the clock. Drive it with `submit` + `step` (real-time server), or run a
    whole plan with `simulate` (headless)."""

    def __init__(self, settings: SimSettings | None = None, profile: CostProfile | str | None = None, *,
                 record_tokens: bool = False, prefix_block_tokens: int = DEFAULT_PREFIX_BLOCK_TOKENS):
        self.settings = settings = settings or SimSettings()
        # The token length of one workload `prefix_blocks` id (Workload.prefix_block_tokens).
        self.prefix_block_tokens = int(prefix_block_tokens)
        self.profile = get_profile(profile or settings.profile) if not isinstance(profile, CostProfile) else profile
        self.block_size = int(settings.block_size)
        self.pool = BlockPool(max(1, int(settings.num_blocks) - 1))
        blocks_per_seq = -(-int(settings.max_model_len) // self.block_size)
        if blocks_per_seq > self.pool.capacity:
            # vLLM refuses to start in this case too: one request of max_model_len tokens must fit.
            raise UserError(f"max_model_len {settings.max_model_len} needs {blocks_per_seq} KV blocks of "
                            f"{self.block_size} tokens but the cache holds {self.pool.capacity} "
                            "(num_blocks - 1: one is vLLM's null block)", where="target.sim")
        self.max_seqs = int(settings.max_num_seqs)
        self.max_batched = int(settings.max_num_batched_tokens)
        self.max_model_len = int(settings.max_model_len)
        self.caching = bool(settings.enable_prefix_caching)
        self.queue_limit = int(settings.max_num_queued_reqs)
        self.record_tokens = record_tokens
        self.now = 0.0
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []
        self.incoming: deque[SimRequest] = deque()  # accepted, still in the API server
        self.in_flight = 0
        self.counters = Counters()
        self._admission_blocked = False  # the last step failed to fit the waiting head into the KV cache
        self._preempted_last = False
        # When the engine last ran out of work (None while it has some): the next step pays the wake-up cost of
        # that idle time (profile.wake_s). Before the first request the stack has been idle for long.
        self._idle_since: float | None = -math.inf

    # Arrivals -------------------------------------------------------------------------------------------------------
    def submit(self, rid: int, arrival_s: float, prompt_tokens: int, output_tokens: int,
               prefix_blocks: Sequence[int] | None = None, prompt_ids: Sequence[int] | None = None) -> SimRequest:
        """A request reaching the API server at `arrival_s`; its `outcome` tells whether it was refused.

        With `prompt_ids` (the served API) the prompt's pages are keyed by their token content, as vLLM hashes them;
        otherwise by the workload's `prefix_blocks`."""
        r = self.new_request(rid, arrival_s, prompt_tokens, output_tokens, prefix_blocks, prompt_ids)
        if r.status == FINISHED:
            return r
        if self.queue_limit and self.in_flight >= self.queue_limit:
            self.counters.rejections += 1
            return self._refuse(r, HTTP_503)
        self.accept(r, r.arrival_s + self.profile.request_overhead_s)
        return r

    def new_request(self, rid: int, arrival_s: float, prompt_tokens: int, output_tokens: int,
                    prefix_blocks: Sequence[int] | None = None, prompt_ids: Sequence[int] | None = None) -> SimRequest:
        """A request as the API server parses it: refused (400) when its prompt cannot fit, its output capped when
        prompt + output exceed max_model_len; not yet in flight."""
        r = SimRequest(rid, float(arrival_s), int(prompt_tokens), int(output_tokens), prefix_blocks or None)
        if prompt_ids is not None and self.caching:
            bs = self.block_size
            keys, h = [], 0
            for i in range(len(prompt_ids) // bs):
                h = hash((h, tuple(prompt_ids[i * bs:(i + 1) * bs])))
                keys.append((h, i, 1))
            r.keys, r.n_shared = keys, len(keys)
        if r.prompt >= self.max_model_len or r.prompt < 1 or r.max_out < 1:
            return self._refuse(r, HTTP_4XX)
        if r.prompt + r.max_out > self.max_model_len:
            r.max_out = self.max_model_len - r.prompt
            r.outcome = TRUNCATED
        if self.record_tokens:
            r.token_times = []
        return r

    def accept(self, r: SimRequest, engine_s: float) -> None:
        """`r` is in flight and reaches the engine's waiting queue at `engine_s` (not before any earlier one)."""
        r.engine_s = engine_s
        self.in_flight += 1
        self.incoming.append(r)

    def abort(self, r: SimRequest, t: float) -> None:
        """The client went away: drop the request wherever it is and release its blocks (as vLLM aborts)."""
        if r.status == FINISHED:
            return
        if r in self.running:
            self.running.remove(r)
        elif r in self.waiting:
            self.waiting.remove(r)
        elif r in self.incoming:
            self.incoming.remove(r)
        self._free(r)
        r.status = FINISHED
        r.end_s = t
        r.outcome = CANCELLED
        self.in_flight -= 1
        self._admission_blocked = False
        if self.idle and self._idle_since is None:
            self._idle_since = t

    def _refuse(self, r: SimRequest, outcome: str) -> SimRequest:
        r.outcome = outcome
        r.status = FINISHED
        r.end_s = r.arrival_s
        return r

    def _ingest(self) -> None:
        inc = self.incoming
        while inc and inc[0].engine_s <= self.now:
            self.waiting.append(inc.popleft())

    def next_arrival_s(self) -> float:
        return self.incoming[0].engine_s if self.incoming else math.inf

    @property
    def idle(self) -> bool:
        return not self.running and not self.waiting

    # Prefix keys ----------------------------------------------------------------------------------------------------
    def _shared_keys(self, r: SimRequest) -> None:
        """Content keys of the pages made only of the shared prefix; a page's key chains all ids up to its end."""
        bs = self.block_size
        if not r.prefix:
            r.keys, r.n_shared = [], 0
            return
        per_id = self.prefix_block_tokens
        shared_tokens = min(r.prompt, len(r.prefix) * per_id)
        n = shared_tokens // bs
        chain = []
        h = 0
        for b in r.prefix:
            h = hash((h, int(b)))
            chain.append(h)
        r.keys = [(chain[((i + 1) * bs - 1) // per_id], i, 1) for i in range(n)]
        r.n_shared = n

    def _key(self, r: SimRequest, i: int) -> Any:
        return r.keys[i] if i < r.n_shared else (r.rid, i)

    def _lookup(self, r: SimRequest) -> list:
        """Keys of the cached leading pages, stopping short of the last token (it must be computed)."""
        if not self.caching:
            return []
        if r.keys is None:
            self._shared_keys(r)
        refs = self.pool.refs
        hits = []
        limit = (r.num_tokens - 1) // self.block_size
        for i in range(limit):
            key = self._key(r, i)
            if key not in refs:
                break
            hits.append(key)
        return hits

    # Blocks ---------------------------------------------------------------------------------------------------------
    def _allocate(self, r: SimRequest, n_new: int, hits: list) -> bool:
        """Blocks for `n_new` more tokens of `r` (after `hits` cached pages); False, changing nothing, if none fit."""
        bs = self.block_size
        pool = self.pool
        upto = r.computed + len(hits) * bs + n_new
        need = -(-min(upto, self.max_model_len) // bs) - len(r.held) - len(hits)
        if need < 0:
            need = 0
        revive = 0
        if hits:
            refs = pool.refs
            revive = sum(1 for k in hits if refs[k] == 0)
        if need + revive > pool.free:
            return False
        held = r.held
        if hits:
            for k in hits:
                pool.touch(k)
            held.extend(hits)
            r.n_reg = len(held)
        if need:
            pool.take(need)
            held.extend([None] * need)
        if self.caching:
            full = min(upto, r.num_tokens) // bs
            if full > r.n_reg:
                if r.keys is None:
                    self._shared_keys(r)
                for i in range(r.n_reg, full):
                    if held[i] is None:
                        key = self._key(r, i)
                        if pool.register(key):
                            held[i] = key
                r.n_reg = full
        return True

    def _whole_fits(self, r: SimRequest, hits: list) -> bool:
        """vLLM admits a waiting request only if blocks for all its tokens so far (prompt, and for a resumed request
        what it had generated) are free, not just for the first chunk (`scheduler_reserve_full_isl`, on by
        default): a request whose prefill would run out of blocks halfway is not started."""
        pool = self.pool
        need = -(-min(r.num_tokens, self.max_model_len) // self.block_size) - len(r.held) - len(hits)
        if hits:
            refs = pool.refs
            need += sum(1 for k in hits if refs[k] == 0)
        return need <= pool.free

    def _free(self, r: SimRequest) -> None:
        self.pool.release(r.held)
        r.held = []
        r.n_reg = 0

    def _preempt(self, r: SimRequest) -> None:
        self._free(r)
        r.computed = 0
        r.status = WAITING
        r.resumed = True
        r.preemptions += 1
        self.counters.preemptions += 1
        self.waiting.appendleft(r)

    # One step -------------------------------------------------------------------------------------------------------
    def _schedule(self) -> tuple[list, list]:
        budget = self.max_batched
        scheduled: list[tuple[SimRequest, int]] = []
        preempted: list[SimRequest] = []
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            n = min(r.num_tokens - r.computed, budget, self.max_model_len - 1 - r.computed)
            if n <= 0:
                i += 1
                continue
            fitted = True
            while not self._allocate(r, n, ()):
                victim = running.pop()
                self._preempt(victim)
                preempted.append(victim)
                if victim is r:
                    fitted = False
                    break
            if not fitted:
                break
            scheduled.append((r, n))
            budget -= n
            i += 1

        self._admission_blocked = False
        if not preempted:
            waiting = self.waiting
            while waiting and budget > 0 and len(running) < self.max_seqs:
                r = waiting[0]
                hits = self._lookup(r) if r.computed == 0 else []
                start = len(hits) * self.block_size
                n = min(r.num_tokens - start, budget)
                if not self._whole_fits(r, hits) or not self._allocate(r, n, hits):
                    self._admission_blocked = True
                    break
                waiting.popleft()
                r.computed = start
                r.status = RUNNING
                running.append(r)
                if not r.resumed:
                    r.cached_tokens = start
                    self.counters.prefix_queries += r.num_tokens if self.caching else 0
                    self.counters.prefix_hits += start
                    self.counters.prompt_tokens += r.prompt
                scheduled.append((r, n))
                budget -= n
        self._preempted_last = bool(preempted)
        return scheduled, preempted

    def step(self) -> StepResult | None:
        """Run one step starting at `self.now` (arrivals up to now are seen); None when there is nothing to do."""
        self._ingest()
        if self.idle:
            return None
        scheduled, preempted = self._schedule()
        if not scheduled and not preempted:
            return None
        prefill = decode = ctx = attn = pseqs = 0
        for r, n in scheduled:
            if n == 1 and r.computed == r.num_tokens - 1 and r.out:
                decode += 1
                ctx += r.computed + 1
            else:
                prefill += n
                pseqs += 1
                attn += n * r.computed + (n * (n + 1)) // 2
        start = self.now
        dt = self.profile.step_time(prefill, decode, ctx, attn, pseqs) if scheduled else 0.0
        if self._idle_since is not None and scheduled:
            dt += self.profile.wake_after(start - self._idle_since)
            self._idle_since = None
        end = start + dt
        self.now = end
        c = self.counters
        c.steps += 1
        c.busy_s += dt
        res = StepResult(start, end, preempted=preempted, prefill_tokens=prefill, batch_tokens=prefill + decode)
        for r, n in scheduled:
            r.computed += n
            if r.computed < r.num_tokens:
                continue  # a prefill chunk that does not reach the end yields no token
            r.out += 1
            c.generation_tokens += 1
            if r.out == 1:
                r.first_s = end
            else:
                gap = end - r.last_s
                if gap > r.max_gap_s:
                    r.max_gap_s = gap
            r.last_s = end
            if r.token_times is not None:
                r.token_times.append(end)
            res.tokens.append(r)
            if r.out >= r.max_out:
                self._finish(r, end)
                res.finished.append(r)
        return self._after_finishing(res, end)

    def _after_finishing(self, res: StepResult, end: float) -> StepResult:
        if res.finished:
            self._admission_blocked = False  # released blocks may let the waiting head in
            if self.idle:
                self._idle_since = end
        return res

    def _finish(self, r: SimRequest, t: float) -> None:
        self._free(r)
        self.running.remove(r)
        r.status = FINISHED
        r.end_s = t
        self.in_flight -= 1
        self.counters.finished_length += 1

    def decode_step_s(self) -> float:
        """The time of one decode step of the running requests as they are now."""
        return self.profile.step_time(0, len(self.running), sum(r.computed + 1 for r in self.running))

    # Jumps over pure decode -----------------------------------------------------------------------------------------
    def _jump_steps(self, limit_s: float) -> int:
        """How many identical decode steps can run from now without anything changing the schedule."""
        running = self.running
        n = len(running)
        if not n or n > self.max_batched:
            return 0
        for r in running:
            if r.computed != r.num_tokens - 1 or r.out == 0:
                return 0
        if self.waiting and not (self._admission_blocked or n >= self.max_seqs or n >= self.max_batched):
            return 0
        if self._preempted_last and self.waiting:
            return 0
        k = min(r.max_out - r.out for r in running)
        # Blocks: each request needs one more block each time its length crosses a block boundary.
        bs = self.block_size
        free = self.pool.free

        def blocks_for(steps: int) -> int:
            return sum(max(0, -(-(r.computed + steps) // bs) - len(r.held)) for r in running)

        if blocks_for(k) > free:
            lo, hi = 0, k  # blocks_for(lo) fits, blocks_for(hi) does not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if blocks_for(mid) <= free:
                    lo = mid
                else:
                    hi = mid
            k = lo
        if k < 2:
            return 0
        # Time: a step starting at or after `limit_s` would see an arrival (or must follow a sample).
        first = self.decode_step_s()
        inc = self.profile.context_token_s * n
        # start of step j (0-based) = now + j*first + inc*j*(j-1)/2 ; count the j with start < limit_s
        room = limit_s - self.now
        if room <= 0:
            return 0
        if room == math.inf:  # nothing else will happen (no arrival, no sample): only the block limit counts
            return k
        if k * first + inc * k * (k - 1) / 2 < room:
            # All k steps start before the limit: a far one (a sample interval of years) is not counted down to,
            # nor squared past the float range.
            return k
        if inc > 0:
            # largest j with j*first + inc*j*(j-1)/2 < room, from the quadratic, then nudged for rounding
            a, b = inc / 2, first - inc / 2
            j = int((-b + math.sqrt(b * b + 4 * a * room)) / (2 * a))
        else:
            j = int(room / first) if first > 0 else k
        while j > 0 and j * first + inc * j * (j - 1) / 2 >= room:
            j -= 1
        while j * first + inc * j * (j - 1) / 2 < room and j <= k:
            j += 1
        return min(k, j)

    def jump(self, k: int) -> StepResult:
        """Advance `k` pure-decode steps at once (k from `_jump_steps`)."""
        running = list(self.running)
        n = len(running)
        ctx0 = sum(r.computed + 1 for r in running)
        durations = self.profile.decode_run(n, ctx0, k)
        total = float(durations.sum())
        start = self.now
        end = start + total
        first_end = start + float(durations[0])
        max_gap = float(durations[1:].max()) if k > 1 else 0.0
        times = None
        if self.record_tokens:
            import numpy as np

            times = (start + np.cumsum(durations)).tolist()
        bs = self.block_size
        pool = self.pool
        for r in running:
            need = -(-(r.computed + k) // bs) - len(r.held)
            if need > 0:
                pool.take(need)
                r.held.extend([None] * need)
            r.computed += k
            r.out += k
            gap = first_end - r.last_s
            r.max_gap_s = max(r.max_gap_s, gap, max_gap)
            r.last_s = end
            if times is not None:
                r.token_times.extend(times)
            if self.caching:
                full = r.computed // bs  # == min(slots, num_tokens) of the last step, as in _allocate
                if full > r.n_reg:
                    if r.keys is None:
                        self._shared_keys(r)
                    held = r.held
                    for i in range(r.n_reg, full):
                        if held[i] is None and pool.register(self._key(r, i)):
                            held[i] = self._key(r, i)
                    r.n_reg = full
        self.now = end
        c = self.counters
        c.steps += k
        c.jumps += 1
        c.busy_s += total
        c.generation_tokens += n * k
        res = StepResult(start, end, steps=k, tokens=running, batch_tokens=n, first_end_s=first_end,
                         max_step_s=max_gap, times=times)
        for r in running:
            if r.out >= r.max_out:
                self._finish(r, end)
                res.finished.append(r)
        return self._after_finishing(res, end)

    # Observation ----------------------------------------------------------------------------------------------------
    @property
    def kv_usage(self) -> float:
        return self.pool.n_ref / self.pool.capacity

    def snapshot(self) -> dict[str, float]:
        """The gauges and counters a /metrics scrape would see now, under the scraper's sample names."""
        c = self.counters
        return {
            vocab.KV_CACHE_USAGE: self.kv_usage,
            vocab.RUNNING: len(self.running),
            vocab.WAITING: len(self.waiting) + len(self.incoming),
            vocab.PREEMPTIONS_TOTAL: c.preemptions,
            vocab.ADMISSION_REJECTIONS_TOTAL: c.rejections,
            vocab.PREFIX_CACHE_QUERIES_TOTAL: c.prefix_queries,
            vocab.PREFIX_CACHE_HITS_TOTAL: c.prefix_hits,
            vocab.PROMPT_TOKENS_TOTAL: c.prompt_tokens,
            vocab.GENERATION_TOKENS_TOTAL: c.generation_tokens,
        }
