"""The simulated fleet: `[target.sim] replicas = N` engines behind a router model with the client's policies
(replay/routing.py), each engine simulated as one server is, written as one run with a `replica` per request and per
sample, so `compare` diffs a real fleet's run against its simulation.

The router model routes in arrival order. Round-robin, session, prefix and consistent hashing need nothing but the
arrivals: one pass, exact. Least-outstanding and power-of-two need what is outstanding on each replica when a
request arrives, which depends on how long the engines take, which depends on the routing: they are routed by a
fixed point. The first pass routes round-robin and simulates; each further pass routes with each request's
duration from the pass before (a request counts as outstanding from its arrival until arrival + that duration,
which is what a real router's in-flight counter sees) and simulates again, until the routing no longer changes
or `MAX_PASSES` have run (`router_passes` in the run's `simulation` says how many).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

import numpy as np

from burststudio.replay.routing import ROUND_ROBIN, make_policy, route_keys
from burststudio.vocab import ROUTE_LEAST_OUTSTANDING, ROUTE_POWER_OF_TWO

MAX_PASSES = 4
LOAD_AWARE = (ROUTE_LEAST_OUTSTANDING, ROUTE_POWER_OF_TWO)


@dataclass
class FleetResult:
    results: list[Any]  # one SimResult per replica
    members: list[np.ndarray]  # each replica's plan indices, in arrival order
    assignment: np.ndarray  # each planned request's replica
    passes: int


def route(policy: str, n: int, arrivals: np.ndarray, keys, durations: np.ndarray | None, seed: int) -> np.ndarray:
    """Each request's replica under `policy`, requests outstanding for `durations` (None: nothing is outstanding
    for the router to see: the first pass of a load-aware policy)."""
    p = make_policy(policy if durations is not None or policy not in LOAD_AWARE else ROUND_ROBIN, n, seed)
    out = np.empty(arrivals.size, dtype=np.int64)
    ends: list[tuple[float, int]] = []
    for i, t in enumerate(arrivals):
        while ends and ends[0][0] <= t:
            p.done(heapq.heappop(ends)[1])
        k = p.pick(i, keys[i] if keys is not None else None)
        out[i] = k
        if durations is not None:
            heapq.heappush(ends, (t + float(durations[i]), k))
        else:
            p.done(k)
    return out


def simulate_fleet(plan, sim, profile, policy: str, workload=None, *, sample_interval_s: float,
                   seed: int = 0, max_samples: float | None = None) -> FleetResult:
    """`max_samples` bounds each replica's samples (targets/sim/engine.py simulate)."""
    from burststudio.targets.sim.engine import simulate

    n = int(sim.replicas)
    keys = route_keys(policy, plan, workload)
    arrivals = np.asarray(plan.scheduled_s, dtype=np.float64)
    durations = None
    assignment = None
    passes = 0
    while True:
        passes += 1
        new = route(policy, n, arrivals, keys, durations, seed)
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        members = [np.flatnonzero(assignment == k) for k in range(n)]
        results = []
        for idx in members:
            results.append(simulate(arrivals[idx], plan.prompt_tokens[idx], plan.output_tokens[idx], sim, profile,
                                    prefix_blocks=None if plan.prefix_blocks is None
                                    else [plan.prefix_blocks[i] for i in idx],
                                    prefix_block_tokens=plan.block_tokens, record_tokens=True,
                                    sample_interval_s=sample_interval_s, max_samples=max_samples))
        if policy not in LOAD_AWARE or passes >= MAX_PASSES:
            break
        durations = np.zeros(arrivals.size)
        for idx, res in zip(members, results):
            for r in res.requests:
                durations[idx[r.rid]] = max(0.0, float(r.end_s) - float(r.arrival_s))
    return FleetResult(results=results, members=members, assignment=assignment, passes=passes)

