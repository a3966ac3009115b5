"""Fleets: several replicas of one kind as one target, routed by the client or by a router in front.

A fleet is made by `make_fleet` when the settings ask for more than one server: `target.urls` (running servers,
client-routed), `target.url` plus `target.metrics_urls` (a running router in front, each replica's /metrics
sampled), or a kind whose settings say `replicas = N` (managed vLLM or simulator servers, each on its own port with
its own log under `replica-NAME/` of the run directory). `[target.vllm] router = true` puts a managed vllm-router
(targets/router.py) in front of the managed replicas.

Every replica is an endpoint of the fleet's TargetInfo. `client_routes` says whether the replay engine routes
(and so knows each request's replica) or a router does (then only the replicas' own counters tell who served
what: `replica_source`). Replicas are started together and waited on in turn, the router once they answer; `stop`
stops the router first, then every replica, whatever failed before.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from burststudio.targets import address as addresses
from burststudio.targets.base import Endpoint, Progress, Target, TargetError, TargetInfo, auth_headers
from burststudio.vocab import REPLICA_BY_CLIENT, REPLICA_BY_COUNTERS

if TYPE_CHECKING:
    from burststudio.settings import TargetSettings
    from burststudio.targets.registry import TargetKind


def distinct(urls: list[str], where: str) -> list[addresses.Address]:
    """The URLs read as every target URL is (targets/address.py); one named twice is a mistake (two replicas on
    one server), said in one line."""
    out: list[addresses.Address] = []
    for k, u in enumerate(urls):
        a = addresses.parse(u, f"{where}[{k}]")
        bases = [o.base for o in out]
        if a.base in bases:
            raise TargetError(f"{where} names {a.base} twice (entries {bases.index(a.base)} and {k}); each replica "
                              "once")
        out.append(a)
    return out


class Fleet(Target):
    def __init__(self, kind: str, members: list[Target], names: list[str], *, front: Target | None = None,
                 metrics_urls: list[str] | None = None):
        self.kind = kind
        self.members = members
        self.names = names
        self.front = front  # a router the requests go to; None: the client routes
        self.metrics_urls = metrics_urls  # a router's fleet without managed members: the replicas' /metrics
        self._info: TargetInfo | None = None

    @property
    def client_routes(self) -> bool:
        return self.front is None

    @property
    def replica_source(self) -> str:
        return REPLICA_BY_CLIENT if self.client_routes else REPLICA_BY_COUNTERS

    @property
    def url(self) -> str:
        return self.front.url if self.front is not None else self.members[0].url

    @property
    def grace_s(self) -> float:
        return min((getattr(m, "grace_s", 0.0) for m in self._all()), default=0.0)

    @grace_s.setter
    def grace_s(self, value: float) -> None:
        for m in self._all():
            if hasattr(m, "grace_s"):
                m.grace_s = value

    def _all(self) -> list[Target]:
        return ([self.front] if self.front is not None else []) + list(self.members)

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        for name, m in zip(self.names, self.members):
            m.start(Path(run_dir) / f"replica-{name}" if run_dir else None,
                    (lambda msg, n=name: progress(f"replica {n}: {msg}")) if progress else None)
        if self.front is not None and not self.members:
            self.front.start(run_dir, progress)
        self._run_dir, self._progress = run_dir, progress

    def wait_healthy(self, timeout_s: float) -> None:
        for name, m in zip(self.names, self.members):
            try:
                m.wait_healthy(timeout_s)
            except TargetError as exc:
                raise TargetError(f"replica {name}: {exc}") from None
        for k, u in enumerate(self.metrics_urls or []):
            try:
                with urllib.request.urlopen(u, timeout=5.0) as r:  # noqa: S310 (the user's own server)
                    r.read()
            except (urllib.error.URLError, OSError) as exc:
                raise TargetError(f"target.metrics_urls[{k}] {u} is not reachable: "
                                  f"{getattr(exc, 'reason', exc)}") from None
        if self.front is not None:
            if self.members:  # a managed router starts once its workers answer
                self.front.start(getattr(self, "_run_dir", None), getattr(self, "_progress", None))
            self.front.wait_healthy(timeout_s)

    def describe(self) -> TargetInfo:
        if self._info is not None:
            return self._info
        if self.members:
            infos = [m.describe() for m in self.members]
            first = infos[0]
            eps = [Endpoint(n, i.url, kv_capacity_tokens=i.kv_capacity_tokens, kv_blocks=i.kv_blocks,
                            block_size=i.block_size) for n, i in zip(self.names, infos)]
        else:
            first = self.front.describe()  # type: ignore[union-attr]
            eps = [Endpoint(n, "", metrics_url=u) for n, u in zip(self.names, self.metrics_urls or [])]
        info = TargetInfo(kind=self.kind, model=first.model, max_model_len=first.max_model_len,
                          vocab_size=first.vocab_size, engine=first.engine, build=first.build,
                          has_metrics=first.has_metrics or bool(self.metrics_urls), endpoints=eps)
        info.router = self.front.url if self.front is not None else None
        info.replica_source = self.replica_source
        self._info = info
        return info

    def alive(self) -> bool:
        if self.front is not None and not self.front.alive():
            return False
        return any(m.alive() for m in self.members) if self.members else True

    def api_key(self) -> str | None:
        return (self.front or self.members[0]).api_key()

    def auth_headers(self) -> dict[str, str]:
        """The one set of headers every request and probe carries, whichever replica it goes to: the replicas'
        URLs must agree on a user name and password (or hold none)."""
        if self.front is not None:
            return auth_headers(self.front)
        each = [auth_headers(m) for m in self.members]
        if any(h != each[0] for h in each[1:]):
            raise TargetError("the replicas' URLs hold different user names or passwords; the requests carry one "
                              "set of headers to every replica: give them the same, or a key in target.api_key_env")
        return each[0]

    def stop(self) -> None:
        first_error: BaseException | None = None
        for m in self._all():
            try:
                m.stop()
            except BaseException as exc:  # noqa: BLE001 (every replica is stopped, whatever one raised)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error


def make_fleet(kind: "TargetKind", settings: "TargetSettings") -> Fleet:
    """The fleet the settings describe (module doc)."""
    import copy

    if kind.settings is None:  # running servers
        UrlTarget = kind.target_class()
        if settings.urls:
            if settings.metrics_urls:
                raise TargetError("target.urls and target.metrics_urls are two ways to name a fleet: urls for "
                                  "client routing, url + metrics_urls for a router in front; set one")
            distinct(settings.urls, "target.urls")
            members: list[Target] = [UrlTarget(settings, u) for u in settings.urls]
            return Fleet(kind.name, members, [str(k) for k in range(len(members))])
        murls = distinct(settings.metrics_urls, "target.metrics_urls")
        for k, a in enumerate(murls):
            if a.has_credentials:
                raise TargetError(f"{a.base} holds a user name or password, which /metrics is never sent: the "
                                  "samples carry the router's headers (target.url, target.api_key_env)",
                                  where=f"target.metrics_urls[{k}]")
        return Fleet(kind.name, [], [str(k) for k in range(len(murls))], front=UrlTarget(settings),
                     metrics_urls=[a.base for a in murls])
    sub = kind.settings_of(settings)
    n = int(sub.replicas)
    cls = kind.target_class()
    members = []
    for k in range(n):
        one = copy.deepcopy(sub)
        one.replicas = 1
        member = cls(one)  # type: ignore[call-arg]
        if hasattr(member, "bind_replica"):
            member.bind_replica(k, n)
        members.append(member)
    front = None
    if getattr(sub, "router", False):
        from burststudio.targets.router import RouterTarget

        front = RouterTarget(sub, members)
    return Fleet(kind.name, members, [str(k) for k in range(n)], front=front)
