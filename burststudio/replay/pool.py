"""The connection pool: keep-alive connections opened at a pace a loaded server can accept.

On Linux a connect() on the loopback completes as soon as the kernel has answered the handshake, long before the
server's application calls accept(). When the server's accept queue (its listen backlog: 128 by default in aiohttp
and asyncio, 2,048 in uvicorn) is full, the kernel drops the handshake's last step; the client believes the
connection open, sends its request, and the bytes are retransmitted on a doubling timer until the server takes the
connection, or dropped with it: a request that waited minutes for a first token the server never saw. Hundreds of
connects in one loop turn (a pool warm-up, or a dispatcher that opens a connection for every request that finds none
idle at overload) fill any such queue.

So a connection counts as *opening* from its connect until the server first answers on it (its response headers:
the only proof, seen from the client, that the server's application holds it), and at most `opening_max` are
opening at once in one process. A request that finds no idle connection and no free opening slot waits; an idle
connection released meanwhile goes to the longest waiter first, so requests leave in their planned order. The wait
shows as lateness (`sent` is stamped when the request has its connection), never as a failure.

The hooks are TCPConnector's `_create_connection` (the method every aiohttp connector implements) and `_release`
(where a finished request hands its connection back); tests/unit/test_replay_pool.py checks both against the aiohttp
in use.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import json
import time
from typing import Any

import aiohttp

# The request a task is sending (a RequestRecord, or a warm-up's holder): the connector stamps its `sent_ns` when the
# request has its connection, calls its `_on_sent`, marks a connection it opened for it in `_opening`, and puts its
# `_tap` (the body reader of replay/wire.py) in front of the connection before the request is written.
CURRENT: contextvars.ContextVar[Any] = contextvars.ContextVar("burststudio_request", default=None)

# A quarter of the smallest common listen backlog (128): a pool that grows this fast never fills the accept queue
# of a server that takes its connections at all, and leaves room for other clients of the same server.
OPENING_MAX = 32
WARM_MAX = 512  # connections one process opens before the clock starts


class _Holder:
    """What the connector needs of a request (RequestRecord has the same slots)."""

    __slots__ = ("sent_ns", "_opening", "_on_sent", "_tap")

    def __init__(self) -> None:
        self.sent_ns = 0
        self._opening = None
        self._on_sent = None
        self._tap = None


class PacedConnector(aiohttp.TCPConnector):
    """A TCPConnector with at most `opening_max` connections opening at once (module doc)."""

    def __init__(self, *, opening_max: int = OPENING_MAX, **kwargs: Any):
        super().__init__(**kwargs)
        self.opening_max = max(1, int(opening_max))
        self.opening = 0
        self.opened = 0  # connections opened over the session's life
        self.opening_peak = 0
        self.handed_over = 0  # released connections given straight to a waiting request
        self.handover = True  # off while the pool is warmed: there every request must open its own
        self._slots: collections.deque[tuple[Any, asyncio.Future]] = collections.deque()  # (connection key, waiter)

    @property
    def queued(self) -> int:
        """Requests waiting for an opening slot or a released connection."""
        return sum(1 for _, f in self._slots if not f.done())

    def _wake(self) -> None:
        while self._slots and self.opening < self.opening_max:
            _, fut = self._slots.popleft()
            if not fut.done():
                self.opening += 1
                fut.set_result(None)

    def confirm(self, holder: Any) -> None:
        """The server answered on the connection `holder` opened (or the request ended first): a slot frees."""
        if holder._opening is self:
            holder._opening = None
            self.opening -= 1
            self._wake()

    async def _create_connection(self, req, traces, timeout):
        if self.opening < self.opening_max and not self._slots:
            self.opening += 1
        else:
            fut = asyncio.get_running_loop().create_future()
            self._slots.append((req.connection_key, fut))
            try:
                got = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._pass_on(req, fut.result())
                raise
            if got is not None:  # a kept-alive connection another request released: no handshake at all
                return got
        try:
            proto = await super()._create_connection(req, traces, timeout)
        except BaseException:
            self.opening -= 1
            self._wake()
            raise
        self.opened += 1
        self.opening_peak = max(self.opening_peak, self.opening)
        holder = CURRENT.get()
        if holder is not None:
            holder._opening = self
        else:  # nobody to say when the server answers (a scrape, a health check): count it open now
            self.opening -= 1
            self._wake()
        return proto

    def _pass_on(self, req, got: Any) -> None:
        """A slot or connection granted to a waiter cancelled in the same loop turn goes to the next one."""
        if got is None:
            self.opening -= 1
            self._wake()
        else:
            self._release(req.connection_key, got)

    def _release(self, key, protocol, *, should_close: bool = False) -> None:
        transport = protocol.transport
        if transport is not None and transport.get_protocol() is not protocol:
            should_close = True  # a body reader (replay/wire.py) still in front of it: the message is not whole
        if (self._slots and self.handover and not should_close and not self._closed and not self._force_close
                and not protocol.should_close and protocol.is_connected()):
            while self._slots and self._slots[0][1].done():
                self._slots.popleft()
            if self._slots and self._slots[0][0] == key:
                _, fut = self._slots.popleft()
                # The longest waiter takes this connection where aiohttp would pool it for whichever request comes
                # next: requests then leave in their planned order.
                self._release_acquired(key, protocol)
                self.handed_over += 1
                fut.set_result(protocol)
                return
        super()._release(key, protocol, should_close=should_close)

    async def connect(self, req, traces, timeout):
        conn = await super().connect(req, traces, timeout)
        holder = CURRENT.get()
        if holder is not None:
            if holder._tap is not None:
                holder._tap.attach(conn.transport)
            holder.sent_ns = time.perf_counter_ns()
            if holder._on_sent is not None:
                holder._on_sent(holder)
        return conn


def confirm(holder: Any) -> None:
    """Free the opening slot `holder` holds, if any (its response headers came, or it ended without them)."""
    owner = holder._opening
    if owner is not None:
        owner.confirm(holder)


def make_session(limit: int, connect_s: float, opening_max: int = OPENING_MAX) -> aiohttp.ClientSession:
    """One shared session for the whole run; the pool holds as many connections as requests can be in flight."""
    # vLLM's server (uvicorn) closes a connection idle for 5 s; dropping ours after 4 s keeps a request from being
    # sent on a connection the server is closing, which would fail it as "Server disconnected".
    connector = PacedConnector(opening_max=opening_max, limit=max(1, limit), limit_per_host=0, force_close=False,
                               enable_cleanup_closed=True, ttl_dns_cache=None, keepalive_timeout=4.0)
    # Only the connect limit is left to aiohttp; headers, first-token, idle and total limits are the watchdog's.
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect_s, sock_read=None)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                 json_serialize=json.dumps, skip_auto_headers=("User-Agent",))


async def warm_pool(session: aiohttp.ClientSession, base_url: str, headers: dict[str, str], n: int,
                    timeout_s: float = 10.0) -> int:
    """Open up to `n` keep-alive connections before the run's clock starts; returns how many answered.

    A request that finds no idle connection pays for a TCP handshake (and the server's accept) on its way out:
    hundreds of those in the first seconds of a run showed as the worst lateness of the run. All `n` GETs of
    `/v1/models` start together and each opens its own connection (none is handed another's), at the connector's
    pace: at most `opening_max` waiting for the server's first answer. Failures are ignored: the run reports them.
    """
    n = max(1, min(int(n), WARM_MAX))
    url = base_url.rstrip("/") + "/v1/models"
    per = aiohttp.ClientTimeout(total=timeout_s)
    connector = session.connector

    async def one() -> bool:
        holder = _Holder()
        CURRENT.set(holder)
        try:
            async with session.get(url, headers=headers, timeout=per) as r:
                confirm(holder)
                await r.read()
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False
        finally:
            confirm(holder)

    paced = isinstance(connector, PacedConnector)
    if paced:
        connector.handover = False
    try:
        results = await asyncio.gather(*(one() for _ in range(n)))
    finally:
        if paced:
            connector.handover = True
    return sum(results)
