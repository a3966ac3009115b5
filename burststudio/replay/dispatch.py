"""Send planned requests on schedule (open loop) or from N users back to back (closed loop).

Open loop: request i leaves at t0 + scheduled_s[i] whether or not earlier ones finished. Timers of an event loop
fire up to a millisecond late (libuv and epoll timeouts have millisecond resolution), so the dispatcher sleeps until
`spin_s` before the due time, then waits on a thread's precise sleep (replay/wake.py: the loop keeps serving other
requests meanwhile, without iterating for nothing) until `busy_s` remains, and spins on the clock for those last
`busy_s` (at most a fraction of a millisecond of a blocked loop per request): the request leaves within tens of
microseconds of its time when the loop is not overloaded. Bodies are built before the wait, so JSON encoding never
delays a send. Lateness (sent - scheduled) is recorded for every request, and is honest: `sent` is stamped when the
request has its connection and its bytes go out.

With `max_concurrency`, a request waits for a free slot; that wait shows up as lateness, as does the wait for a
connection (replay/pool.py opens them at a pace the server can accept).

When the schedule has run out, the requests still in flight get `drain_s` seconds to end; then they, and any still
waiting for a connection or a slot, are cancelled, each journaled as `cancelled` with the reason in its `error`.

Closed loop: `users` coroutines take the next request as soon as their last one ended (plus `think_time_s`);
`scheduled` is the moment the user was ready, so lateness measures the client's own delay.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from burststudio.replay.client import RequestRecord, send_request
from burststudio.replay.plan import Plan
from burststudio.replay.wake import Waker
from burststudio.settings import TimeoutSettings
from burststudio.vocab import CANCELLED

SPIN_S = 0.0015
BUSY_S = 0.0002
WARM_HOLD_S = 0.5  # a request holds its connection about this long, for the warm-up's estimate
SHARD_RATE = 400.0  # requests/s one dispatch process holds with room to spare (docs/performance.md)


def expected_concurrency(scheduled_s, hold_s: float = WARM_HOLD_S) -> int:
    """The most requests scheduled within any `hold_s` window: the connections the run will want at once if each
    request holds one for about `hold_s` (the warm-up opens that many before the clock starts)."""
    import numpy as np

    t = np.asarray(scheduled_s, dtype=np.float64)
    if t.size == 0:
        return 0
    t = np.sort(t)
    ends = np.searchsorted(t, t + hold_s, side="left")
    return int((ends - np.arange(t.size)).max())


def auto_shards(scheduled_s, cpus: int | None = None, per_process: float = SHARD_RATE) -> int:
    """Dispatch processes for a schedule: one per `per_process` requests/s of its busiest second, at most one per
    core but one (kept for the engine's own process and a server on the same machine: on 2 cores, two shards beside
    a local server were slower than one process). `BURSTSTUDIO_SHARDS=N` sets the number (1: never shard)."""
    import math
    import os

    forced = os.environ.get("BURSTSTUDIO_SHARDS", "").strip()
    if forced:
        try:
            return max(1, int(forced))
        except ValueError:
            from burststudio.errors import UserError

            raise UserError(f"BURSTSTUDIO_SHARDS must be a whole number, got {forced!r}") from None
    cpus = cpus or os.cpu_count() or 1
    peak = expected_concurrency(scheduled_s, 1.0)
    return max(1, min(cpus - 1, math.ceil(peak / per_process)))


class Dispatcher:
    def __init__(self, plan: Plan, session, base_url: str, headers: dict[str, str], timeouts: TimeoutSettings, *,
                 t0_ns: int, on_sent: Callable[[RequestRecord], None], on_end: Callable[[RequestRecord], None],
                 max_concurrency: int = 0, spin_s: float = SPIN_S, busy_s: float = BUSY_S,
                 shard: tuple[int, int] = (0, 1), drain_s: float = 0.0, fleet=None):
        self.plan = plan
        self.fleet = fleet  # client-side routing over several replicas (replay/routing.py FleetRoutes)
        self.session = session
        self.url = base_url.rstrip("/") + plan.path
        self.headers = {"Content-Type": "application/json", **headers}
        self.timeouts = timeouts
        self.t0_ns = t0_ns
        self.on_sent = on_sent
        self.on_end = on_end
        self.sem = asyncio.Semaphore(max_concurrency) if max_concurrency > 0 else None
        self.spin_ns = int(spin_s * 1e9)
        self.busy_ns = int(busy_s * 1e9)
        self.shard = shard
        self.tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.launched = 0
        self.drain_s = drain_s
        self.why_cancelled = "the run stopped"

    # One request ----------------------------------------------------------------------------------------------------
    async def _one(self, i: int, body: bytes, scheduled_ns: int) -> None:
        plan = self.plan
        rec = RequestRecord(i, int(plan.rows[i]), int(plan.prompt_tokens[i]), int(plan.output_tokens[i]),
                            scheduled_ns)
        slot = self.sem is None
        fleet, k, url = self.fleet, -1, self.url
        try:
            if self.sem is not None:
                async with self.sem:
                    slot = True
                    if fleet is not None:
                        k, url = fleet.route(i, rec)
                    await send_request(self.session, url, body, self.headers, rec, self.timeouts, self.on_sent)
            else:
                if fleet is not None:
                    k, url = fleet.route(i, rec)
                await send_request(self.session, url, body, self.headers, rec, self.timeouts, self.on_sent)
        except asyncio.CancelledError:
            if k >= 0:
                fleet.policy.done(k)
            rec.outcome = rec.outcome or CANCELLED
            rec.end_ns = rec.end_ns or time.perf_counter_ns()
            if rec.outcome == CANCELLED:
                where = ("in flight" if rec.sent_ns else "never sent: waiting for a connection" if slot
                         else "never sent: waiting for a concurrency slot")
                rec.error = f"{where} when {self.why_cancelled}"
            self.on_end(rec)
            raise
        if k >= 0:
            fleet.policy.done(k)
        self.on_end(rec)

    def _launch(self, i: int, body: bytes, scheduled_ns: int) -> asyncio.Task:
        task = asyncio.create_task(self._one(i, body, scheduled_ns))
        self.tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)
        self.launched += 1
        return task

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not self.tasks:
            self._idle.set()

    @property
    def in_flight(self) -> int:
        return len(self.tasks)

    # Open loop ------------------------------------------------------------------------------------------------------
    async def run_open(self, stop: asyncio.Event) -> None:
        plan = self.plan
        sched_ns = (plan.scheduled_s * 1e9).astype("int64")
        k, m = self.shard
        perf = time.perf_counter_ns
        spin = self.spin_ns
        busy = self.busy_ns
        waker = Waker()
        try:
            await self._open_loop(plan, sched_ns, k, m, perf, spin, busy, waker, stop)
        finally:
            waker.close()
        await self.drain(stop)

    async def _open_loop(self, plan, sched_ns, k, m, perf, spin, busy, waker, stop) -> None:
        for i in range(k, len(plan), m):
            if stop.is_set():
                break
            body = plan.body_bytes(i)
            due = self.t0_ns + int(sched_ns[i])
            while True:
                delay = due - perf()
                if delay <= 0:
                    break
                if delay > spin:
                    await asyncio.sleep((delay - spin) / 1e9)
                elif delay > busy:
                    await waker.until(due - busy)
                else:
                    while perf() < due:
                        pass
                    break
                if stop.is_set():
                    break
            if stop.is_set():
                break
            self._launch(i, body, due)

    # Closed loop ----------------------------------------------------------------------------------------------------
    async def run_closed(self, users: int, think_time_s: float, stop: asyncio.Event) -> None:
        plan = self.plan
        k, m = self.shard
        mine = range(k, len(plan), m)
        order = iter(mine)
        # A user beyond the requests never sends one: `users` is bounded by the plan, not by memory (a hundred
        # million idle coroutines took 7 GB).
        users = min(max(1, users), max(1, len(mine)))

        async def user() -> None:
            for i in order:
                if stop.is_set():
                    return
                body = plan.body_bytes(i)
                task = self._launch(i, body, time.perf_counter_ns())
                await asyncio.wait({task})
                if think_time_s > 0 and not stop.is_set():
                    try:
                        await asyncio.wait_for(stop.wait(), think_time_s)
                    except asyncio.TimeoutError:
                        pass

        await asyncio.gather(*(user() for _ in range(users)))
        await self.drain(stop)

    async def drain(self, stop: asyncio.Event) -> None:
        """Wait for the requests in flight, at most `drain_s` (0: as long as their own limits allow); when the
        drain ends or `stop` is set first, cancel them (outcome `cancelled`, the reason in `error`)."""
        if self.tasks:
            idle = asyncio.ensure_future(self._idle.wait())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({idle, stopper}, timeout=self.drain_s if self.drain_s > 0 else None,
                                         return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
            stopper.cancel()
            if not done:
                self.why_cancelled = f"the drain ended ({self.drain_s:g} s after the last scheduled send)"
        if self.tasks:
            await self.cancel_all()

    async def cancel_all(self) -> None:
        pending = list(self.tasks)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
