"""The project's test server (tests/testserver.py) as a benchmark target every load generator can talk to.

Two thin additions in a middleware, nothing in the server itself changes:
  * each completion request's arrival (perf_counter_ns, CLOCK_MONOTONIC: the clock every process on Linux shares),
    stamped before anything else is done with it; `GET /bench/arrivals?since=K` returns them from the K-th on;
  * text prompts (what `vllm bench serve` and AIPerf send from their synthetic datasets) become token-id prompts of
    about one id per 4 characters, since the test server takes token ids only. BurstStudio sends ids and skips this.

It listens with an accept queue of 4,096 unless `--backlog` says otherwise (aiohttp's default is 128, which the
overload case keeps); `--cpu-per-token S` makes it spend S seconds of CPU per token sent, a server that holds fewer
streams than the clients can send.

    python bench/peers/server.py --port P --ttft 0.04 --token-delay 0.002 [--backlog 128] [--cpu-per-token 15e-6]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from tests.testserver import ServerConfig, make_app  # noqa: E402


def make_bench_app(cfg: ServerConfig) -> web.Application:
    arrivals: list[int] = []

    @web.middleware
    async def stamp(request: web.Request, handler):
        if request.method == "POST" and request.path.endswith("/completions"):
            arrivals.append(time.perf_counter_ns())
            raw = await request.read()
            if b'"prompt":"' in raw or b'"prompt": "' in raw or b'"prompt":["' in raw or b'"prompt": ["' in raw:
                body = json.loads(raw)
                text = body["prompt"] if isinstance(body["prompt"], str) else " ".join(body["prompt"])
                body["prompt"] = [(7 * k + 1) % cfg.vocab_size for k in range(max(1, len(text) // 4))]
                request._read_bytes = json.dumps(body).encode()  # what request.json() will parse in the handler
        return await handler(request)

    async def bench_arrivals(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response({"count": len(arrivals), "arrivals_ns": arrivals[since:]})

    cfg.record_arrivals = False  # the middleware keeps them; the server's own list would only grow
    app = make_app(cfg)
    app.middlewares.append(stamp)
    app.router.add_get("/bench/arrivals", bench_arrivals)
    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ttft", type=float, default=0.04)
    p.add_argument("--token-delay", type=float, default=0.002)
    p.add_argument("--model", default="tiny")
    p.add_argument("--backlog", type=int, default=4096)
    p.add_argument("--cpu-per-token", type=float, default=0.0)
    a = p.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cfg = ServerConfig(model=a.model, ttft_s=a.ttft, token_delay_s=a.token_delay, max_model_len=1 << 20,
                       cpu_per_token_s=a.cpu_per_token)
    # A deep accept queue: with aiohttp's default of 128, a burst of new connections overflows it while the loop is
    # busy, and the kernel's SYN retries (1 s, 3 s, 7 s...) would be counted against whichever client sent them.
    web.run_app(make_bench_app(cfg), host="127.0.0.1", port=a.port, access_log=None, print=None, backlog=a.backlog)


if __name__ == "__main__":
    main()
