"""The study's experiment on the real engine: presets/burstiness-sweep.toml swept over the arrival CV (shortened)
starts one managed CPU vLLM and serves every point on it, each run's figures its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from managed_vllm import requires_vllm

ROOT = Path(__file__).resolve().parents[2]


@requires_vllm
def test_burstiness_sweep_on_one_managed_engine(tmp_path):
    out = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "burststudio", "sweep", str(ROOT / "presets" / "burstiness-sweep.toml"),
                        "--set", "workload.arrivals.cv=1,8", "--duration", "8", "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert [row["point"] for row in res["runs"]] == [{"workload.arrivals.cv": 1}, {"workload.arrivals.cv": 8}]
    first, second = (Path(row["run_dir"]) for row in res["runs"])
    # One engine for both points: its log is in the first run's directory only.
    assert (first / "vllm.log").is_file() and not (second / "vllm.log").exists()
    for row in res["runs"]:
        s = json.loads((Path(row["run_dir"]) / "summary.json").read_text())
        assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"] > 0
        assert s["target"]["kind"] == "vllm" and s["metrics_samples"] > 0
        assert s["kv_cache_usage_peak"] is not None and s["kv_cache_usage_peak"] > 0
        # Counters are read over each run alone, so the second run's are not the first's plus its own.
        assert s["admission_rejections"] <= s["failed"] + 1
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(first) not in procs, "the engine was stopped after the last point"
