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
from burststudio.sse import DONE, data_of
from burststudio.settings import TimeoutSettings
from burststudio.vocab import (CANCELLED, CONNECTION, FAILURES, MALFORMED, OK, OUTCOMES, STREAM_ERROR,  # noqa: F401
                               TIMEOUT, TRUNCATED, outcome_of_status)
_ERROR_TEXT_MAX = 300
_TIMEOUT_TEXT = {"first_token": "no first token within the limit", "idle": "stream idle past the limit",
                 "total": "request ran past its total limit"}


def _PLAIN_TOKEN_CHUNK(payload: bytes) -> bool:
    """A chunk with one choice and no usage, error or token_ids fields (those need the full parse)."""
    return (b'"choices":[{' in payload and b'"error"' not in payload and b'"usage"' not in payload
            and b'"token_ids"' not in payload)


class RequestRecord:
    """What one request saw. Times are perf_counter_ns values; the recorder makes them relative to the run start."""

    __slots__ = ("i", "row", "prompt_tokens", "output_tokens", "scheduled_ns", "sent_ns", "first_ns", "end_ns",
                 "chunk_ns", "usage_prompt", "usage_completion", "chunk_tokens", "status", "outcome", "error",
                 "timeout_kind", "retry_after", "done", "_stopping")

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

    def to_wire(self) -> list[Any]:
        """The record as a JSON-ready list, for a dispatch shard to hand to the engine's process (chunk times as
        microseconds from `sent`, the journal's precision)."""
        sent = self.sent_ns
        return [self.i, self.row, self.prompt_tokens, self.output_tokens, self.scheduled_ns, sent, self.first_ns,
                self.end_ns, [(c - sent) // 1000 for c in self.chunk_ns] if sent else [], self.usage_prompt,
                self.usage_completion, self.chunk_tokens, self.status, self.outcome, self.error, self.timeout_kind,
                self.retry_after, self.done]

    @classmethod
    def from_wire(cls, w: list[Any]) -> "RequestRecord":
        rec = cls(w[0], w[1], w[2], w[3], w[4])
        rec.sent_ns, rec.first_ns, rec.end_ns = w[5], w[6], w[7]
        rec.chunk_ns = [rec.sent_ns + us * 1000 for us in w[8]]
        (rec.usage_prompt, rec.usage_completion, rec.chunk_tokens, rec.status, rec.outcome, rec.error,
         rec.timeout_kind, rec.retry_after, rec.done) = w[9:18]
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
        )


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
    """One timer per request for the first-token, idle and total limits.

    Rather than re-arming a timer on every chunk, the timer fires at the earliest possible deadline and re-arms
    itself from the last activity when the request has moved on since: one timer callback per idle period at most.
    """

    __slots__ = ("loop", "task", "rec", "t", "handle", "total_deadline")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task, rec: RequestRecord,
                 t: TimeoutSettings):
        self.loop = loop
        self.task = task
        self.rec = rec
        self.t = t
        now = loop.time()
        self.total_deadline = now + t.total_s if t.total_s > 0 else None
        self.handle = loop.call_at(self._next(now, now), self._fire)

    def _next(self, now: float, last_activity: float) -> float:
        if not self.rec.first_ns:
            dl = now + self.t.first_token_s if last_activity == now else last_activity + self.t.first_token_s
            # Look again within one idle limit: a stream that stalls just after its first token must end at the
            # idle limit, not at the (usually much longer) first-token one.
            dl = min(dl, now + self.t.idle_s)
        else:
            dl = last_activity + self.t.idle_s
        if self.total_deadline is not None:
            dl = min(dl, self.total_deadline)
        return dl

    def _fire(self) -> None:
        rec = self.rec
        now = self.loop.time()
        if self.total_deadline is not None and now >= self.total_deadline - 1e-4:
            return self._stop("total")
        if not rec.first_ns:
            # loop.time() and perf_counter differ in origin: measure elapsed on perf_counter.
            waited = (time.perf_counter_ns() - rec.sent_ns) / 1e9 if rec.sent_ns else 0.0
            if waited >= self.t.first_token_s - 1e-4:
                return self._stop("first_token")
            dl = now + min(self.t.first_token_s - waited, self.t.idle_s)
            if self.total_deadline is not None:
                dl = min(dl, self.total_deadline)
            self.handle = self.loop.call_at(dl, self._fire)
            return
        idle = (time.perf_counter_ns() - rec.chunk_ns[-1]) / 1e9
        if idle >= self.t.idle_s - 1e-4:
            return self._stop("idle")
        dl = now + self.t.idle_s - idle
        if self.total_deadline is not None:
            dl = min(dl, self.total_deadline)
        self.handle = self.loop.call_at(dl, self._fire)

    def _stop(self, kind: str) -> None:
        self.rec._stopping = kind
        self.task.cancel()

    def cancel(self) -> None:
        self.handle.cancel()


