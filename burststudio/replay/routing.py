"""Which replica of a fleet serves a request: the client's own routing when no router stands in front, and the router
model of the simulated fleet. One interface, each policy a few lines.

A policy sees the request's index and its key (the session id for `session`, the first prefix block for `prefix`
and `consistent_hash`; None when the workload has none) and picks a replica; it hears when a request ends, so the
load-aware ones know what is outstanding. A replica marked down is skipped by every policy (a dead one the run goes
on without); when all are down the policy still answers (the request fails there and is counted).

Keys are hashed with crc32, not Python's salted `hash`, so a run and its simulation send a session to the same
replica.
"""

from __future__ import annotations

import bisect
import random
import zlib
from typing import Any, Sequence

from burststudio.vocab import ROUTE_CONSISTENT_HASH as CONSISTENT_HASH
from burststudio.vocab import ROUTE_LEAST_OUTSTANDING as LEAST_OUTSTANDING
from burststudio.vocab import ROUTE_POLICIES as POLICIES
from burststudio.vocab import ROUTE_POWER_OF_TWO as POWER_OF_TWO
from burststudio.vocab import ROUTE_PREFIX as PREFIX
from burststudio.vocab import ROUTE_ROUND_ROBIN as ROUND_ROBIN
from burststudio.vocab import ROUTE_SESSION as SESSION
KEYED = {SESSION: "session", PREFIX: "prefix", CONSISTENT_HASH: "prefix"}  # what key each keyed policy reads
_VNODES = 64  # points per replica on the consistent-hash ring: shares within a few % of even for 2-8 replicas


def _h(key: Any) -> int:
    return zlib.crc32(str(key).encode())


class Policy:
    """Round-robin over the replicas that are up; the base of every policy."""

    def __init__(self, n: int, seed: int = 0):
        self.n = n
        self.outstanding = [0] * n
        self.down: set[int] = set()
        self._next = 0
        self.rng = random.Random(seed)

    def up(self) -> list[int]:
        return [k for k in range(self.n) if k not in self.down] or list(range(self.n))

    def _rr(self) -> int:
        up = self.up()
        k = up[self._next % len(up)]
        self._next += 1
        return k

    def choose(self, i: int, key: Any) -> int:
        return self._rr()

    def pick(self, i: int, key: Any = None) -> int:
        k = self.choose(i, key)
        self.outstanding[k] += 1
        return k

    def done(self, k: int) -> None:
        self.outstanding[k] -= 1

    def mark_down(self, k: int) -> None:
        self.down.add(k)


class LeastOutstanding(Policy):
    def choose(self, i: int, key: Any) -> int:
        up = self.up()
        low = min(self.outstanding[k] for k in up)
        ties = [k for k in up if self.outstanding[k] == low]
        # Ties rotate: an idle fleet is not served by its first replica alone.
        k = ties[self._next % len(ties)]
        self._next += 1
        return k


class PowerOfTwo(Policy):
    def choose(self, i: int, key: Any) -> int:
        up = self.up()
        if len(up) < 2:
            return up[0]
        a, b = self.rng.sample(up, 2)
        return a if self.outstanding[a] <= self.outstanding[b] else b


class Affinity(Policy):
    """A key always goes to the same replica (its hash modulo the fleet); a request without a key, round-robin.
    A key whose replica is down moves to the next one up."""

    def choose(self, i: int, key: Any) -> int:
        if key is None:
            return self._rr()
        k = _h(key) % self.n
        while k in self.down and len(self.down) < self.n:
            k = (k + 1) % self.n
        return k


class ConsistentHash(Policy):
    """A ring of `_VNODES` points per replica: a replica that goes down moves only its own keys."""

    def __init__(self, n: int, seed: int = 0):
        super().__init__(n, seed)
        ring = sorted((_h(f"replica-{k}-{v}"), k) for k in range(n) for v in range(_VNODES))
        self._points = [p for p, _ in ring]
        self._owners = [k for _, k in ring]

    def choose(self, i: int, key: Any) -> int:
        if key is None:
            return self._rr()
        j = bisect.bisect(self._points, _h(key))
        for step in range(len(self._owners)):
            k = self._owners[(j + step) % len(self._owners)]
            if k not in self.down or len(self.down) >= self.n:
                return k
        return self._owners[j % len(self._owners)]


_CLASSES = {ROUND_ROBIN: Policy, LEAST_OUTSTANDING: LeastOutstanding, POWER_OF_TWO: PowerOfTwo, SESSION: Affinity,
            PREFIX: Affinity, CONSISTENT_HASH: ConsistentHash}


def make_policy(name: str, n: int, seed: int = 0) -> Policy:
    from burststudio.errors import UserError

    cls = _CLASSES.get(name)
    if cls is None:
        raise UserError(f"unknown routing policy {name!r} (one of {', '.join(POLICIES)})")
    return cls(n, seed)


def route_keys(policy: str, plan, workload=None) -> Sequence[Any] | None:
    """Each planned request's key for `policy`: the workload's session ids (`session`) or the first prefix block
    (`prefix`, `consistent_hash`); None for the policies that need none."""
    what = KEYED.get(policy)
    if what == "session":
        if workload is None or not workload.has("session_id"):
            return None
        col = workload.table.column("session_id").to_pylist()
        return [col[int(r)] for r in plan.rows]
    if what == "prefix":
        blocks = plan.prefix_blocks
        if blocks is None:
            return None
        return [b[0] if b else None for b in blocks]
    return None


class FleetRoutes:
    """What the dispatcher needs to route: the policy, each replica's request URL and name, each request's key."""

    def __init__(self, policy: Policy, urls: Sequence[str], names: Sequence[str], keys: Sequence[Any] | None):
        self.policy = policy
        self.urls = list(urls)
        self.names = list(names)
        self.keys = keys

    def route(self, i: int, rec) -> tuple[int, str]:
        """Pick the replica of request `i`, name it on its record; (replica index, URL to post to)."""
        k = self.policy.pick(i, self.keys[i] if self.keys is not None else None)
        rec.replica = self.names[k]
        return k, self.urls[k]

    def mark_down(self, name: str) -> None:
        self.policy.mark_down(self.names.index(name))
