"""The simulated fleet: N engines behind the router model, one run with a replica per request and per sample, the
per-replica table, and `compare` of a fleet run against another."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from burststudio.presets import load_preset  # noqa: E402
from burststudio.replay.sim_fleet import route  # noqa: E402
from burststudio.replay.simulated import simulate_to_run_dir  # noqa: E402

PRESET = ROOT / "presets" / "vllm-cpu-fleet.toml"


def fleet_run(tmp_path, name, replicas=2, policy="round_robin", duration_s=8.0):
    preset = load_preset(PRESET)
    preset.replay.duration_s = duration_s  # the calm start and the first burst
    preset.target.route = policy
    sim = preset.target.sim
    sim.replicas = replicas
    return simulate_to_run_dir(preset, preset.build_workload(), sim, tmp_path / name)


def test_least_outstanding_routes_away_from_a_replica_with_long_requests():
    arrivals = np.array([0.0, 0.1, 0.2, 0.3])
    # Request 0 is long (10 s): while it runs, the others go to the idle replica.
    out = route("least_outstanding", 2, arrivals, None, np.array([10.0, 0.05, 0.05, 0.05]), 0)
    assert out[0] != out[1] and out[1] == out[2] == out[3]
    assert list(route("round_robin", 2, arrivals, None, None, 0)) == [0, 1, 0, 1]


def test_a_simulated_fleet_writes_a_replica_per_request_and_per_sample(tmp_path):
    one = fleet_run(tmp_path, "one", replicas=1, duration_s=14.0)  # both bursts
    two = fleet_run(tmp_path, "two", replicas=2, duration_s=14.0)
    assert "replicas" not in one
    req = pq.read_table(tmp_path / "two" / "requests.parquet")
    assert sorted(set(req.column("replica").to_pylist())) == ["0", "1"]
    assert set(pq.read_table(tmp_path / "two" / "metrics.parquet").column("replica").to_pylist()) == {"0", "1"}
    assert sorted(req.column("i").to_pylist()) == list(range(two["sent"]))  # every request once, by its plan index
    rows = two["replicas"]
    assert [r["replica"] for r in rows] == ["0", "1"]
    assert sum(r["requests"] for r in rows) == two["sent"] == one["sent"]
    assert two["imbalance"]["overall"] == pytest.approx(1.0, abs=0.05)  # round robin
    # The burst that one engine rejects in part, two take.
    assert one["failed"] > 0 and two["failed"] == 0
    assert two["simulation"]["replicas"] == 2 and two["simulation"]["route"] == "round_robin"


def test_a_fleet_runs_report_has_a_replica_table_and_the_fleets_kv(tmp_path):
    import pandas as pd

    from burststudio.studio.timeline import timeline

    fleet_run(tmp_path, "two")
    out = tmp_path / "r.html"
    p = subprocess.run([sys.executable, "-m", "burststudio", "report", str(tmp_path / "two"), "--html", str(out)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    page = out.read_text()
    assert "<h2>Replicas</h2>" in page and "routed by the client" in page and "<td>1</td>" in page
    metrics = pd.read_parquet(tmp_path / "two" / "metrics.parquet")
    t = timeline(pd.read_parquet(tmp_path / "two" / "requests.parquet"), metrics)
    assert np.all(np.diff(t.kv_t) > 0)  # one line through time, not two replicas interleaved
    assert t.kv_pct.max() == pytest.approx(metrics["kv_cache_usage"].max() * 100)


def test_load_aware_routing_converges_and_is_said(tmp_path):
    s = fleet_run(tmp_path, "lo", policy="least_outstanding")
    assert 1 <= s["simulation"]["router_passes"] <= 4
    assert s["imbalance"]["overall"] < 1.3


def test_compare_reads_two_fleet_runs(tmp_path):
    fleet_run(tmp_path, "a", policy="round_robin")
    fleet_run(tmp_path, "b", policy="power_of_two")
    p = subprocess.run([sys.executable, "-m", "burststudio", "compare", str(tmp_path / "a"), str(tmp_path / "b")],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "TTFT" in p.stdout or "ttft" in p.stdout
    assert json.loads((tmp_path / "b" / "run.json").read_text())["target"]["replica_source"] == "client"