def make_session(limit: int, timeouts: TimeoutSettings) -> aiohttp.ClientSession:
    """One shared session for the whole run; the pool holds as many connections as requests can be in flight."""
    # vLLM's server (uvicorn) closes a connection idle for 5 s; dropping ours after 4 s keeps a request from being
    # sent on a connection the server is closing, which would fail it as "Server disconnected".
    connector = aiohttp.TCPConnector(limit=max(1, limit), limit_per_host=0, force_close=False,
                                     enable_cleanup_closed=True, ttl_dns_cache=None, keepalive_timeout=4.0)
    # Only the connect limit is left to aiohttp; first-token, idle and total limits are the watchdog's.
    timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=timeouts.connect_s, sock_read=None)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                 json_serialize=json.dumps, skip_auto_headers=("User-Agent",))


WARM_MAX = 512  # connections one process opens before the clock starts


async def warm_pool(session: aiohttp.ClientSession, base_url: str, headers: dict[str, str], n: int,
                    timeout_s: float = 10.0) -> int:
    """Open up to `n` keep-alive connections before the run's clock starts; returns how many answered.

    A request that finds no idle connection pays for a TCP handshake (and the server's accept) on its way out:
    hundreds of those in the first seconds of a run showed as the worst lateness of the run. All `n` GETs of
    `/v1/models` start in the same loop turn, so none finds another's connection idle and each opens its own;
    they go back to the session's pool when answered. Failures are ignored: the run itself reports them.
    """
    n = max(1, min(int(n), WARM_MAX))
    url = base_url.rstrip("/") + "/v1/models"
    per = aiohttp.ClientTimeout(total=timeout_s)

    async def one() -> bool:
        try:
            async with session.get(url, headers=headers, timeout=per) as r:
                await r.read()
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    results = await asyncio.gather(*(one() for _ in range(n)))
    return sum(results)


async def send_request(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
                       rec: RequestRecord, timeouts: TimeoutSettings,
                       on_sent: Callable[[RequestRecord], None] | None = None) -> RequestRecord:
    """Send `body` to `url` and fill `rec`; never raises except for the caller's own cancellation handling.

    A run that stops cancels this coroutine: the record then ends as `cancelled` with what it measured.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    perf = time.perf_counter_ns
    rec.sent_ns = perf()
    dog = _Watchdog(loop, task, rec, timeouts)  # type: ignore[arg-type]
    if on_sent is not None:
        on_sent(rec)
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            rec.status = resp.status
            if resp.status != 200:
                rec.outcome = outcome_of_status(resp.status)
                rec.retry_after = resp.headers.get("Retry-After")
                try:
                    rec.error = _error_message(await resp.text(errors="replace"))
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    rec.error = f"HTTP {resp.status}"
                return rec
            await _read_stream(resp, rec, perf)
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
        if not rec.end_ns:
            rec.end_ns = perf()
    return rec


async def _read_stream(resp: aiohttp.ClientResponse, rec: RequestRecord, perf) -> None:
    """Read server-sent events; stamp each read with one time (events that arrive together share it)."""
    ctype = resp.headers.get("Content-Type", "")
    if "event-stream" not in ctype and "json" in ctype:
        # A server that ignored stream=true: one JSON body. Not what a replay asked for.
        text = await resp.text(errors="replace")
        rec.end_ns = perf()
        rec.outcome = MALFORMED
        rec.error = f"expected a stream, got {ctype}: {text[:120]}"
        return
    buf = b""
    content = resp.content
    chunk_ns = rec.chunk_ns
    while True:
        data = await content.readany()
        if not data:
            break
        now = perf()
        buf += data
        if b"\n" not in data:
            continue
        *lines, buf = buf.split(b"\n")
        for line in lines:
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
                return
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
                return
            if not isinstance(obj, dict):
                rec.end_ns = now
                rec.outcome = MALFORMED
                rec.error = f"chunk is not an object: {payload[:120].decode(errors='replace')}"
                return
            err = obj.get("error")
            if err is not None:
                rec.end_ns = now
                rec.outcome = STREAM_ERROR
                rec.error = _error_message(json.dumps(obj))
                return
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
        if rec.done:
            break
    rec.end_ns = perf()
    if rec.completion_tokens < rec.output_tokens:
        rec.outcome = TRUNCATED
        rec.error = f"{rec.completion_tokens} of {rec.output_tokens} tokens" + ("" if rec.done else ", no [DONE]")
    elif not rec.done:
        rec.outcome = TRUNCATED
        rec.error = "stream ended without [DONE]"
    else:
        rec.outcome = OK
