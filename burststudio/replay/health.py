"""Is the target still there? Health probes while a replay runs, and the rule that calls it dead.

A probe is a GET of `/health` on a fresh connection (pooled keep-alive connections outlive a closed port, so only a
new connection shows that nothing listens any more), plus, for a target BurstStudio started, whether its process
still runs. A probe ends one of four ways:
  ok         any answer below 500 (a server without /health answers 404 and is alive)
  down       refused or reset, or the managed server's process gone: nothing serves there for sure
  unhealthy  /health answered 5xx: the server is there, and says it is not well
  silent     no answer within `timeout_s`: the server may only be busy (a burst is what a replay is for)

What the requests see outweighs what /health says. The target is dead after `down_needed` probes in a row are
`down`; when probes have been `unhealthy` for `silent_s` and no request was served meanwhile (a 2xx answer or a
token); or when probes have failed for `silent_s` and no request got any answer meanwhile. A /health that answers
5xx while requests are served is said once (`note`, on `on_note`) and the run goes on: `judged_from` says which
signal decided ("health" while /health agreed with the requests, "requests" once it did not). A silent probe that
took much longer than its timeout says that this process's own event loop was late (a starved client), not that
the server was silent: it is not counted. A busy server that answers requests but not /health is therefore never
called dead, while a killed one is noticed within about a second: a request that fails to connect wakes the
watch, which then probes `fast_s` apart instead of `interval_s`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

INTERVAL_S = 1.0
FAST_S = 0.3
TIMEOUT_S = 2.0
DOWN_NEEDED = 3
SILENT_S = 15.0
# Which signal decided whether the target lives (`judged_from`, the summary's liveness.judged_from).
HEALTH = "health"
REQUESTS = "requests"


class HealthWatch:
    def __init__(self, target, headers: dict[str, str] | None, on_dead: Callable[[str], None], *,
                 interval_s: float = INTERVAL_S, fast_s: float = FAST_S, timeout_s: float = TIMEOUT_S,
                 down_needed: int = DOWN_NEEDED, silent_s: float = SILENT_S,
                 on_note: Callable[[str], None] | None = None):
        self.target = target
        self.url = target.url.rstrip("/") + "/health"
        self.headers = headers or {}
        self.on_dead = on_dead
        self.interval_s = interval_s
        self.fast_s = fast_s
        self.timeout_s = timeout_s
        self.down_needed = down_needed
        self.silent_s = silent_s
        self.on_note = on_note
        self.last_life = self.last_served = time.monotonic()
        self.judged_from = HEALTH
        self.note: str | None = None
        self.probes = 0
        self.late_probes = 0
        self.dead_reason: str | None = None
        self._kick = asyncio.Event()

    def life(self) -> None:
        """The server answered something (a request's status line, a /metrics page)."""
        self.last_life = time.monotonic()

    def served(self) -> None:
        """A request was served (a 2xx answer, or a token): the server works, whatever /health says."""
        self.last_life = self.last_served = time.monotonic()

    def kick(self) -> None:
        """A request could not connect: probe now rather than at the next interval."""
        self._kick.set()

    async def probe(self, session) -> tuple[str, str]:
        """(ok | down | unhealthy | silent, what was seen)."""
        import aiohttp

        if getattr(self.target, "kind", "url") != "url":
            loop = asyncio.get_running_loop()
            if not await loop.run_in_executor(None, self.target.alive):
                return "down", "the server process exited"
        try:
            async with session.get(self.url, headers=self.headers,
                                   timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as r:
                await r.read()
                if r.status >= 500:
                    return "unhealthy", f"/health answered HTTP {r.status}"
                return "ok", f"HTTP {r.status}"
        except asyncio.TimeoutError:
            return "silent", f"no answer from /health within {self.timeout_s:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            why = getattr(exc, "os_error", None) or exc
            for kind, text in ((ConnectionRefusedError, "connection refused"), (ConnectionResetError,
                               "connection reset"), (aiohttp.ServerDisconnectedError, "the server disconnected")):
                if isinstance(why, kind):
                    return "down", text
            return "down", f"{type(why).__name__}: {why}"[:200]

    async def run(self, done: asyncio.Event) -> None:
        """Probe until `done`; on death call `on_dead(reason)` once and return."""
        import aiohttp

        # Its own connector: never a pooled connection, and never waiting behind the replay's connection limit.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2, force_close=True))
        downs = 0
        failing_since: float | None = None
        wait = self.interval_s
        last_probe = 0.0
        try:
            while not done.is_set():
                kicked = asyncio.ensure_future(self._kick.wait())
                ended = asyncio.ensure_future(done.wait())
                await asyncio.wait({kicked, ended}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                kicked.cancel()
                ended.cancel()
                # However many requests fail at once, probes stay `fast_s` apart.
                gap = self.fast_s - (time.monotonic() - last_probe)
                if gap > 0 and not done.is_set():
                    try:
                        await asyncio.wait_for(done.wait(), gap)
                    except asyncio.TimeoutError:
                        pass
                if done.is_set():
                    return
                self._kick.clear()
                started = time.monotonic()
                state, seen = await self.probe(session)
                self.probes += 1
                now = last_probe = time.monotonic()
                if state == "silent" and now - started > 1.5 * self.timeout_s + 0.5:
                    # Our own loop ran late (an overloaded client): the silence may be ours, not the server's.
                    self.late_probes += 1
                    continue
                if state == "ok":
                    downs, failing_since, wait = 0, None, self.interval_s
                    continue
                if failing_since is None:
                    failing_since = now
                downs = downs + 1 if state == "down" else 0
                if state == "unhealthy":
                    if self.last_served > failing_since and self.note is None:
                        self.judged_from = REQUESTS
                        self.note = (f"{self.url} {seen.removeprefix('/health ')} while requests were served; "
                                     "liveness judged from the requests")
                        if self.on_note:
                            self.on_note(self.note)
                    unserved = now - max(failing_since, self.last_served)
                    if unserved >= self.silent_s:
                        self.judged_from = REQUESTS
                        self.dead_reason = f"{self.url}: {seen}, and no request was served for {unserved:.0f} s"
                else:
                    silent_for = now - max(failing_since, self.last_life)
                    if downs >= self.down_needed:
                        self.dead_reason = f"{self.url}: {seen}, {downs} probes in a row"
                    elif silent_for >= self.silent_s:
                        self.judged_from = REQUESTS
                        self.dead_reason = f"{self.url}: {seen}, and no request answered for {silent_for:.0f} s"
                if self.dead_reason:
                    self.on_dead(self.dead_reason)
                    return
                wait = self.fast_s
        finally:
            await session.close()
