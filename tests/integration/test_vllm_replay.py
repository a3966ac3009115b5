"""A short burst replayed through the real engine with the kv-pressure preset: the KV cache fills, the engine
preempts and rejects, and client and server agree that it did."""

from __future__ import annotations

from pathlib import Path

from burststudio.presets import load_preset
from burststudio.replay.runner import run_replay

from managed_vllm import Borrowed

PRESET = Path(__file__).resolve().parents[2] / "presets" / "vllm-cpu-kv-pressure.toml"
REJECTED = ("http_503", "stream_error")  # vLLM's queue-full answer comes both ways


def test_a_burst_fills_the_kv_cache_and_is_rejected_in_part(vllm_server, tmp_path):
    preset = load_preset(PRESET)
    assert preset.target.kind == "vllm" and preset.target.vllm.kv_cache_memory_bytes == "1M"
    workload = preset.build_workload()
    result = run_replay(workload, preset.target, preset.replay, name=preset.name, run_dir=tmp_path / "run",
                        target=Borrowed(vllm_server))
    s = result.summary
    assert s["sent"] == len(workload) and s["sent"] > 0
    assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"]
    assert s["cancelled"] == 0 and s["finished"] > 0
    assert s["kv_cache_usage_peak"] > 0.9
    assert s["waiting_peak"] >= 1
    client_rejected = sum(s["failures_by_class"].get(c, 0) for c in REJECTED)
    assert client_rejected >= 1 and s["admission_rejections"] >= 1
    assert s["preemptions"] + s["admission_rejections"] > 0
    assert vllm_server.alive(), "the engine survived the burst"
    assert (tmp_path / "run" / "summary.json").exists()
