"""Dispatch: the precise wait, the warm-up's connection pool, and shards whose journals merge into one run."""

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import replay, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay import client, dispatch, pool, recorder  # noqa: E402
from burststudio.replay.plan import build_plan  # noqa: E402
from burststudio.settings import ReplaySettings, TimeoutSettings  # noqa: E402


def test_expected_concurrency_is_the_busiest_window():
    sched = [0.0, 0.1, 0.2, 0.3, 2.0, 2.05, 2.1, 2.15, 2.2, 5.0]
    assert dispatch.expected_concurrency(sched, 0.5) == 5  # 2.0 .. 2.2
    assert dispatch.expected_concurrency(sched, 0.12) == 3  # 2.0, 2.05, 2.1
    assert dispatch.expected_concurrency([], 0.5) == 0


def test_auto_shards_follow_the_busiest_second_and_the_override(monkeypatch):
    monkeypatch.delenv("BURSTSTUDIO_SHARDS", raising=False)
    calm = np.arange(100) * 0.01  # 100 requests/s
    busy = np.arange(3000) / 1500  # 1,500 requests/s
    assert dispatch.auto_shards(calm, cpus=4, per_process=400) == 1
    assert dispatch.auto_shards(busy, cpus=8, per_process=400) == 4
    assert dispatch.auto_shards(busy, cpus=4, per_process=400) == 3  # a core is left for the rest
    assert dispatch.auto_shards(busy, cpus=2, per_process=400) == 1
    monkeypatch.setenv("BURSTSTUDIO_SHARDS", "3")
    assert dispatch.auto_shards(calm, cpus=2) == 3


def _plan(n: int, gap_s: float):
    return build_plan(workload(n, gap_s=gap_s, prompt=4, output=2), ReplaySettings(), model="tiny", vocab_size=100)


@pytest.mark.timing
def test_requests_leave_on_time_never_early(monkeypatch):
    """The wait alone (no HTTP): each request starts at or just after its time."""
    starts: dict[int, int] = {}

    async def fake_send(session, url, body, headers, rec, timeouts, on_sent=None):
        rec.sent_ns = time.perf_counter_ns()
        starts[rec.i] = rec.sent_ns
        rec.outcome = "ok"
        return rec

    monkeypatch.setattr(dispatch, "send_request", fake_send)
    plan = _plan(200, 0.003)

    async def main():
        t0 = time.perf_counter_ns() + 20_000_000
        d = dispatch.Dispatcher(plan, None, "http://x", {}, TimeoutSettings(), t0_ns=t0, on_sent=lambda r: None,
                                on_end=lambda r: None)
        await d.run_open(asyncio.Event())
        return t0

    t0 = asyncio.run(main())
    late = np.array([starts[i] - (t0 + int(plan.scheduled_s[i] * 1e9)) for i in range(len(plan))]) / 1e9
    assert late.min() >= 0
    # A sleep alone would be up to a millisecond late (timer resolution) even on an idle machine.
    assert np.median(late) < 0.001


def test_warm_pool_opens_connections_the_run_then_reuses():
    from aiohttp import web

    peers: list[tuple] = []

    async def models(request):
        peers.append(request.transport.get_extra_info("peername"))
        await asyncio.sleep(0.01)
        return web.json_response({"data": []})

    async def main():
        app = web.Application()
        app.router.add_get("/v1/models", models)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        session = pool.make_session(64, TimeoutSettings().connect_s)
        try:
            opened = await pool.warm_pool(session, url, {}, 20)
            warm_peers = set(peers)
            peers.clear()
            # 20 requests at once after the warm-up: every one finds a warm connection.
            await asyncio.gather(*(session.get(url + "/v1/models") for _ in range(20)))
            return opened, warm_peers, set(peers)
        finally:
            await session.close()
            await runner.cleanup()

    opened, warm_peers, later_peers = asyncio.run(main())
    assert opened == 20 and len(warm_peers) == 20
    assert later_peers <= warm_peers


def test_record_crosses_the_shard_pipe_unchanged():
    rec = client.RequestRecord(7, 9, 100, 3, 1_000_000_000)
    rec.sent_ns, rec.first_ns, rec.end_ns = 1_000_200_000, 1_041_000_000, 1_050_000_000
    rec.chunk_ns = [1_041_000_000, 1_045_123_456, 1_049_999_999]
    rec.usage_prompt, rec.usage_completion, rec.chunk_tokens = 100, 3, 3
    rec.status, rec.outcome, rec.done = 200, "ok", True
    back = client.RequestRecord.from_wire(json.loads(json.dumps(rec.to_wire())))
    assert back.to_json_dict(900_000_000) == rec.to_json_dict(900_000_000)
    assert back.completion_tokens == 3 and back.first_ns == rec.first_ns


def test_sharded_run_merges_into_one_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("BURSTSTUDIO_SHARDS", "2")
    prompts = [20, 21, 29, 20] * 15  # ok, http_400, cut mid-stream, ok
    w = workload(len(prompts), gap_s=0.01, prompt=prompts, output=5)
    cfg = ServerConfig(ttft_s=0.02, token_delay_s=0.002, faults_by_prompt_len={21: "http_400", 29: "cut"})
    with TestServer(cfg) as srv:
        result = replay(w, srv.url, tmp_path / "r")
    s = result.summary
    assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"] == len(prompts)
    assert s["finished"] == 30 and s["failures_by_class"] == {"http_4xx": 15, "connection": 15}
    records, sent = recorder.read_journal(result.run_dir)
    assert sorted(r["i"] for r in records) == list(range(len(prompts))) and sent == set(range(len(prompts)))
    for r in records:
        assert r["sent_s"] >= r["scheduled_s"]  # no shard sends early: one clock for every process
        if r["outcome"] == "ok":
            assert len(r["chunks_us"]) == 5 and r["chunks_us"][0] >= 20_000
    # Every shard's lateness reaches the summary (its size is the benchmark's business: two shards on a busy 2-core
    # machine wait for a core).
    assert s["dispatch_lateness_s"]["count"] == len(prompts)
    assert json.loads((result.run_dir / "run.json").read_text())["dispatch_shards"] == 2
