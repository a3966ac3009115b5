"""The simulated engine served in real time over the OpenAI-compatible API, in its own process.

`SimTarget` starts `python -m burststudio.targets.sim.server` (aiohttp) and stops it. The server answers as vLLM does
where a replay client looks: `/health`, `/v1/models` (with `max_model_len`), streamed `/v1/completions` and
`/v1/chat/completions` with usage, vLLM's error bodies (`{"error": {message, type, param, code}}`: 400 too long,
404 unknown model, 503 queue full), and `/metrics` under vLLM's names (burststudio.vllm_metrics). The engine steps in wall-clock time: a step
of the cost model's length is slept through, then its tokens go out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from burststudio.settings import SimSettings
from burststudio.targets.base import Progress, Target, TargetError, TargetInfo
from burststudio.targets.supervise import Supervised, SupervisedServer

MODEL = "sim"
VOCAB_SIZE = 32000
# vLLM's bucket bounds for TTFT and E2E latency histograms (seconds).
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
               960.0, 1920.0, 7680.0)


# The target --------------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimTarget(SupervisedServer, Target):
    """The simulator as a server process on 127.0.0.1 (a free port unless given)."""

    kind = "sim"

    def __init__(self, settings: SimSettings | None = None, port: int | None = None):
        self.settings = settings or SimSettings()
        self.port = port
        self._supervised = Supervised(grace_s=5.0)
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        from burststudio.targets.sim.costmodel import get_profile
        from burststudio.targets.sim.scheduler import SimEngine

        SimEngine(self.settings, get_profile(self.settings.profile))  # a bad setting fails here, in one line
        if self.port is None:
            self.port = _free_port()
        cmd = [sys.executable, "-m", "burststudio.targets.sim.server", "--port", str(self.port),
               "--settings", json.dumps(asdict(self.settings))]
        if run_dir is not None:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            self._log = open(Path(run_dir) / "sim-server.log", "ab")
            out = self._log
        else:
            out = subprocess.DEVNULL
        if progress:
            progress(f"starting the simulator on {self.url}")
        # Supervised: a SIGKILL of the replay must not leave the simulated server running under PID 1.
        self._supervised.start(cmd, stdout=out)

    def wait_healthy(self, timeout_s: float) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise TargetError(f"the simulator exited with code {self.proc.returncode} before answering")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1.0) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TargetError(f"the simulator did not answer on {self.url} within {timeout_s:g} s")
            time.sleep(0.05)

    def describe(self) -> TargetInfo:
        s = self.settings
        return TargetInfo(kind="sim", url=self.url, model=MODEL, max_model_len=s.max_model_len, vocab_size=VOCAB_SIZE,
                          kv_capacity_tokens=(s.num_blocks - 1) * s.block_size, kv_blocks=s.num_blocks,
                          block_size=s.block_size, engine=f"burststudio simulator ({s.profile})", build=None,
                          has_metrics=True)

    @property
    def proc(self) -> subprocess.Popen | None:
        return self._supervised.proc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        self._supervised.stop()
        if self._log is not None:
            self._log.close()
            self._log = None


# The server --------------------------------------------------------------------------------------------------------
def _error(status: int, message: str, type_: str, param: str | None = None):
    from aiohttp import web

    return web.json_response({"error": {"message": message, "type": type_, "param": param, "code": status}},
                             status=status)


class Histogram:
    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, v: float) -> None:
        for i, b in enumerate(self.bounds):
            if v <= b:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.sum += v

    def buckets(self) -> list[tuple[str, float]]:
        out, acc = [], 0
        for b, c in zip(self.bounds, self.counts):
            acc += c
            out.append((str(float(b)), acc))
        out.append(("+Inf", acc + self.counts[-1]))
        return out


class SimServer:
    """One engine, stepped in real time by one task; each request waits on its own queue of token batches."""

    def __init__(self, settings: SimSettings):
        from burststudio.targets.sim.costmodel import get_profile
        from burststudio.targets.sim.scheduler import SimEngine

        self.settings = settings
        self.profile = get_profile(settings.profile)
        self.engine = SimEngine(settings, self.profile)
        self.t0 = time.monotonic()
        self.queues: dict[int, asyncio.Queue] = {}
        self.wake = asyncio.Event()
        self.next_rid = 0
        self.ttft = Histogram(TTFT_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self.success = 0
        self.created = time.time()

    def clock(self) -> float:
        return time.monotonic() - self.t0

    async def run_engine(self) -> None:
        eng = self.engine
        while True:
            eng.now = max(eng.now, self.clock())
            res = eng.step()
            if res is None:
                nxt = eng.next_arrival_s()
                self.wake.clear()
                timeout = None if math.isinf(nxt) else max(0.0, nxt - self.clock())
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                continue
            delay = self.t0 + res.end_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            for r in res.tokens:
                q = self.queues.get(r.rid)
                if q is not None:
                    q.put_nowait(r.out)
            for r in res.finished:
                self.success += 1
                self.e2e.observe(r.end_s - r.arrival_s)

    # HTTP -------------------------------------------------------------------------------------------------------
    async def health(self, request):
        from aiohttp import web

        return web.Response(status=200)

    async def models(self, request):
        from aiohttp import web

        return web.json_response({"object": "list", "data": [{
            "id": MODEL, "object": "model", "created": int(self.created), "owned_by": "burststudio", "root": MODEL,
            "parent": None, "max_model_len": self.settings.max_model_len, "permission": []}]})

    async def metrics(self, request):
        from aiohttp import web
        from prometheus_client import CollectorRegistry, generate_latest

        reg = CollectorRegistry()
        reg.register(_Collector(self))
        return web.Response(body=generate_latest(reg), content_type="text/plain", charset="utf-8")

    async def completions(self, request):
        return await self._generate(request, chat=False)

    async def chat(self, request):
        return await self._generate(request, chat=True)

    async def _generate(self, request, chat: bool):
        from aiohttp import web

        from burststudio.vocab import HTTP_4XX, HTTP_503

        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "the body is not JSON", "BadRequestError")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object", "BadRequestError")
        model = body.get("model") or MODEL
        if model != MODEL:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError", "model")
        ids = None
        if chat:
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs:
                return _error(400, "messages must be a non-empty list", "BadRequestError", "messages")
            text = " ".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))
            n_prompt = max(1, len(text.split()))
            max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
                if any(t < 0 or t >= VOCAB_SIZE for t in prompt):
                    return _error(400, f"token id out of vocabulary [0, {VOCAB_SIZE})", "BadRequestError", "prompt")
                ids, n_prompt = prompt, len(prompt)
            elif isinstance(prompt, str) and prompt:
                n_prompt = max(1, len(prompt.split()))
            else:
                return _error(400, "prompt must be a non-empty string or list of token ids", "BadRequestError",
                              "prompt")
            max_tokens = body.get("max_tokens")
        max_len = self.settings.max_model_len
        if n_prompt >= max_len:
            return _error(400, f"This model's maximum context length is {max_len} tokens. However, your request "
                          f"has {n_prompt} input tokens.", "BadRequestError", "input_tokens")
        room = max_len - n_prompt
        max_tokens = room if max_tokens is None else max_tokens
        min_tokens = body.get("min_tokens") or 0
        if not isinstance(max_tokens, int) or max_tokens < 1 or not isinstance(min_tokens, int):
            return _error(400, "max_tokens must be a positive integer", "BadRequestError", "max_tokens")
        max_tokens = min(max_tokens, room)  # vLLM caps silently...
        if min_tokens > max_tokens:  # ...unless min_tokens asks for more than fits
            return _error(400, f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}",
                          "BadRequestError", "min_tokens")

        rid = self.next_rid
        self.next_rid += 1
        t_arrival = self.clock()
        r = self.engine.submit(rid, t_arrival, n_prompt, max_tokens, prompt_ids=ids)
        if r.outcome == HTTP_503:
            return _error(503, "The engine is currently busy and cannot accept more requests. "
                          "Please try again later.", "ServiceUnavailableError")
        if r.outcome == HTTP_4XX:
            return _error(400, "the request does not fit max_model_len", "BadRequestError")
        q: asyncio.Queue = asyncio.Queue()
        self.queues[rid] = q
        self.wake.set()
        stream = bool(body.get("stream"))
        opts = body.get("stream_options") or {}
        include_usage = bool(opts.get("include_usage"))
        continuous = bool(opts.get("continuous_usage_stats"))
        with_ids = bool(body.get("return_token_ids"))
        cid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:16]
        created = int(time.time())
        obj = "chat.completion.chunk" if chat else "text_completion"

        def usage(done: int) -> dict:
            return {"prompt_tokens": n_prompt, "total_tokens": n_prompt + done, "completion_tokens": done}

        def choice(done: int, last: bool) -> dict:
            c: dict = {"index": 0, "logprobs": None, "finish_reason": "length" if last else None,
                       "stop_reason": None}
            if chat:
                c["delta"] = {"role": "assistant", "content": ""} if done == 1 else {"content": ""}
            else:
                c["text"] = ""
            if with_ids:
                c["token_ids"] = [done % VOCAB_SIZE]
                if not chat:
                    c["prompt_token_ids"] = ids if done == 1 else None
            return c

        done = 0
        try:
            if not stream:
                while done < r.max_out:
                    done = await q.get()
                self._first(r)
                payload = {"id": cid, "object": "chat.completion" if chat else "text_completion", "created": created,
                           "model": MODEL, "usage": usage(done),
                           "choices": [{"index": 0, "finish_reason": "length", "logprobs": None,
                                        **({"message": {"role": "assistant", "content": ""}} if chat
                                           else {"text": ""})}]}
                return web.json_response(payload)
            resp = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream",
                                                           "Cache-Control": "no-cache"})
            await resp.prepare(request)
            while done < r.max_out:
                done = await q.get()
                if done == 1:
                    self._first(r)
                chunk = {"id": cid, "object": obj, "created": created, "model": MODEL,
                         "choices": [choice(done, done >= r.max_out)]}
                if continuous:
                    chunk["usage"] = usage(done)
                await resp.write(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
            if include_usage:
                tail = {"id": cid, "object": obj, "created": created, "model": MODEL, "choices": [],
                        "usage": usage(done)}
                await resp.write(b"data: " + json.dumps(tail, separators=(",", ":")).encode() + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        except (asyncio.CancelledError, ConnectionResetError):
            self.engine.abort(r, self.clock())
            raise
        finally:
            self.queues.pop(rid, None)

    def _first(self, r) -> None:
        if not math.isnan(r.first_s):
            self.ttft.observe(r.first_s - r.arrival_s)


class _Collector:
    """Builds the vLLM-named series from the engine's state at scrape time."""

    def __init__(self, server: SimServer):
        self.server = server

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        from burststudio import vllm_metrics as vm

        srv = self.server
        eng = srv.engine
        c = eng.counters
        s = srv.settings
        base = ["model_name", "engine"]
        lv = [MODEL, "0"]

        def gauge(name, doc, value):
            g = GaugeMetricFamily(name, doc, labels=base)
            g.add_metric(lv, float(value))
            return g

        def counter(name, doc, value):
            m = CounterMetricFamily(name, doc, labels=base)
            m.add_metric(lv, float(value))
            return m

        yield gauge(vm.NUM_REQUESTS_RUNNING, "Number of requests in model execution batches.", len(eng.running))
        waiting = len(eng.waiting) + len(eng.incoming)
        yield gauge(vm.NUM_REQUESTS_WAITING, "Number of requests waiting to be processed.", waiting)
        by_reason = GaugeMetricFamily(vm.NUM_REQUESTS_WAITING_BY_REASON, "Number of waiting requests by reason.",
                                      labels=base + ["reason"])
        by_reason.add_metric(lv + ["capacity"], float(waiting))
        by_reason.add_metric(lv + ["deferred"], 0.0)
        yield by_reason
        yield gauge(vm.KV_CACHE_USAGE_PERC, "KV-cache usage. 1 means 100 percent usage.", eng.kv_usage)
        yield counter(vm.NUM_PREEMPTIONS, "Cumulative number of preemption from the engine.", c.preemptions)
        yield counter(vm.PROMPT_TOKENS, "Number of prefill tokens processed.", c.prompt_tokens)
        yield counter(vm.GENERATION_TOKENS, "Number of generation tokens processed.", c.generation_tokens)
        yield counter(vm.PREFIX_CACHE_QUERIES, "Prefix cache queries, in terms of number of queried tokens.",
                      c.prefix_queries)
        yield counter(vm.PREFIX_CACHE_HITS, "Prefix cache hits, in terms of number of cached tokens.",
                      c.prefix_hits)
        succ = CounterMetricFamily(vm.REQUEST_SUCCESS, "Count of successfully processed requests.",
                                   labels=base + ["finished_reason"])
        for reason in ("stop", "length", "abort", "error", "repetition"):
            succ.add_metric(lv + [reason], float(srv.success if reason == "length" else 0))
        yield succ
        rej = CounterMetricFamily(vm.ADMISSION_REJECTIONS,
                                  "Number of admission attempts rejected by a queue limit, by reason.",
                                  labels=["model_name", "reason"])
        rej.add_metric([MODEL, "max_num_queued_reqs"], float(c.rejections))
        rej.add_metric([MODEL, "max_num_queued_tokens"], 0.0)
        yield rej
        for name, doc, h in ((vm.TIME_TO_FIRST_TOKEN, "Histogram of time to first token in seconds.",
                              srv.ttft),
                             (vm.E2E_REQUEST_LATENCY, "Histogram of e2e request latency in seconds.",
                              srv.e2e)):
            hist = HistogramMetricFamily(name, doc, labels=base)
            hist.add_metric(lv, h.buckets(), h.sum)
            yield hist
        labels = vm.cache_config_labels(s.block_size, s.num_blocks, eng.pool.capacity * s.block_size,
                                        s.enable_prefix_caching)
        info = GaugeMetricFamily(vm.CACHE_CONFIG_INFO, "Information of the LLMEngine CacheConfig",
                                 labels=[*labels, "engine"])
        info.add_metric([*labels.values(), "0"], 1.0)
        yield info


