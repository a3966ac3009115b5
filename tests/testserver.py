"""An OpenAI-compatible fake server with known timing and every fault a replay must survive.

It answers `/v1/completions` and `/v1/chat/completions` in vLLM's streaming format (token-id prompts, `usage` in a
last chunk, `data: [DONE]`), checks what vLLM checks (ids inside the vocabulary, prompt + min_tokens within
max_model_len), and serves `/v1/models`, `/health` and `/metrics` under vLLM's metric names.

Timing: the first chunk leaves `ttft_s` after the request arrived (with `max_running`, after it got a running slot),
token k at `ttft_s + k * token_delay_s`, both on an absolute schedule so delays do not add up.

Faults, for every request (`fault`) or by prompt length (`faults_by_prompt_len`, so one workload can mix them):
  http_400 http_404 http_429 (with Retry-After) http_503 (vLLM's queue-full body) http_500
  stream_error (an error event inside the 200 stream after `fault_after` tokens)   truncated (fewer tokens, then [DONE])
  no_done (all tokens, no [DONE])   cut (connection dropped mid-stream)   refuse (connection dropped before answering)
  malformed (a chunk that is not JSON)   not_stream (a plain JSON body)   hang_first (never a first token)
  hang_mid (stalls after `fault_after` tokens)

In tests: `with TestServer(ServerConfig(...)) as srv: srv.url` runs it on its own thread and loop. For benchmarks:
`python -m tests.testserver --port P --ttft 0.04 --token-delay 0.005` runs it as a process; `GET /debug/arrivals`
returns each request's arrival time (perf_counter_ns, the same clock in every process on Linux); `--arrivals-dir D`
also writes each request's (arrival, first token written) pair at exit, the server's own TTFT, and
`--precise-first` makes that first write leave at its time to microseconds. For high rates:
`--write-interval S` (fewer, larger writes per stream) and `--workers N` (N processes on one port).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

FAULTS = ("http_400", "http_404", "http_429", "http_503", "http_500", "stream_error", "truncated", "no_done", "cut",
          "refuse", "malformed", "not_stream", "hang_first", "hang_mid")


@dataclass
class ServerConfig:
    model: str = "tiny"
    max_model_len: int = 4096
    vocab_size: int = 32000
    ttft_s: float = 0.0
    token_delay_s: float = 0.0
    fault: str = ""
    faults_by_prompt_len: dict[int, str] = field(default_factory=dict)
    fault_after: int = 2  # tokens sent before a mid-stream fault
    metrics: bool = True
    healthy: bool = True
    max_running: int = 0  # 0: every request runs at once; else the rest wait (shows in num_requests_waiting)
    kv_capacity_tokens: int = 65536
    block_size: int = 16
    record_arrivals: bool = True
    # Tokens due at the same moment always leave in one write (token_delay 0 sends the whole answer at once). With
    # write_interval_s > 0 a stream also waits at least this long between two writes and then sends every token due
    # by then: fewer, larger writes, as vLLM's --stream-interval does. Tokens never leave before their time.
    write_interval_s: float = 0.0
    # Spin on the clock for the last moments before the first token, so it leaves at its time to a few microseconds
    # (a timer alone fires up to a millisecond late): for measuring a client's TTFT accuracy.
    precise_first: bool = False
    # CPU spent on every token sent (a busy loop), as an engine's work grows with its tokens: a server that holds
    # fewer streams a second than the client can send, for overload tests on a machine where it would keep up.
    cpu_per_token_s: float = 0.0
    # Keep every request body as parsed (`state.bodies`), for tests of what a replay sends.
    record_bodies: bool = False


class _State:
    def __init__(self) -> None:
        self.running = 0
        self.waiting = 0
        self.kv_tokens = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.rejections = 0
        self.success = 0
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.blocks: set[bytes] = set()
        self.arrivals: list[int] = []
        self.first_writes: list[tuple[int, int]] = []  # (arrival, first token written), perf_counter_ns
        self.requests = 0
        self.bodies: list[dict] = []


def _chunk(cfg: ServerConfig, rid: str, token: int, finish: str | None, chat: bool, first: bool,
           token_ids: bool = False) -> bytes:
    if chat:
        delta = {"content": "x"}
        if first:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj = {"id": rid, "object": "chat.completion.chunk", "created": 0, "model": cfg.model, "choices": [choice]}
    else:
        choice = {"index": 0, "text": "x", "logprobs": None, "finish_reason": finish, "stop_reason": None}
        if token_ids:  # vLLM sends them when asked (return_token_ids)
            choice["token_ids"] = [token]
        obj = {"id": rid, "object": "text_completion", "created": 0, "model": cfg.model, "choices": [choice]}
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk_templates(cfg: ServerConfig, rid: str, chat: bool) -> tuple[bytes, bytes, bytes]:
    """The first, middle and last chunk of a stream without token ids: built once per request, not per token."""
    return (_chunk(cfg, rid, 0, None, chat, True), _chunk(cfg, rid, 0, None, chat, False),
            _chunk(cfg, rid, 0, "length", chat, False))


def _usage_chunk(cfg: ServerConfig, rid: str, prompt: int, completion: int) -> bytes:
    obj = {"id": rid, "object": "text_completion", "created": 0, "model": cfg.model, "choices": [],
           "usage": {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion}}
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\ndata: [DONE]\n\n"


def _error(status: int, message: str, etype: str = "BadRequestError") -> web.Response:
    body = {"error": {"message": message, "type": etype, "param": None, "code": status}}
    return web.json_response(body, status=status)


CFG_KEY = web.AppKey("cfg", ServerConfig)
STATE_KEY = web.AppKey("state", object)
CLOSE_KEY = web.AppKey("close_hangs", object)


def make_app(cfg: ServerConfig) -> web.Application:
    st = _State()
    app = web.Application()
    app[CFG_KEY] = cfg
    app[STATE_KEY] = st
    gate: list[asyncio.Semaphore | None] = [None]
    closing: list[asyncio.Event] = []

    async def hang() -> None:
        if not closing:
            closing.append(asyncio.Event())
        try:
            await asyncio.wait_for(closing[0].wait(), 3600)
        except asyncio.TimeoutError:
            pass

    def close_hangs() -> None:
        if closing:
            closing[0].set()

    app[CLOSE_KEY] = close_hangs

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": cfg.model, "object": "model", "owned_by": "vllm", "root": cfg.model,
             "max_model_len": cfg.max_model_len}]})

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200 if cfg.healthy else 503)

    async def arrivals(request: web.Request) -> web.Response:
        return web.json_response({"arrivals_ns": st.arrivals})

    async def metrics(request: web.Request) -> web.Response:
        if not cfg.metrics:
            raise web.HTTPNotFound()
        lab = f'engine="0",model_name="{cfg.model}"'
        blocks = max(1, cfg.kv_capacity_tokens // cfg.block_size)
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge", f"vllm:num_requests_running{{{lab}}} {float(st.running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge", f"vllm:num_requests_waiting{{{lab}}} {float(st.waiting)}",
            "# HELP vllm:num_requests_waiting_by_reason Waiting requests by reason.",
            "# TYPE vllm:num_requests_waiting_by_reason gauge",
            f'vllm:num_requests_waiting_by_reason{{{lab},reason="capacity"}} {float(st.waiting)}',
            f'vllm:num_requests_waiting_by_reason{{{lab},reason="deferred"}} 0.0',
            "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
            "# TYPE vllm:kv_cache_usage_perc gauge",
            f"vllm:kv_cache_usage_perc{{{lab}}} {min(1.0, st.kv_tokens / cfg.kv_capacity_tokens)}",
            "# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.",
            "# TYPE vllm:num_preemptions_total counter", f"vllm:num_preemptions_total{{{lab}}} 0.0",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens_total counter",
            f"vllm:prompt_tokens_total{{{lab}}} {float(st.prompt_tokens_total)}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens_total counter",
            f"vllm:generation_tokens_total{{{lab}}} {float(st.generation_tokens_total)}",
            "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.",
            "# TYPE vllm:prefix_cache_queries_total counter",
            f"vllm:prefix_cache_queries_total{{{lab}}} {float(st.prefix_queries)}",
            "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.",
            "# TYPE vllm:prefix_cache_hits_total counter",
            f"vllm:prefix_cache_hits_total{{{lab}}} {float(st.prefix_hits)}",
            "# HELP vllm:admission_rejections_total Requests rejected at admission.",
            "# TYPE vllm:admission_rejections_total counter",
            f'vllm:admission_rejections_total{{model_name="{cfg.model}",reason="max_num_queued_reqs"}} '
            f"{float(st.rejections)}",
            f'vllm:admission_rejections_total{{model_name="{cfg.model}",reason="max_num_queued_tokens"}} 0.0',
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{{lab},finished_reason="length"}} {float(st.success)}',
            "# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig",
            "# TYPE vllm:cache_config_info gauge",
            f'vllm:cache_config_info{{block_size="{cfg.block_size}",enable_prefix_caching="True",'
            f'engine="0",kv_cache_size_tokens="{cfg.kv_capacity_tokens}",num_gpu_blocks="{blocks}"}} 1.0',
            "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.",
            "# TYPE vllm:time_to_first_token_seconds histogram",
            f'vllm:time_to_first_token_seconds_bucket{{{lab},le="+Inf"}} {float(st.success)}',
            f"vllm:time_to_first_token_seconds_count{{{lab}}} {float(st.success)}",
            f"vllm:time_to_first_token_seconds_sum{{{lab}}} 0.0",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    def _prefix_account(prompt: list[int]) -> None:
        # Chained block hashes, as vLLM's prefix cache keys full blocks by everything before them.
        h = b""
        full = len(prompt) // cfg.block_size
        st.prefix_queries += len(prompt)
        hit = True
        for b in range(full):
            blk = prompt[b * cfg.block_size:(b + 1) * cfg.block_size]
            h = hashlib.blake2b(h + json.dumps(blk).encode(), digest_size=16).digest()
            if hit and h in st.blocks:
                st.prefix_hits += cfg.block_size
            else:
                hit = False
                st.blocks.add(h)

    async def _mid_stream_fault(resp: web.StreamResponse, request: web.Request, fault: str) -> web.StreamResponse:
        if fault == "stream_error":
            err = {"error": {"message": "The engine is currently busy and the request queue is full.",
                             "type": "ServiceUnavailable", "param": None, "code": 503}}
            await resp.write(b"data: " + json.dumps(err).encode() + b"\n\ndata: [DONE]\n\n")
        elif fault == "cut":
            request.transport.abort() if hasattr(request.transport, "abort") else request.transport.close()
        elif fault == "malformed":
            await resp.write(b"data: {not json\n\n")
            await resp.write(b"data: [DONE]\n\n")
        else:  # hang_mid
            await hang()
        return resp

    async def complete(request: web.Request) -> web.StreamResponse:
        arrived = time.perf_counter_ns()
        if cfg.record_arrivals:
            st.arrivals.append(arrived)
        st.requests += 1
        chat = request.path.endswith("chat/completions")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not JSON")
        if cfg.record_bodies:
            st.bodies.append(body)
        if body.get("model") != cfg.model:
            return _error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        if chat:
            msgs = body.get("messages") or []
            prompt: list[int] = []
            n_prompt = sum(len(str(m.get("content", "")).split()) for m in msgs)
            n_out = int(body.get("max_completion_tokens") or body.get("max_tokens") or 16)
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, list) or not all(isinstance(t, int) for t in prompt):
                return _error(400, "this server takes token-id prompts only")
            if any(t < 0 or t >= cfg.vocab_size for t in prompt):
                return _error(500, "EngineCore encountered an issue. See stack trace for the root cause.",
                              "InternalServerError")
            n_prompt = len(prompt)
            n_out = int(body.get("max_tokens") or 16)
        min_tokens = int(body.get("min_tokens") or 0)
        if n_prompt + max(min_tokens, 1) > cfg.max_model_len:
            return _error(400, f"This model's maximum context length is {cfg.max_model_len} tokens.")
        fault = cfg.faults_by_prompt_len.get(n_prompt, cfg.fault)
        if fault == "refuse":
            request.transport.close()
            raise web.HTTPBadRequest()  # never reaches the client: the transport is closed
        if fault in ("http_400", "http_404", "http_429", "http_503", "http_500"):
            status = int(fault[5:])
            if status == 503:
                st.rejections += 1
                return _error(503, "The engine is currently busy and the request queue is full.", "ServiceUnavailable")
            resp = _error(status, f"fault {fault}")
            if status == 429:
                resp.headers["Retry-After"] = "1"
            return resp
        if not chat:
            _prefix_account(prompt)
        if fault == "not_stream":
            return web.json_response({"id": "cmpl-x", "object": "text_completion", "choices": [
                {"index": 0, "text": "x" * n_out, "finish_reason": "length"}]})

        if cfg.max_running:
            if gate[0] is None:
                gate[0] = asyncio.Semaphore(cfg.max_running)
            st.waiting += 1
            try:
                await gate[0].acquire()
            finally:
                st.waiting -= 1
        st.running += 1
        st.kv_tokens += n_prompt + n_out
        st.prompt_tokens_total += n_prompt
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        rid = f"cmpl-{st.requests}"
        # Token times run on perf_counter, not loop.time(): uvloop's loop time is cached per iteration and its timers
        # round to whole milliseconds, which would let a first token leave up to a millisecond before its time.
        # A request that waited for a running slot starts its work when it gets one, as a batching server's does.
        start = (time.perf_counter_ns() if cfg.max_running else arrived) / 1e9
        sent = 0
        try:
            await resp.prepare(request)
            if fault == "hang_first":
                await hang()
                return resp
            n_send = n_out
            if fault in ("truncated",):
                n_send = max(0, min(n_out - 1, cfg.fault_after))
            with_ids = bool(body.get("return_token_ids"))
            first_c, mid_c, last_c = _chunk_templates(cfg, rid, chat)
            k = 0
            last_write = float("-inf")
            while k < n_send:
                due_k = start + cfg.ttft_s + k * cfg.token_delay_s
                wake = max(due_k, last_write + cfg.write_interval_s) if k else due_k
                delay = wake - time.perf_counter()
                if cfg.precise_first and not k and delay > 0:
                    # Sleep to 2 ms before, yield the loop to other streams until 0.2 ms before, then spin: the loop
                    # is never held for more than a fraction of a millisecond.
                    if delay > 0.002:
                        await asyncio.sleep(delay - 0.002)
                    while wake - time.perf_counter() > 0.0002:
                        await asyncio.sleep(0)
                    while time.perf_counter() < wake:
                        pass
                elif delay > 0:
                    await asyncio.sleep(delay)
                now = time.perf_counter()
                batch: list[bytes] = []
                # Every token due by now leaves in this one write (a server that fell behind catches up at once).
                while k < n_send and start + cfg.ttft_s + k * cfg.token_delay_s <= now:
                    if k == cfg.fault_after and fault in ("stream_error", "cut", "malformed", "hang_mid"):
                        if batch:
                            await resp.write(b"".join(batch))
                        return await _mid_stream_fault(resp, request, fault)
                    if with_ids:
                        batch.append(_chunk(cfg, rid, (k * 7919) % cfg.vocab_size,
                                            "length" if k == n_out - 1 else None, chat, k == 0, True))
                    else:
                        batch.append(last_c if k == n_out - 1 else first_c if k == 0 else mid_c)
                    k += 1
                    sent += 1
                    st.generation_tokens_total += 1
                if batch:
                    if cfg.cpu_per_token_s:
                        spin_until = time.perf_counter() + cfg.cpu_per_token_s * len(batch)
                        while time.perf_counter() < spin_until:
                            pass
                    await resp.write(b"".join(batch))
                    if last_write == float("-inf") and cfg.record_arrivals:
                        st.first_writes.append((arrived, time.perf_counter_ns()))
                    last_write = time.perf_counter()
            if fault == "no_done":
                await resp.write(b"data: " + json.dumps({"id": rid, "choices": [], "usage": {
                    "prompt_tokens": n_prompt, "completion_tokens": sent}}).encode() + b"\n\n")
            else:
                await resp.write(_usage_chunk(cfg, rid, n_prompt, sent))
            await resp.write_eof()
            st.success += 1
            return resp
        finally:
            st.running -= 1
            st.kv_tokens -= n_prompt + n_out
            if cfg.max_running and gate[0] is not None:
                gate[0].release()

    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/debug/arrivals", arrivals)
    app.router.add_post("/v1/completions", complete)
    app.router.add_post("/v1/chat/completions", complete)
    return app


class TestServer:
    """The server on its own thread and event loop, for tests in this process."""

    __test__ = False  # not a pytest class

    def __init__(self, cfg: ServerConfig | None = None, port: int = 0):
        self.cfg = cfg or ServerConfig()
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> _State:
        return self.app[STATE_KEY]  # type: ignore[index,return-value]

    def start(self) -> "TestServer":
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self.app = make_app(self.cfg)
            self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self.app[CLOSE_KEY])  # type: ignore[index,arg-type]
            try:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 (stopping anyway)
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve_workers(a: argparse.Namespace, cfg: ServerConfig) -> None:
    """`--workers N`: N processes on one port (SO_REUSEPORT; the kernel spreads connections across them), so the
    server keeps up with the client on a machine with cores to spare. Each keeps its own state: /metrics and
    /debug/arrivals answer for the process that took the connection; `--arrivals-dir` collects every process's
    arrivals at exit."""
    import os
    import signal

    children: list[int] = []
    parent = True
    for _ in range(a.workers - 1):
        pid = os.fork()
        if pid == 0:
            try:  # a worker must not outlive the parent that was told to stop
                import ctypes

                ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            except (OSError, AttributeError):
                pass
            children.clear()
            parent = False
            break
        children.append(pid)
    app = make_app(cfg)

    async def on_cleanup(app: web.Application) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    if a.arrivals_dir:
        async def dump(app: web.Application) -> None:
            path = os.path.join(a.arrivals_dir, f"arrivals-{os.getpid()}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(app[STATE_KEY].arrivals, f)  # type: ignore[attr-defined]
            os.replace(path + ".tmp", path)
            path = os.path.join(a.arrivals_dir, f"firsts-{os.getpid()}.json")
            with open(path + ".tmp", "w") as f:
                json.dump(app[STATE_KEY].first_writes, f)  # type: ignore[attr-defined]
            os.replace(path + ".tmp", path)

        app.on_cleanup.append(dump)
    app.on_cleanup.append(on_cleanup)
    web.run_app(app, host=a.host, port=a.port, access_log=None, reuse_port=a.workers > 1,
                print=(lambda *x: print(*x, flush=True)) if parent else None)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default="tiny")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--ttft", type=float, default=0.0, help="seconds to the first token")
    p.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
    p.add_argument("--write-interval", type=float, default=0.0,
                   help="least seconds between two writes of a stream (tokens due meanwhile go together)")
    p.add_argument("--precise-first", action="store_true", help="spin for the first token's exact time")
    p.add_argument("--cpu-per-token", type=float, default=0.0, help="seconds of CPU burned per token sent")
    p.add_argument("--backlog", type=int, default=128, help="listen backlog (accept queue) of the socket")
    p.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--arrivals-dir", default="", help="write each process's arrival times here at exit")
    p.add_argument("--fault", default="", choices=("",) + FAULTS)
    p.add_argument("--no-metrics", action="store_true")
    p.add_argument("--max-running", type=int, default=0)
    p.add_argument("--uvloop", action="store_true")
    a = p.parse_args(argv)
    cfg = ServerConfig(model=a.model, max_model_len=a.max_model_len, ttft_s=a.ttft, token_delay_s=a.token_delay,
                       fault=a.fault, metrics=not a.no_metrics, max_running=a.max_running,
                       write_interval_s=a.write_interval, precise_first=a.precise_first,
                       cpu_per_token_s=a.cpu_per_token)
    if a.uvloop:
        import uvloop

        uvloop.install()
    if a.workers > 1 or a.arrivals_dir:
        _serve_workers(a, cfg)
        return
    web.run_app(make_app(cfg), host=a.host, port=a.port, access_log=None, print=lambda *x: print(*x, flush=True),
                backlog=a.backlog)


if __name__ == "__main__":
    main()
