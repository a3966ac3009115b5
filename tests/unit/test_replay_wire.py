"""The body reader in front of aiohttp (burststudio/replay/wire.py): whatever the framing and however the bytes are
cut into reads, it sees the same events the aiohttp path sees, stamps each at the read that completed it, and
hands aiohttp every byte, in order, so the connection's state stays aiohttp's."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, no_hang  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay import client, pool, wire  # noqa: E402
from burststudio.settings import TimeoutSettings  # noqa: E402
from burststudio.vocab import CONNECTION, OK, STREAM_ERROR, TRUNCATED  # noqa: E402

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"


class _Transport:
    def __init__(self, proto):
        self.proto = proto

    def get_protocol(self):
        return self.proto

    def set_protocol(self, proto):
        self.proto = proto

    def is_closing(self):
        return False


class _Aiohttp:
    """Stands for aiohttp's protocol: records what reaches it."""

    def __init__(self):
        self.data = bytearray()
        self.reads = 0
        self.lost = False

    def data_received(self, data):
        self.data += data
        self.reads += 1

    def eof_received(self):
        return None

    def connection_lost(self, exc):
        self.lost = True


def _events(tokens: list[str], usage: bool, done: bool, error: bool = False) -> list[bytes]:
    ev = [b"data: " + json.dumps({"choices": [{"index": 0, "text": t}]}, ensure_ascii=False).encode() + b"\n\n"
          for t in tokens]
    if error:
        ev.append(b'data: {"error": {"message": "boom", "code": 500}}\n\n')
    if usage:
        ev.append(b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": %d}}\n\n' % len(tokens))
    if done:
        ev.append(b"data: [DONE]\n\n")
    return ev


def _chunked(body: bytes, cuts: list[int]) -> tuple[bytes, list[int]]:
    """The body in chunks cut at `cuts`, and for each body byte its offset in the framed bytes."""
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    out, where = bytearray(), []
    for a, b in zip(points, points[1:]):
        if b <= a:
            continue
        out += b"%x\r\n" % (b - a)
        where.extend(range(len(out), len(out) + b - a))
        out += body[a:b] + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out), where


def _run_tap(raw: bytes, reads: list[int], output_tokens: int):
    """Feed `raw` (a whole response) to a tap in reads cut at `reads`; read k is stamped k+1 (ns)."""
    rec = client.RequestRecord(0, 0, 3, output_tokens, 0)
    rec.sent_ns = 0
    fake = _Aiohttp()
    points = sorted({r % (len(raw) + 1) for r in reads} | {0, len(raw)})
    pieces = [raw[a:b] for a, b in zip(points, points[1:]) if b > a]
    starts = [a for a, b in zip(points, points[1:]) if b > a]
    clock = iter(range(1, len(pieces) + 1))

    async def main():
        tap = wire.Tap(client._Events(rec).feed)
        tap.attach(_Transport(fake))
        real = wire.time.perf_counter_ns
        wire.time.perf_counter_ns = lambda: next(clock)
        try:
            for p in pieces:
                tap.transport.get_protocol().data_received(p)
        finally:
            wire.time.perf_counter_ns = real
        return tap

    with no_hang():
        tap = asyncio.run(main())
    return rec, tap, fake, starts


def _read_of(offset: int, starts: list[int]) -> int:
    """The stamp (1-based read number) of the read holding byte `offset`."""
    k = 0
    while k + 1 < len(starts) and starts[k + 1] <= offset:
        k += 1
    return k + 1


TEXT = st.lists(st.sampled_from(["a", "é", "日本", "🙂", " ", "\\", '"', "data:"]), max_size=4).map("".join)


@FUZZ
@given(tokens=st.lists(TEXT, min_size=1, max_size=12), usage=st.booleans(), done=st.booleans(),
       chunk_cuts=st.lists(st.integers(0, 10**6), max_size=12), read_cuts=st.lists(st.integers(0, 10**6), max_size=20),
       chunked=st.booleans())
def test_any_framing_and_any_reads_give_the_events_and_times_the_aiohttp_path_gives(tokens, usage, done, chunk_cuts,
                                                                                      read_cuts, chunked):
    events = _events(tokens, usage, done)
    body = b"".join(events)
    if chunked:
        framed, where = _chunked(body, chunk_cuts)
        head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    else:
        framed, where = body, list(range(len(body)))
        head = HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
    raw = head + framed
    rec, tap, fake, starts = _run_tap(raw, read_cuts, len(tokens))

    # aiohttp saw the head, then its message end: the whole body, or for chunks the last one alone
    assert bytes(fake.data) == head + (wire._LAST_CHUNK if chunked else body)
    assert tap.capturing and tap.complete and tap.ended.done() and tap.finished.done() and not tap.lost
    assert fake.reads <= 2  # the head, then the body once at its end
    client._finish(rec, tap.end_ns)

    # Each token's time is the read that brought the end of its line.
    offset = len(head)
    expected, pos = [], 0
    for ev in events[:len(tokens)]:
        expected.append(_read_of(offset + where[pos + ev.index(b"\n")], starts))
        pos += len(ev)
    assert rec.chunk_ns == expected
    assert rec.first_ns == expected[0]
    assert rec.chunk_tokens == len(tokens) and rec.done == done
    assert rec.usage_completion == (len(tokens) if usage else None)

    # The aiohttp path over the same body gives the same record, times aside.
    ref = client.RequestRecord(0, 0, 3, len(tokens), 0)
    ref.chunk_ns = []

    class _Content:
        def __init__(self):
            self.left = [body]

        async def readany(self):
            return self.left.pop() if self.left else b""

    class _Resp:
        headers = {"Content-Type": "text/event-stream"}
        content = _Content()

    asyncio.run(client._read_stream(_Resp(), ref, time.perf_counter_ns))
    assert (rec.outcome, rec.error, rec.chunk_tokens, len(rec.chunk_ns), rec.usage_completion, rec.done) == \
        (ref.outcome, ref.error, ref.chunk_tokens, len(ref.chunk_ns), ref.usage_completion, ref.done)
    assert rec.outcome == (OK if done else TRUNCATED)


