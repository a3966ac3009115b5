"""One reader of vLLM's /metrics: names across versions, the KV cache of either build, and the simulator writing
what the reader looks for."""

from __future__ import annotations

import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from burststudio import vocab
from burststudio.settings import TargetSettings
from burststudio.targets.url import UrlTarget
from burststudio.vllm_metrics import filter_page, parse_cache_config, parse_metrics

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = Path("/work/shared/vllm/metrics_sample_kv_pressure.txt")

# The CPU build's cache labels: its blocks under num_cpu_blocks, no kv_cache_size_tokens.
CPU_INFO = ('# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n'
            '# TYPE vllm:cache_config_info gauge\n'
            'vllm:cache_config_info{block_size="128",enable_prefix_caching="True",engine="0",'
            'num_cpu_blocks="16",num_gpu_blocks="0"} 1.0\n'
            '# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{engine="0"} 3.0\n')


def _page() -> str:
    if CAPTURE.is_file():
        return CAPTURE.read_text()
    return CPU_INFO


def test_the_capture_gives_the_kv_cache_and_every_sample_key():
    if not CAPTURE.is_file():
        pytest.skip("no vLLM capture on this machine")
    text = CAPTURE.read_text()
    assert parse_cache_config(text) == {"block_size": 128, "blocks": 16, "tokens": 2048, "prefix_caching": True}
    sample = parse_metrics(text)
    for key in vocab.SAMPLE_KEYS:
        assert key in sample, key
    assert len(filter_page(text, with_info=False)) < len(text) / 4


def test_cpu_build_blocks_come_from_num_cpu_blocks():
    assert parse_cache_config(CPU_INFO) == {"block_size": 128, "blocks": 16, "tokens": 2048, "prefix_caching": True}
    absent = CPU_INFO.replace('num_gpu_blocks="0"', 'num_gpu_blocks="None"')
    assert parse_cache_config(absent)["blocks"] == 16


class _CpuVllm(BaseHTTPRequestHandler):
    page = CPU_INFO

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = {"/v1/models": b'{"data": [{"id": "tiny", "max_model_len": 512}]}',
                "/metrics": self.page.encode()}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.mark.parametrize("page", ["cpu", "capture"])
def test_a_cpu_vllm_attached_by_url_reports_its_kv_blocks(page):
    _CpuVllm.page = CPU_INFO if page == "cpu" else _page().replace(
        'num_cpu_blocks="None",num_gpu_blocks="16"', 'num_cpu_blocks="16",num_gpu_blocks="0"')
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _CpuVllm)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        info = UrlTarget(TargetSettings(), f"http://127.0.0.1:{srv.server_address[1]}").describe()
    finally:
        srv.shutdown()
    assert info.has_metrics
    assert (info.kv_blocks, info.block_size, info.kv_capacity_tokens) == (16, 128, 2048)


def test_the_simulator_writes_what_the_reader_reads():
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from burststudio.settings import SimSettings
    from burststudio.targets.sim.server import make_app

    async def main():
        client = TestClient(TestServer(make_app(SimSettings())))
        await client.start_server()
        try:
            return await (await client.get("/metrics")).text()
        finally:
            await client.close()

    text = asyncio.run(main())
    sample = parse_metrics(text)
    for key in vocab.SAMPLE_KEYS:
        assert key in sample, key
    # One of the 16 blocks is vLLM's null block, as the simulator's engine keeps it.
    assert parse_cache_config(text) == {"block_size": 128, "blocks": 16, "tokens": 1920, "prefix_caching": True}


@pytest.mark.parametrize("name", ["vllm:kv_cache_usage_perc", "vllm:num_requests_waiting"])
def test_each_metric_name_has_one_home(name):
    hits = subprocess.run(["grep", "-rlF", "--include=*.py", name, str(ROOT / "burststudio")],
                          capture_output=True, text=True).stdout.split()
    assert [re.sub(r".*/burststudio/", "burststudio/", h) for h in hits] == ["burststudio/vllm_metrics.py"]
