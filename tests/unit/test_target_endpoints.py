"""A target is described as a list of endpoints; the single-server fields every caller reads are its first one's."""

from __future__ import annotations

from burststudio.replay.scrape import Scraper
from burststudio.targets.base import Endpoint, TargetInfo

OLD_KEYS = ["kind", "url", "model", "max_model_len", "vocab_size", "kv_capacity_tokens", "kv_blocks", "block_size",
            "engine", "build", "has_metrics"]


def test_single_server_fields_are_the_first_endpoints():
    info = TargetInfo(kind="url", url="http://h:1", model="m", kv_capacity_tokens=2048, kv_blocks=16, block_size=128)
    (ep,) = info.endpoints
    assert (ep.url, ep.metrics_url, ep.kv_capacity_tokens, ep.kv_blocks, ep.block_size) == (
        "http://h:1", "http://h:1/metrics", 2048, 16, 128)
    info.kv_blocks = 32  # a target that learns its cache later writes through to the endpoint
    assert ep.kv_blocks == 32 and info.metrics_url == "http://h:1/metrics"


def test_to_dict_keeps_the_old_keys_and_adds_endpoints():
    info = TargetInfo(kind="sim", url="http://h:1", model="sim", max_model_len=512, kv_blocks=16, has_metrics=True)
    d = info.to_dict()
    assert list(d) == OLD_KEYS + ["endpoints"]
    assert d["url"] == "http://h:1" and d["kv_blocks"] == 16 and d["has_metrics"] is True
    assert d["endpoints"] == [{"name": "0", "url": "http://h:1", "metrics_url": "http://h:1/metrics",
                               "kv_capacity_tokens": None, "kv_blocks": 16, "block_size": None}]


def test_several_endpoints_are_described():
    eps = [Endpoint("a", "http://a:1", kv_blocks=8), Endpoint("b", "http://b:1", metrics_url="http://b:2/m")]
    info = TargetInfo(kind="url", model="m", endpoints=eps)
    assert info.url == "http://a:1" and info.kv_blocks == 8
    assert [e["metrics_url"] for e in info.to_dict()["endpoints"]] == ["http://a:1/metrics", "http://b:2/m"]


def test_the_scraper_reads_an_endpoints_metrics_url():
    assert Scraper(None, "http://h:1/", 0.5, 0, print, print).url == "http://h:1/metrics"
    assert Scraper(None, "http://h:1", 0.5, 0, print, print, metrics_url="http://h:9/m").url == "http://h:9/m"
