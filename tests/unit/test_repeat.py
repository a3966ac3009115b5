"""`--repeat N`: the same experiment N times, each figure's mean and 95% interval in repeat.json, and `compare` of
two repeat folders saying which differences are beyond noise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from burststudio.repeats import aggregate, differs, interval
from tests.support.replay import ROOT, workload, write_preset
from tests.testserver import ServerConfig, TestServer

KV = ROOT / "presets" / "vllm-cpu-kv-pressure.toml"


def bs(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burststudio", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_interval_is_students_t():
    v = [1.0, 2.0, 4.0, 7.0]
    got = interval(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert got["n"] == 4 and got["mean"] == pytest.approx(3.5)
    assert got["ci95"] == pytest.approx([lo, hi])
    assert interval([5.0]) == {"n": 1, "mean": 5.0, "sd": None, "ci95": None}
    assert differs([1, 1.1, 0.9, 1.05], [5, 5.2, 4.9, 5.1])["beyond_noise"] is True
    assert differs([1, 2, 3, 4], [1.5, 2.5, 3.5, 2])["beyond_noise"] is False
    assert differs([1], [2])["beyond_noise"] is None


def test_simulate_repeat_writes_every_run_and_the_intervals(tmp_path):
    out = tmp_path / "rep"
    r = bs("simulate", KV, "--repeat", "3", "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep == json.loads((out / "repeat.json").read_text())
    assert rep["seeds"] == [0, 1, 2] and not rep["seed_fixed"]
    summaries = [json.loads((out / f"rep-{k}" / "summary.json").read_text()) for k in (1, 2, 3)]
    assert aggregate(summaries) == rep["figures"]
    sent = rep["figures"]["sent"]
    assert sent["values"] == [s["sent"] for s in summaries]
    assert sent["ci95"][0] <= sent["mean"] <= sent["ci95"][1]
    assert rep["figures"]["ttft_p99"]["mean"] == pytest.approx(np.mean([s["ttft_s"]["p99"] * 1e3 for s in summaries]))
    table = bs("report", out)
    assert table.returncode == 0 and "mean ± 95% CI" in table.stdout


def test_a_fixed_seed_repeats_the_workload(tmp_path):
    r = bs("simulate", KV, "--repeat", "2", "--seed", "4", "--out", tmp_path / "fixed", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["seeds"] == [4, 4] and rep["seed_fixed"]
    assert rep["figures"]["sent"]["sd"] == 0  # the simulator is deterministic: the same workload, the same run


def test_replay_repeat_over_http_and_compare_beyond_noise(tmp_path):
    trace = tmp_path / "w.parquet"
    workload(30, gap_s=0.01, output=4).to_parquet(trace)
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.002)) as fast, \
            TestServer(ServerConfig(ttft_s=0.15, token_delay_s=0.002)) as slow:
        for name, srv in (("fast", fast), ("slow", slow)):
            p = write_preset(tmp_path / f"{name}.toml", trace, srv.url)
            r = bs("replay", p, "--repeat", "3", "--out", tmp_path / name)
            assert r.returncode == 0, r.stderr
            assert "mean ± 95% CI" in r.stdout
    rep = json.loads((tmp_path / "slow" / "repeat.json").read_text())
    assert len(rep["runs"]) == 3 and all(Path(d).is_dir() for d in rep["runs"])
    assert rep["figures"]["finished"]["values"] == [30, 30, 30]
    c = bs("compare", tmp_path / "fast", tmp_path / "slow", "--json")
    assert c.returncode == 0, c.stderr
    rows = {row["key"]: row for row in json.loads(c.stdout)["rows"]}
    assert rows["ttft_p50"]["vs_first"][0]["beyond_noise"] is True
    assert rows["ttft_p50"]["vs_first"][0]["diff"] == pytest.approx(140, abs=30)
    mixed = bs("compare", tmp_path / "fast", tmp_path / "slow" / "rep-1")
    assert mixed.returncode == 2 and "not both" in mixed.stderr and "Traceback" not in mixed.stderr
    bad = bs("replay", tmp_path / "fast.toml", "--repeat", "0")
    assert bad.returncode == 2 and "--repeat" in bad.stderr
