"""The streaming client: send one planned request, timestamp every chunk, classify how it ended.

Metric definitions follow vLLM's benchmark client (benchmarks/lib/endpoint_request_func.py): every SSE event with
non-empty `choices` is one chunk; TTFT is first chunk - sent; ITL are the gaps between consecutive chunks; E2E is
end - sent; TPOT is (E2E - TTFT) / (completion_tokens - 1), with completion_tokens from `usage`.

The outcomes a request ends with are those of burststudio.vocab (its module doc says what each means).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

import aiohttp

from burststudio.journal import end_record
from burststudio.replay.pool import CURRENT, confirm
from burststudio.replay.wire import Tap
from burststudio.sse import DONE, data_of
from burststudio.settings import TimeoutSettings
from burststudio.vocab import (CANCELLED, CONNECTION, MALFORMED, OK, STREAM_ERROR, TIMEOUT, TRUNCATED,
                               outcome_of_status)

_ERROR_TEXT_MAX = 300
END_GRACE_S = 0.5  # after [DONE], how long the end of the message may take before the connection is let go
HEADERS = "headers"  # the timeout kind of a request the server's application never answered
_TIMEOUT_TEXT = {HEADERS: "no response headers within the limit: the server never took the request",
                 "first_token": "no first token within the limit", "idle": "stream idle past the limit",
                 "total": "request ran past its total limit"}


def _PLAIN_TOKEN_CHUNK(payload: bytes) -> bool:
    """A chunk with one choice and no usage, error or token_ids fields (those need the full parse)."""
    return (b'"choices":[{' in payload and b'"error"' not in payload and b'"usage"' not in payload
            and b'"token_ids"' not in payload)


class RequestRecord:
    """What one request saw. Times are perf_counter_ns values; the recorder makes them relative to the run start."""

    __slots__ = ("i", "row", "prompt_tokens", "output_tokens", "scheduled_ns", "sent_ns", "first_ns", "end_ns",
                 "chunk_ns", "usage_prompt", "usage_completion", "chunk_tokens", "status", "outcome", "error",
                 "timeout_kind", "retry_after", "done", "_stopping", "headers_ns", "_opening", "_on_sent", "_tap",
                 "replica")

    def __init__(self, i: int, row: int, prompt_tokens: int, output_tokens: int, scheduled_ns: int):
        self.i = i
        self.row = row
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.scheduled_ns = scheduled_ns
        self.sent_ns = 0
        self.first_ns = 0
        self.end_ns = 0
        self.chunk_ns: list[int] = []
        self.usage_prompt: int | None = None
        self.usage_completion: int | None = None
        self.chunk_tokens = 0  # tokens counted from the chunks (token_ids where present, else one per chunk)
        self.status: int | None = None
        self.outcome = ""
        self.error: str | None = None
        self.timeout_kind: str | None = None
        self.retry_after: str | None = None
        self.done = False  # saw data: [DONE]
        self._stopping: str | None = None  # why the watchdog cancelled the task: a timeout kind
        self.headers_ns = 0  # the response headers came: the server's application holds the request
        self._opening = None  # the connector whose opening slot this request holds (replay/pool.py)
        self._on_sent = None
        self._tap = None  # the body reader the connector attaches to the request's connection (replay/wire.py)
        self.replica: str | None = None  # the fleet replica the client routed it to (replay/routing.py)

    def to_wire(self) -> list[Any]:
        """The record as a JSON-ready list, for a dispatch shard to hand to the engine's process (chunk times as
        microseconds from `sent`, the journal's precision)."""
        sent = self.sent_ns
        return [self.i, self.row, self.prompt_tokens, self.output_tokens, self.scheduled_ns, sent, self.first_ns,
                self.end_ns, [(c - sent) // 1000 for c in self.chunk_ns] if sent else [], self.usage_prompt,
                self.usage_completion, self.chunk_tokens, self.status, self.outcome, self.error, self.timeout_kind,
                self.retry_after, self.done, self.headers_ns]

    @classmethod
    def from_wire(cls, w: list[Any]) -> "RequestRecord":
        rec = cls(w[0], w[1], w[2], w[3], w[4])
        rec.sent_ns, rec.first_ns, rec.end_ns = w[5], w[6], w[7]
        rec.chunk_ns = [rec.sent_ns + us * 1000 for us in w[8]]
        (rec.usage_prompt, rec.usage_completion, rec.chunk_tokens, rec.status, rec.outcome, rec.error,
         rec.timeout_kind, rec.retry_after, rec.done) = w[9:18]
        rec.headers_ns = w[18] if len(w) > 18 else 0
        return rec

    @property
    def completion_tokens(self) -> int:
        return self.usage_completion if self.usage_completion is not None else self.chunk_tokens

    def to_json_dict(self, t0_ns: int) -> dict[str, Any]:
        """The journal line: seconds from the run start, chunk times in microseconds from `sent`."""
        def rel(ns: int) -> float | None:
            return round((ns - t0_ns) / 1e9, 9) if ns else None

        sent = self.sent_ns
        return end_record(
            i=self.i,
            row=self.row,
            outcome=self.outcome,
            status=self.status,
            scheduled_s=rel(self.scheduled_ns),
            sent_s=rel(sent),
            headers_s=rel(self.headers_ns),
            first_s=rel(self.first_ns),
            end_s=rel(self.end_ns),
            chunks_us=[(c - sent) // 1000 for c in self.chunk_ns] if sent else [],
            prompt_tokens=self.prompt_tokens,
            output_tokens=self.output_tokens,
            usage_prompt_tokens=self.usage_prompt,
            usage_completion_tokens=self.usage_completion,
            chunk_tokens=self.chunk_tokens,
            error=self.error,
            timeout=self.timeout_kind,
            retry_after=self.retry_after,
            shortfall=self.shortfall or None,
            replica=self.replica,
        )

    @property
    def shortfall(self) -> int:
        """Tokens a short answer lacked: it ended cleanly ([DONE]) with fewer than asked; 0 for any other."""
        if self.done and self.outcome in (OK, TRUNCATED):
            return max(0, self.output_tokens - self.completion_tokens)
        return 0

    def accept_short(self) -> None:
        """Count a short answer as ok, measured with its real length (`[replay] short_answers = "ok"`)."""
        if self.outcome == TRUNCATED and self.shortfall:
            self.outcome = OK
            self.error = None


def _error_message(text: str) -> str:
    """The message of an OpenAI-style error body (nested or vLLM's older flat form), else the text itself."""
    try:
        obj = json.loads(text)
    except ValueError:
        return text.strip()[:_ERROR_TEXT_MAX]
    if isinstance(obj, dict):
        err = obj.get("error", obj)
        if isinstance(err, dict):
            msg = err.get("message") or json.dumps(err)
            code = err.get("code")
            return (f"{msg} (code {code})" if code is not None else str(msg))[:_ERROR_TEXT_MAX]
        return str(err)[:_ERROR_TEXT_MAX]
    return text.strip()[:_ERROR_TEXT_MAX]


def _count(value: Any, default: int | None) -> int | None:
    """A token count from a server's `usage`: a whole number >= 0, else `default` (a bad count is not trusted)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


class _Watchdog:
    """One timer per request for the headers, first-token, idle and total limits, counted from `sent` (a request
    still waiting for a connection is late, not timed out: the run's drain bounds that wait).

    Rather than re-arming a timer on every chunk, the timer fires at the earliest possible deadline and re-arms
    itself from the last activity when the request has moved on since: one timer callback per idle period at most.
    """

    __slots__ = ("loop", "task", "rec", "t", "handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task, rec: RequestRecord,
                 t: TimeoutSettings):
        self.loop = loop
        self.task = task
        self.rec = rec
        self.t = t
        # Look again within one idle limit at most: a stream that stalls just after its first token must end at
        # the idle limit, not at the (usually much longer) headers or first-token one.
        self.handle = loop.call_at(loop.time() + self._wait(min(t.headers_s, t.first_token_s)), self._fire)

    def _wait(self, wait: float) -> float:
        wait = min(wait, self.t.idle_s)
        return min(wait, self.t.total_s) if self.t.total_s > 0 else wait

    def _fire(self) -> None:
        rec, t = self.rec, self.t
        now = time.perf_counter_ns()  # loop.time() and perf_counter differ in origin: elapsed on perf_counter
        if not rec.sent_ns:
            return self._again(min(t.headers_s, t.first_token_s))
        since = (now - rec.sent_ns) / 1e9
        total_left = t.total_s - since if t.total_s > 0 else float("inf")
        if total_left <= 1e-4:
            return self._stop("total")
        if not rec.headers_ns:
            limit = min(t.headers_s, t.first_token_s)
            if since >= limit - 1e-4:
                return self._stop(HEADERS if t.headers_s <= t.first_token_s else "first_token")
            wait = limit - since
        elif not rec.first_ns:
            if since >= t.first_token_s - 1e-4:
                return self._stop("first_token")
            wait = t.first_token_s - since
        else:
            idle = (now - rec.chunk_ns[-1]) / 1e9
            if idle >= t.idle_s - 1e-4:
                return self._stop("idle")
            wait = t.idle_s - idle
        self._again(min(wait, total_left))

    def _again(self, wait: float) -> None:
        self.handle = self.loop.call_at(self.loop.time() + self._wait(wait), self._fire)

    def _stop(self, kind: str) -> None:
        self.rec._stopping = kind
        self.task.cancel()

    def cancel(self) -> None:
        self.handle.cancel()


async def send_request(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
                       rec: RequestRecord, timeouts: TimeoutSettings,
                       on_sent: Callable[[RequestRecord], None] | None = None) -> RequestRecord:
    """Send `body` to `url` and fill `rec`; never raises except for the caller's own cancellation handling.

    `sent` is stamped, and `on_sent` called, when the request has its connection (replay/pool.py): the wait for one
    is lateness. A run that stops cancels this coroutine: the record then ends as `cancelled` with what it measured.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    perf = time.perf_counter_ns
    rec.sent_ns = 0
    rec._on_sent = on_sent
    token = CURRENT.set(rec)
    dog = _Watchdog(loop, task, rec, timeouts)  # type: ignore[arg-type]
    # The connector puts the tap in front of the connection it finds (replay/pool.py), before the request leaves.
    rec._tap = tap = Tap(_Events(rec).feed)
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            try:
                rec.headers_ns = perf()
                confirm(rec)
                rec.status = resp.status
                if resp.status != 200:
                    rec.outcome = outcome_of_status(resp.status)
                    rec.retry_after = resp.headers.get("Retry-After")
                    try:
                        rec.error = _error_message(await resp.text(errors="replace"))
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        rec.error = f"HTTP {resp.status}"
                    return rec
                if tap.capturing:
                    await _read_tapped(resp, rec, tap, perf)
                else:
                    await _read_stream(resp, rec, perf)
            finally:
                tap.release()  # before aiohttp takes the connection back
    except asyncio.CancelledError:
        if rec._stopping:
            rec.outcome = TIMEOUT
            rec.timeout_kind = rec._stopping
            rec.error = _TIMEOUT_TEXT[rec._stopping]
            # The watchdog's cancel is ours to swallow; a later cancel (the run stopping) still reaches the caller.
            task.uncancel()  # type: ignore[union-attr]
        else:
            rec.outcome = CANCELLED
            rec.error = rec.error or "the run stopped first"
            rec.end_ns = perf()
            dog.cancel()
            raise
    except aiohttp.ServerTimeoutError as exc:  # the connect limit
        rec.outcome = TIMEOUT
        rec.timeout_kind = "connect"
        rec.error = str(exc) or "connect timed out"
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError, OSError) as exc:
        rec.outcome = CONNECTION
        rec.error = f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_MAX]
    except aiohttp.ClientResponseError as exc:
        rec.outcome = MALFORMED
        rec.error = f"{type(exc).__name__}: {exc}"[:_ERROR_TEXT_MAX]
    except asyncio.TimeoutError:
        rec.outcome = TIMEOUT
        rec.timeout_kind = rec.timeout_kind or "connect"
        rec.error = rec.error or "timed out"
    finally:
        dog.cancel()
        confirm(rec)
        tap.release()
        rec._tap = None
        CURRENT.reset(token)
        rec._on_sent = None
        if not rec.end_ns:
            rec.end_ns = perf()
        if not rec.sent_ns and rec.outcome != CANCELLED:
            # It failed on its way to a connection (refused, connect timeout): it was attempted, so it counts as
            # sent, at its end.
            rec.sent_ns = rec.end_ns
            if on_sent is not None:
                on_sent(rec)
    return rec


class _Events:
    """The server-sent events of one response body, fed as they arrive, into the request's record. Each feed is
    one read, stamped with one time (events that arrive together share it); a line cut by a read's end waits for
    the rest."""

    __slots__ = ("rec", "buf")

    def __init__(self, rec: RequestRecord):
        self.rec = rec
        self.buf = b""

    def feed(self, data: bytes, now: int) -> bool:
        """True once the stream has nothing more to say: [DONE] came, or the request ended on a bad or error chunk
        (its outcome is then set)."""
        rec = self.rec
        if self.buf:
            data = self.buf + data
        if b"\n" not in data:
            self.buf = data
            return False
        *lines, self.buf = data.split(b"\n")
        chunk_ns = rec.chunk_ns
        for line in lines:
            if line[:5] == b"data:":
                payload = line[5:].strip()  # what data_of gives, without its call for the common line
            elif not line or line == b"\r":
                continue  # the blank line after each event
            else:
                payload = data_of(line)
                if payload is None:
                    continue
            if payload == DONE:
                rec.done = True
                continue
            if payload[:1] != b"{" or payload[-1:] != b"}":
                rec.end_ns = now
                rec.outcome = MALFORMED
                rec.error = f"unparseable chunk: {payload[:120].decode(errors='replace')}"
                return True
            if _PLAIN_TOKEN_CHUNK(payload):
                # Most chunks carry one token and nothing else worth parsing: at 1,000 streams a second, skipping
                # json.loads for them halves the client's CPU. Anything else takes the full path below.
                if not rec.first_ns:
                    rec.first_ns = now
                chunk_ns.append(now)
                rec.chunk_tokens += 1
                continue
            try:
                obj = json.loads(payload)
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
                rec.end_ns = now
                rec.outcome = MALFORMED
                rec.error = f"unparseable chunk: {payload[:120].decode(errors='replace')}"
                return True
            if not isinstance(obj, dict):
                rec.end_ns = now
                rec.outcome = MALFORMED
                rec.error = f"chunk is not an object: {payload[:120].decode(errors='replace')}"
                return True
            err = obj.get("error")
            if err is not None:
                rec.end_ns = now
                rec.outcome = STREAM_ERROR
                rec.error = _error_message(json.dumps(obj))
                return True
            choices = obj.get("choices")
            if not isinstance(choices, list):
                choices = None  # not a token: a server's own field of that name is not ours to count
            if choices:
                if not rec.first_ns:
                    rec.first_ns = now
                chunk_ns.append(now)
                ch = choices[0]
                ids = ch.get("token_ids") if isinstance(ch, dict) else None
                rec.chunk_tokens += len(ids) if isinstance(ids, list) and ids else 1
            usage = obj.get("usage")
            if not isinstance(usage, dict):
                usage = None
            if usage and not choices:
                rec.usage_prompt = _count(usage.get("prompt_tokens"), None)
                rec.usage_completion = _count(usage.get("completion_tokens"), None)
            elif usage and choices:
                # continuous usage stats: keep the latest running total
                rec.usage_completion = _count(usage.get("completion_tokens"), rec.usage_completion)
                rec.usage_prompt = _count(usage.get("prompt_tokens"), rec.usage_prompt)
        return rec.done


def _finish(rec: RequestRecord, end_ns: int) -> None:
    """The outcome of a stream that ended without an error chunk."""
    rec.end_ns = end_ns
    if rec.completion_tokens < rec.output_tokens:
        rec.outcome = TRUNCATED
        rec.error = f"{rec.completion_tokens} of {rec.output_tokens} tokens" + ("" if rec.done else ", no [DONE]")
    elif not rec.done:
        rec.outcome = TRUNCATED
        rec.error = "stream ended without [DONE]"
    else:
        rec.outcome = OK


async def _read_tapped(resp: aiohttp.ClientResponse, rec: RequestRecord, tap: Tap, perf) -> None:
    """The body as the tap read it (replay/wire.py): its events are in the record by the time it says so."""
    await tap.finished
    if rec.outcome:  # an error or unparseable chunk ended it
        return
    if rec.done and not tap.ended.done():
        # The end of the message normally follows [DONE] within a read or two: waiting for it keeps the
        # connection for the next request (a message cut short is a connection closed). The times are taken.
        await asyncio.wait((tap.ended,), timeout=END_GRACE_S)
    elif tap.lost:
        await resp.read()  # aiohttp has the bytes and the loss: it raises what went wrong
    _finish(rec, tap.end_ns or perf())


async def _read_stream(resp: aiohttp.ClientResponse, rec: RequestRecord, perf) -> None:
    """Read server-sent events through aiohttp (a response the tap did not take); stamp each read with one time."""
    ctype = resp.headers.get("Content-Type", "")
    if "event-stream" not in ctype and "json" in ctype:
        # A server that ignored stream=true: one JSON body. Not what a replay asked for.
        text = await resp.text(errors="replace")
        rec.end_ns = perf()
        rec.outcome = MALFORMED
        rec.error = f"expected a stream, got {ctype}: {text[:120]}"
        return
    events = _Events(rec)
    content = resp.content
    while True:
        data = await content.readany()
        if not data:
            break
        if events.feed(data, perf()):
            if rec.outcome:
                return
            break
    _finish(rec, perf())
