"""The connection pool at a pace the server can accept, and the response-headers deadline."""

import asyncio
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from burststudio.replay import client, pool  # noqa: E402
from burststudio.settings import TimeoutSettings  # noqa: E402
from burststudio.vocab import CANCELLED, OK, TIMEOUT  # noqa: E402

MODELS_REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"data\":[]}"
STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _sse(n_tokens: int) -> bytes:
    body = b"".join(b'data: {"choices":[{"index":0,"text":"x"}]}\n\n' for _ in range(n_tokens))
    body += b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":%d}}\n\ndata: [DONE]\n\n' % n_tokens
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


class CountingServer:
    """A keep-alive HTTP server that counts, on its side, connections it holds but has not answered yet."""

    def __init__(self, answer_after_s: float = 0.02, tokens: int = 2):
        self.answer_after_s = answer_after_s
        self.tokens = tokens
        self.unanswered = 0
        self.unanswered_peak = 0
        self.connections = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.unanswered += 1
        self.unanswered_peak = max(self.unanswered_peak, self.unanswered)
        first = True
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                await asyncio.sleep(self.answer_after_s)
                if head.startswith(b"GET"):
                    writer.write(MODELS_REPLY)
                else:
                    writer.write(STREAM_HEAD + _sse(self.tokens))
                if first:
                    first = False
                    self.unanswered -= 1
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if first:
                self.unanswered -= 1
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.server.close()


def test_warm_up_opens_connections_at_the_pace_the_server_answers():
    async def main():
        srv = CountingServer(answer_after_s=0.02)
        url = await srv.start()
        session = pool.make_session(512, 5.0, opening_max=8)
        try:
            opened = await pool.warm_pool(session, url, {}, 100)
            return opened, srv, session.connector
        finally:
            await session.close()
            await srv.stop()

    opened, srv, conn = asyncio.run(main())
    assert opened == 100 and srv.connections == 100  # every GET opened its own connection
    # Never more than 8 connections the server holds without having answered on them: its accept queue stays short.
    assert srv.unanswered_peak <= 8 and conn.opening_peak <= 8
    assert conn.opening == 0


def _rec(i: int) -> client.RequestRecord:
    return client.RequestRecord(i, i, 4, 2, time.perf_counter_ns())


def test_requests_wait_for_a_connection_as_lateness_and_reuse_released_ones_in_order():
    """50 requests at once on a pool that may open 4 connections at a time: all finish, no failure; the wait is
    lateness (sent - scheduled), never in TTFT; the pool stays well under one connection per request."""
    async def main():
        srv = CountingServer(answer_after_s=0.05, tokens=2)
        url = await srv.start()
        session = pool.make_session(512, 5.0, opening_max=4)
        sent_order: list[int] = []
        try:
            recs = [_rec(i) for i in range(50)]
            await asyncio.gather(*(asyncio.create_task(client.send_request(
                session, url + "/v1/completions", b"{}", {}, r, TimeoutSettings(),
                on_sent=lambda r: sent_order.append(r.i))) for r in recs))
            return recs, srv, session.connector, sent_order
        finally:
            await session.close()
            await srv.stop()

    recs, srv, conn, sent_order = asyncio.run(main())
    assert [r.outcome for r in recs] == [OK] * 50
    assert srv.unanswered_peak <= 4 and srv.connections < 50
    assert conn.handed_over > 0
    late = sorted((r.sent_ns - r.scheduled_ns) / 1e9 for r in recs)
    assert late[-1] > 0.05  # the last ones waited for a connection...
    assert all((r.first_ns - r.sent_ns) / 1e9 < 0.5 for r in recs)  # ...and that wait is not in their TTFT
    assert sorted(sent_order) == list(range(50)) and len(sent_order) == 50


def test_no_headers_in_time_is_a_headers_timeout_not_a_first_token_one():
    """A server that takes the TCP connection and the request bytes but never answers."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)  # never accepted: the kernel completes the handshake and buffers the request
    url = f"http://127.0.0.1:{lsock.getsockname()[1]}"

    async def main():
        session = pool.make_session(8, 1.0)
        t = TimeoutSettings(headers_s=0.3, first_token_s=5.0)
        try:
            rec = _rec(0)
            t0 = time.perf_counter()
            await client.send_request(session, url + "/v1/completions", b"{}", {}, rec, t)
            return rec, time.perf_counter() - t0
        finally:
            await session.close()

    try:
        rec, took = asyncio.run(main())
    finally:
        lsock.close()
    assert rec.outcome == TIMEOUT and rec.timeout_kind == client.HEADERS, (rec.outcome, rec.error)
    assert rec.sent_ns and not rec.headers_ns and 0.29 < took < 2.0
    assert rec.to_json_dict(0)["timeout"] == "headers"


def test_a_request_cancelled_while_waiting_for_a_connection_was_never_sent():
    async def main():
        srv = CountingServer(answer_after_s=0.5)
        url = await srv.start()
        session = pool.make_session(8, 5.0, opening_max=1)
        try:
            first, second = _rec(0), _rec(1)
            t1 = asyncio.create_task(client.send_request(session, url + "/v1/completions", b"{}", {}, first,
                                                         TimeoutSettings()))
            t2 = asyncio.create_task(client.send_request(session, url + "/v1/completions", b"{}", {}, second,
                                                         TimeoutSettings()))
            await asyncio.sleep(0.1)
            t2.cancel()
            await asyncio.gather(t2, return_exceptions=True)
            await t1
            return first, second, session.connector
        finally:
            await session.close()
            await srv.stop()

    first, second, conn = asyncio.run(main())
    assert first.outcome == OK and first.sent_ns
    assert second.outcome == CANCELLED and not second.sent_ns
    assert conn.opening == 0 and conn.queued == 0
