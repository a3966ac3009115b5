"""Reading a streamed response's body off the connection, under aiohttp.

aiohttp hands a streamed body over one socket read at a time: its protocol parses the read, feeds a stream reader,
which wakes the reading coroutine, which asks for the next read. For 64-token streams that is 64 wake-ups of a
task per request, most of a replay's CPU at hundreds of streams a second. A `Tap` sits between the transport and
aiohttp's protocol for one request (`transport.set_protocol`, the transports' public API): it passes the response
head through at once (aiohttp makes the response, status and headers as usual), then takes the body itself, undoes
the chunked (or Content-Length) framing, and hands each read's bytes, with the time it arrived, to a callback, in
the transport's own callback: no task runs per read. At the end of the message it gives aiohttp its protocol back
and ends the message for aiohttp's parser (which saw the head only) as it would have ended: the connection stays
kept-alive. If the connection is lost or the framing is bad first, aiohttp gets every byte and the loss, and says
what went wrong.

A response the tap does not take (not a 200, not an event stream, compressed, a body without a length or chunked
framing, an interim 1xx) is passed through whole: aiohttp reads it as usual.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

_HEAD_MAX = 65536
_LAST_CHUNK = b"0\r\n\r\n"
_HEAD, _SIZE, _DATA, _CRLF, _TRAILER, _LENGTH, _END, _OFF = range(8)


class Tap(asyncio.Protocol):
    """One request's body reader. `on_body(data, now_ns)` gets the decoded body of each read and returns True once it
    wants no more (the stream said it ended, or was bad); the bytes that follow are still taken, for aiohttp.

    `finished` resolves when `on_body` returned True, the message ended, or the connection was lost or its framing
    was bad; `ended` when the message ended or the tap let go for any other reason. `capturing` says the tap took
    the body (else aiohttp reads it)."""

    __slots__ = ("on_body", "transport", "orig", "state", "left", "carry", "raw", "head", "capturing", "lost",
                 "complete", "end_ns", "finished", "ended", "_stopped", "chunked")

    def __init__(self, on_body: Callable[[bytes, int], bool]):
        self.on_body = on_body
        self.transport = None
        self.orig = None
        self.state = _HEAD
        self.left = 0
        self.carry = b""
        self.raw: list[bytes] = []
        self.head = b""
        self.capturing = False
        self.lost = False  # the tap let go before the message ended: aiohttp has the bytes and knows why
        self.complete = False  # the message ended whole
        self.end_ns = 0  # when on_body stopped, or the message ended
        self._stopped = False
        self.chunked = False
        loop = asyncio.get_running_loop()
        self.finished = loop.create_future()
        self.ended = loop.create_future()

    # Attaching and letting go ---------------------------------------------------------------------------------------
    def attach(self, transport) -> None:
        """Sit in front of the transport's protocol (before the request is written: the head must come here)."""
        if transport is None or self.state != _HEAD or transport.is_closing():
            self.state = _OFF
            self._resolve()
            return
        self.transport = transport
        self.orig = transport.get_protocol()
        transport.set_protocol(self)

    def _detach(self, data: bytes | None = None) -> None:
        """Give aiohttp its protocol back, with the bytes it has not seen yet (`data`: what stands for them)."""
        if self.state == _OFF:
            return
        self.state = _OFF
        transport, orig = self.transport, self.orig
        if transport is not None and transport.get_protocol() is self:
            transport.set_protocol(orig)
        if data is None:
            pending = [self.head, *self.raw] if self.head else self.raw
            data = b"".join(pending) if len(pending) != 1 else pending[0]
        self.raw = []
        self.head = self.carry = b""
        if data and orig is not None:
            orig.data_received(data)

    def _resolve(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
        if not self.ended.done():
            self.ended.set_result(None)

    def release(self) -> None:
        """The request is over: never leave a tap in front of a connection (it goes back to aiohttp as it is)."""
        if self.state != _OFF:
            self.lost = not self.complete
            self._detach()
            self._resolve()

    # asyncio.Protocol -----------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        state = self.state
        if state == _OFF:  # set_protocol raced a read already queued for us
            if self.orig is not None:
                self.orig.data_received(data)
            return
        if state == _HEAD:
            self._head(data, now)
            return
        self.raw.append(data)
        self._body(data, now)

    def eof_received(self):
        if self.orig is None:
            return None
        if self.state != _OFF:
            self.lost = True
            self._detach()
            self._resolve()
        return self.orig.eof_received()

    def connection_lost(self, exc) -> None:
        orig = self.orig
        if self.state != _OFF:
            self.lost = True
            self._detach()
            self._resolve()
        if orig is not None:
            orig.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.orig is not None:
            self.orig.pause_writing()

    def resume_writing(self) -> None:
        if self.orig is not None:
            self.orig.resume_writing()

    # The head -------------------------------------------------------------------------------------------------------
    def _head(self, data: bytes, now: int) -> None:
        head = self.head + data if self.head else data
        cut = head.find(b"\r\n\r\n")
        if cut < 0:
            if len(head) > _HEAD_MAX:
                self.head = b""
                self.raw = [head]
                self._let_go()
            else:
                self.head = head
            return
        cut += 4
        self.head = b""
        framing = _framing(head[:cut])
        orig = self.orig
        if framing is None:
            self.raw = [head]
            self._let_go()
            return
        orig.data_received(head[:cut])  # aiohttp makes the response from the head
        self.capturing = True
        if framing < 0:
            self.state = _SIZE
            self.chunked = True
        else:
            self.state = _LENGTH
            self.left = framing
        rest = head[cut:]
        if rest and self.state != _OFF:
            self.raw.append(rest)
            self._body(rest, now)

    def _let_go(self) -> None:
        """Not a response to take: aiohttp reads it all."""
        self.lost = False
        self._detach()
        self._resolve()

    # The body -------------------------------------------------------------------------------------------------------
    def _body(self, data: bytes, now: int) -> None:
        if self.carry:
            data = self.carry + data
            self.carry = b""
        out: list[bytes] = []
        pos, n = 0, len(data)
        state, left = self.state, self.left
        while pos < n:
            if state == _SIZE:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self.carry = data[pos:]
                    break
                try:
                    size = int(data[pos:nl].split(b";", 1)[0].strip(), 16)
                except ValueError:
                    size = -1
                pos = nl + 1
                if size < 0:  # bad framing: aiohttp's parser says so
                    self._give_up(out, now)
                    return
                if size == 0:
                    state = _TRAILER
                else:
                    state, left = _DATA, size
            elif state == _DATA:
                take = min(left, n - pos)
                out.append(data[pos:pos + take])
                pos += take
                left -= take
                if not left:
                    state, left = _CRLF, 2
            elif state == _CRLF:
                take = min(left, n - pos)
                if data[pos:pos + take] != b"\r\n"[2 - left:2 - left + take]:
                    self._give_up(out, now)  # bad framing: aiohttp's parser says so
                    return
                pos += take
                left -= take
                if not left:
                    state = _SIZE
            elif state == _TRAILER:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self.carry = data[pos:]
                    break
                blank = not data[pos:nl].strip()
                pos = nl + 1
                if blank:
                    state = _END
                    break
            elif state == _LENGTH:
                take = min(left, n - pos)
                out.append(data[pos:pos + take])
                pos += take
                left -= take
                if not left:
                    state = _END
                    break
        self.state, self.left = state, left
        if out:
            self._deliver(b"".join(out) if len(out) > 1 else out[0], now)
        if state == _END:
            self.complete = True
            if not self.end_ns:
                self.end_ns = now
            # aiohttp's parser stands right after the head: a chunked body it has not seen ends for it with the
            # last chunk alone (one call, where the whole body would cost three Python calls per chunk).
            self._detach(_LAST_CHUNK + data[pos:] if self.chunked else None)
            self._resolve()

    def _deliver(self, body: bytes, now: int) -> None:
        if not self._stopped and self.on_body(body, now):
            self._stopped = True
            self.end_ns = now
            if not self.finished.done():
                self.finished.set_result(None)

    def _give_up(self, out: list[bytes], now: int) -> None:
        if out:
            self._deliver(b"".join(out), now)
        self.lost = True
        self._detach()
        self._resolve()


def _framing(head: bytes) -> int | None:
    """The body's length (-1: chunked) of a 200 event stream the tap can read; None for any other response."""
    lines = head.split(b"\r\n")
    status = lines[0].split(None, 2)
    if len(status) < 2 or status[1] != b"200" or not status[0].startswith(b"HTTP/1."):
        return None
    chunked, length, stream = False, None, False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        value = value.strip().lower()
        if name == b"transfer-encoding":
            if value != b"chunked":
                return None  # gzip, or a list of codings: aiohttp's job
            chunked = True
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
        elif name == b"content-type":
            stream = b"event-stream" in value
        elif name == b"content-encoding" and value not in (b"", b"identity"):
            return None
    if not stream:
        return None
    if chunked:
        return -1
    return length if length is not None and length > 0 else None