def test_cuts_inside_data_and_inside_a_utf8_character():
    """Every single cut point of a small stream, chunk boundaries and reads alike."""
    tokens = ["日本", "é🙂"]
    body = b"".join(_events(tokens, True, True))
    for cut in range(1, len(body)):
        framed, _ = _chunked(body, [cut])
        raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + framed
        for read in (len(HEAD) + 3, len(HEAD) + 30 + cut, len(raw) - 2):
            rec, tap, fake, _ = _run_tap(raw, [read, read + cut], len(tokens))
            client._finish(rec, tap.end_ns)
            assert bytes(fake.data) == HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + wire._LAST_CHUNK
            assert (rec.outcome, rec.chunk_tokens, len(rec.chunk_ns), rec.usage_completion) == (OK, 2, 2, 2), cut


def test_an_error_chunk_ends_the_record_but_the_tap_keeps_taking_the_message():
    body = b"".join(_events(["a"], False, True, error=True))
    framed, _ = _chunked(body, [5, 40])
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + framed
    rec, tap, fake, _ = _run_tap(raw, [len(raw) - 20], 1)
    assert rec.outcome == STREAM_ERROR and "boom" in rec.error
    assert tap.complete and bytes(fake.data).endswith(b"\r\n\r\n" + wire._LAST_CHUNK)


def test_responses_it_does_not_take_go_to_aiohttp_whole():
    for head in (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                 b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                 HEAD + b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
                 HEAD + b"\r\ndata: [DONE]\n\n",  # no length, no chunks: ends when the connection does
                 b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"):
        rec, tap, fake, _ = _run_tap(head, [7, 30], 1)
        assert not tap.capturing and bytes(fake.data) == head
        assert tap.transport.get_protocol() is fake and rec.chunk_ns == []


def test_a_lost_connection_or_bad_framing_hands_aiohttp_the_bytes_and_says_so():
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(b"".join(_events(["a", "b"], False, True)), [9])[0]
    rec, tap, fake, _ = _run_tap(raw[:-30], [len(HEAD) + 10], 2)
    tap.connection_lost(None)
    assert tap.lost and not tap.complete and fake.lost and bytes(fake.data) == raw[:-30]
    assert tap.transport.get_protocol() is fake
    bad = HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"
    rec, tap, fake, _ = _run_tap(bad, [], 1)
    assert tap.lost and bytes(fake.data) == bad and tap.transport.get_protocol() is fake


def test_real_streams_are_read_by_the_tap_on_kept_alive_connections(monkeypatch):
    """Against the test server over real HTTP: every stream is read by the tap (the aiohttp path is never taken),
    each token stamped at its own read (the server writes them 4 ms apart), and one connection serves them all."""
    async def no_aiohttp_path(*a, **k):
        raise AssertionError("the tap did not take the stream")

    monkeypatch.setattr(client, "_read_stream", no_aiohttp_path)

    async def main(url):
        session = pool.make_session(8, 5.0)
        try:
            recs = []
            for i in range(5):
                rec = client.RequestRecord(i, i, 4, 16, time.perf_counter_ns())
                body = json.dumps({"model": "tiny", "prompt": [1, 2, 3, 4], "max_tokens": 16, "stream": True,
                                   "stream_options": {"include_usage": True}}).encode()
                await client.send_request(session, url + "/v1/completions", body,
                                          {"Content-Type": "application/json"}, rec, TimeoutSettings())
                recs.append(rec)
            return recs, session.connector.opened
        finally:
            await session.close()

    with TestServer(ServerConfig(ttft_s=0.02, token_delay_s=0.004)) as srv:
        recs, opened = asyncio.run(main(srv.url))
    assert [r.outcome for r in recs] == [OK] * 5, [r.error for r in recs]
    assert opened == 1
    for r in recs:
        assert r.usage_completion == 16 and len(r.chunk_ns) == 16
        assert 0.015 < (r.first_ns - r.sent_ns) / 1e9 < 0.5
        gaps = sorted((b - a) / 1e6 for a, b in zip(r.chunk_ns, r.chunk_ns[1:]))
        assert gaps[len(gaps) // 2] > 2.0  # ms: one read per token, not the whole stream at once
        assert r.end_ns >= r.chunk_ns[-1]


def test_a_server_that_drops_the_stream_is_a_connection_failure():
    cfg = ServerConfig(ttft_s=0.01, token_delay_s=0.002, faults_by_prompt_len={5: "cut"})

    async def main(url):
        session = pool.make_session(8, 5.0)
        try:
            rec = client.RequestRecord(0, 0, 5, 16, time.perf_counter_ns())
            body = json.dumps({"model": "tiny", "prompt": [1, 2, 3, 4, 5], "max_tokens": 16, "stream": True}).encode()
            await client.send_request(session, url + "/v1/completions", body, {"Content-Type": "application/json"},
                                      rec, TimeoutSettings())
            return rec
        finally:
            await session.close()

    with TestServer(cfg) as srv:
        rec = asyncio.run(main(srv.url))
    assert rec.outcome in (CONNECTION, TRUNCATED), (rec.outcome, rec.error)
    assert rec.outcome == CONNECTION or "no [DONE]" in rec.error
