"""A replay against a fleet (targets/fleet.py): the client's routing, one scraper and one health watch per replica.

A client-routed fleet: every request is routed by `target.route` (replay/routing.py) and records its replica; a
replica whose health watch calls it dead is taken out of the routing, said once, and the run goes on with the
others; the run ends as `target_died` only when none is left. A router fleet: the requests go to the router, and
each replica's /metrics are still sampled (each sample says its `replica`).
"""

from __future__ import annotations

from typing import Any, Callable

from burststudio.replay.health import HealthWatch
from burststudio.replay.routing import FleetRoutes, make_policy, route_keys
from burststudio.vocab import REPLICA


def client_routes(target, info, route: str, plan, workload, seed: int) -> FleetRoutes | None:
    """The routing of a client-routed fleet; None for one server or a fleet behind a router."""
    if not getattr(target, "client_routes", False):
        return None
    eps = info.endpoints
    return FleetRoutes(make_policy(route, len(eps), seed), [e.url.rstrip("/") + plan.path for e in eps],
                       [e.name for e in eps], route_keys(route, plan, workload))


def is_fleet(target) -> bool:
    return hasattr(target, "members")


def scrapers(session, info, interval_s: float, t0_ns: int, on_sample: Callable[[dict], None], say, headers):
    """One Scraper per replica with /metrics; each sample carries its replica's name."""
    from burststudio.replay.scrape import Scraper

    out = []
    for ep in info.endpoints:
        def tagged(s: dict[str, Any], name: str = ep.name) -> None:
            s[REPLICA] = name
            on_sample(s)

        out.append(Scraper(session, ep.url or ep.metrics_url, interval_s, t0_ns, tagged,
                           lambda msg, name=ep.name: say(f"replica {name}: {msg}"), headers,
                           metrics_url=ep.metrics_url))
    return out


class ReplicaWatches:
    """A health watch on every managed or attached replica; a dead one leaves the routing (module doc)."""

    def __init__(self, target, routes: FleetRoutes | None, headers, say: Callable[[str], None],
                 on_all_dead: Callable[[str], None]):
        self.routes = routes
        self.say = say
        self.on_all_dead = on_all_dead
        self.dead: dict[str, str] = {}
        self.watches = [HealthWatch(m, headers, lambda why, n=name: self._died(n, why))
                        for name, m in zip(target.names, target.members)]
        self.names = list(target.names)

    def _died(self, name: str, why: str) -> None:
        self.dead[name] = why
        if len(self.dead) == len(self.names):
            self.on_all_dead(f"every replica died (last: replica {name}: {why})")
            return
        if self.routes is not None:
            self.routes.mark_down(name)
            self.say(f"replica {name} died ({why}); the run goes on with the others")
        else:
            self.say(f"replica {name} died ({why}); the router routes around it")

    def life(self) -> None:
        for w in self.watches:
            w.life()

    def kick(self) -> None:
        for w in self.watches:
            w.kick()

    async def run(self, done) -> None:
        import asyncio

        await asyncio.gather(*(w.run(done) for w in self.watches))
