"""A replay against a fleet (targets/fleet.py): the client's routing, one scraper and one health watch per replica.

A client-routed fleet: every request is routed by `target.route` (replay/routing.py) and records its replica; a
replica whose health watch calls it dead is taken out of the routing, said once, and the run goes on with the
others; the run ends as `target_died` only when none is left. Its warm-up goes round-robin to every replica. A
router fleet: the requests go to the router, and each replica's /metrics are still sampled (each sample says its
`replica`).
"""

from __future__ import annotations

from typing import Any, Callable

from burststudio.replay.health import HEALTH, REQUESTS, HealthWatch
from burststudio.replay.routing import FleetRoutes, make_policy, route_keys
from burststudio.vocab import REPLICA, ROUTE_ROUND_ROBIN


def client_routes(target, info, route: str, plan, workload, seed: int) -> FleetRoutes | None:
    """The routing of a client-routed fleet; None for one server or a fleet behind a router."""
    if not getattr(target, "client_routes", False):
        return None
    eps = info.endpoints
    return FleetRoutes(make_policy(route, len(eps), seed), [e.url.rstrip("/") + plan.path for e in eps],
                       [e.name for e in eps], route_keys(route, plan, workload))


def warmup_routes(routes: FleetRoutes | None) -> FleetRoutes | None:
    """The warm-up's routing: round-robin over every replica whatever the run's policy, so each pays its one-off
    costs before the clock starts."""
    if routes is None:
        return None
    return FleetRoutes(make_policy(ROUTE_ROUND_ROBIN, len(routes.urls)), routes.urls, routes.names, None)


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
        self.watches = [HealthWatch(m, headers, lambda why, n=name: self._died(n, why),
                                    on_note=lambda msg, n=name: say(f"replica {n}: {msg}"))
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

    def served(self) -> None:
        for w in self.watches:
            w.served()

    @property
    def judged_from(self) -> str:
        """"requests" once any replica's liveness was judged from the requests (replay/health.py)."""
        return REQUESTS if any(w.judged_from == REQUESTS for w in self.watches) else HEALTH

    @property
    def note(self) -> str | None:
        notes = [f"replica {n}: {w.note}" for n, w in zip(self.names, self.watches) if w.note]
        return "; ".join(notes) or None

    def kick(self) -> None:
        for w in self.watches:
            w.kick()

    async def run(self, done) -> None:
        import asyncio

        await asyncio.gather(*(w.run(done) for w in self.watches))