def make_app(settings: SimSettings):
    """The aiohttp application (tests run it in-process; the target runs it in its own process)."""
    from aiohttp import web

    app = web.Application(client_max_size=64 * 1024 * 1024)
    holder: dict = {}
    task_key = web.AppKey("engine_task", asyncio.Task)

    async def on_startup(app):
        srv = SimServer(settings)
        holder["srv"] = srv
        app[task_key] = asyncio.get_running_loop().create_task(srv.run_engine())

    async def on_cleanup(app):
        app[task_key].cancel()

    def route(name):
        async def handler(request):
            return await getattr(holder["srv"], name)(request)
        return handler

    app.router.add_get("/health", route("health"))
    app.router.add_get("/v1/models", route("models"))
    app.router.add_get("/metrics", route("metrics"))
    app.router.add_post("/v1/completions", route("completions"))
    app.router.add_post("/v1/chat/completions", route("chat"))
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main(argv: list[str] | None = None) -> int:
    from aiohttp import web

    ap = argparse.ArgumentParser(prog="python -m burststudio.targets.sim.server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--settings", default="{}", help="SimSettings as JSON")
    args = ap.parse_args(argv)
    settings = SimSettings(**json.loads(args.settings))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(f"simulator on http://{args.host}:{args.port} ({settings.profile}, pid {os.getpid()})", flush=True)
    web.run_app(make_app(settings), host=args.host, port=args.port, print=None, handle_signals=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
