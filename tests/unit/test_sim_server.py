"""The served simulator streams completions like vLLM and exposes /metrics that prometheus_client parses."""

import asyncio
import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from burststudio.settings import SimSettings
from burststudio.targets.sim.server import SimTarget, make_app


def _events(raw: bytes) -> list:
    out = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: "):]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def _run(coro_fn, settings=None):
    from aiohttp.test_utils import TestClient, TestServer

    async def main():
        client = TestClient(TestServer(make_app(settings or SimSettings())))
        await client.start_server()
        try:
            return await coro_fn(client)
        finally:
            await client.close()

    return asyncio.run(main())


def _body(n_prompt=20, n_out=5, **extra):
    return {"model": "sim", "prompt": list(range(1, n_prompt + 1)), "max_tokens": n_out, "min_tokens": n_out,
            "ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}, **extra}


def test_streamed_completion_with_usage_and_metrics():
    async def go(client):
        r = await client.get("/health")
        assert r.status == 200
        models = await (await client.get("/v1/models")).json()
        assert models["data"][0]["id"] == "sim" and models["data"][0]["max_model_len"] == 512
        r = await client.post("/v1/completions", json=_body(n_out=5, return_token_ids=True))
        assert r.status == 200
        events = _events(await r.read())
        metrics = await (await client.get("/metrics")).text()
        return events, metrics

    events, metrics = _run(go)
    assert events[-1] == "[DONE]"
    content = [e for e in events[:-1] if e["choices"]]
    assert len(content) == 5
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    assert all(c["choices"][0]["finish_reason"] is None for c in content[:-1])
    assert events[-2]["choices"] == [] and events[-2]["usage"] == {"prompt_tokens": 20, "total_tokens": 25,
                                                                   "completion_tokens": 5}
    fams = {f.name: f for f in text_string_to_metric_families(metrics)}
    value = {s.name: s.value for f in fams.values() for s in f.samples if not s.labels.get("le")}
    for name in ("vllm:kv_cache_usage_perc", "vllm:num_requests_running", "vllm:num_requests_waiting",
                 "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"):
        assert name in value, name
    assert value["vllm:generation_tokens_total"] == 5
    assert value["vllm:prompt_tokens_total"] == 20
    info = [s for s in fams["vllm:cache_config_info"].samples][0]
    assert info.labels["num_gpu_blocks"] == "16" and info.labels["block_size"] == "128"
    ttft = [s for s in fams["vllm:time_to_first_token_seconds"].samples if s.name.endswith("_count")][0]
    assert ttft.value == 1


def test_errors_have_vllm_shapes():
    async def go(client):
        out = {}
        r = await client.post("/v1/completions", json=_body(model="other"))
        out["model"] = (r.status, await r.json())
        r = await client.post("/v1/completions", json=_body(n_prompt=600))
        out["long"] = (r.status, await r.json())
        r = await client.post("/v1/completions", json=_body(n_prompt=100, n_out=500))
        out["min_tokens"] = (r.status, await r.json())
        return out

    out = _run(go)
    assert out["model"][0] == 404 and out["model"][1]["error"]["code"] == 404
    assert out["long"][0] == 400 and "maximum context length" in out["long"][1]["error"]["message"]
    assert out["min_tokens"][0] == 400 and "min_tokens" in out["min_tokens"][1]["error"]["message"]


def test_queue_limit_answers_503_and_counts_rejections():
    async def go(client):
        bodies = [_body(n_prompt=50, n_out=30) for _ in range(8)]
        rs = await asyncio.gather(*(client.post("/v1/completions", json=b) for b in bodies))
        statuses = [r.status for r in rs]
        for r in rs:
            await r.read()
        metrics = await (await client.get("/metrics")).text()
        return statuses, metrics

    statuses, metrics = _run(go, SimSettings(max_num_queued_reqs=3))
    assert statuses.count(503) == 5 and statuses.count(200) == 3
    fams = {f.name: f for f in text_string_to_metric_families(metrics)}
    rej = {s.labels["reason"]: s.value for s in fams["vllm:admission_rejections"].samples
           if s.name.endswith("_total")}
    assert rej["max_num_queued_reqs"] == 5


def test_sim_target_runs_in_its_own_process():
    target = SimTarget(SimSettings())
    with target:
        target.start()
        target.wait_healthy(30)
        info = target.describe()
        assert info.kind == "sim" and info.kv_blocks == 16 and info.has_metrics
        req = urllib.request.Request(target.url + "/v1/completions", data=json.dumps(_body(n_out=3)).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            events = _events(r.read())
        assert events[-1] == "[DONE]" and events[-2]["usage"]["completion_tokens"] == 3
        assert target.alive()
    assert not target.alive()


def test_repeated_prompt_hits_the_prefix_cache():
    async def go(client):
        for _ in range(2):
            r = await client.post("/v1/completions", json=_body(n_prompt=300, n_out=2))
            await r.read()
        return await (await client.get("/metrics")).text()

    fams = {f.name: f for f in text_string_to_metric_families(_run(go))}
    value = {s.name: s.value for f in fams.values() for s in f.samples}
    assert value["vllm:prefix_cache_queries_total"] == 600
    assert value["vllm:prefix_cache_hits_total"] == 256  # two full 128-token pages; the rest is computed
