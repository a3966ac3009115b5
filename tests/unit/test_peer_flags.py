"""The peers' flags: --goodput (per-request objectives in ms, share and rate), --percentiles, --slice, --request-rate,
--model/--endpoint/--api-key-env, each a `--set` of the preset in other words, checked and recorded like one."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support.replay import ROOT, workload, write_preset
from tests.testserver import ServerConfig, TestServer

KV = ROOT / "presets" / "vllm-cpu-kv-pressure.toml"


def bs(*args, env=None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "burststudio", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("flags") / "run"
    r = bs("simulate", KV, "--out", d, "--goodput", "ttft:500", "itl:50", "--percentiles", "50,95,99.9",
           "--slice", "2s")
    assert r.returncode == 0, r.stderr
    return d


def test_goodput_objectives_per_request_and_the_rate(run):
    s = json.loads((run / "summary.json").read_text())
    g = s["goodput"]
    assert g["slo_ttft_s"] == 0.5 and g["slo_itl_s"] == 0.05 and g["slo_tpot_s"] is None
    rows = pq.read_table(run / "requests.parquet").to_pylist()
    met = 0
    for r in rows:
        if r["outcome"] != "ok":
            continue
        gaps = np.diff(r["chunks_us"]) / 1e6 if len(r["chunks_us"]) > 1 else np.zeros(1)
        met += (r["first_s"] - r["sent_s"] <= 0.5) and gaps.max() <= 0.05
    assert g["met"] == met and g["of"] == s["finished"] + s["failed"]
    assert 0 < met < s["finished"]  # both objectives bite on this run
    assert g["rate"] == pytest.approx(met / s["throughput"]["duration_s"])
    assert "replay.slo_itl_s=0.05" in (run / "preset.toml").read_text()


def test_asked_percentiles_and_std_in_every_latency_figure(run):
    s = json.loads((run / "summary.json").read_text())
    rows = pq.read_table(run / "requests.parquet").to_pylist()
    ttft = np.array([r["first_s"] - r["sent_s"] for r in rows if r["outcome"] == "ok"])
    for key in ("ttft_s", "itl_s", "tpot_s", "e2e_s", "dispatch_lateness_s"):
        assert {"mean", "std", "p50", "p90", "p95", "p99", "p99.9", "max"} <= set(s[key]), key
    assert s["ttft_s"]["p95"] == pytest.approx(np.quantile(ttft, 0.95))
    assert s["ttft_s"]["p99.9"] == pytest.approx(np.quantile(ttft, 0.999))
    assert s["ttft_s"]["std"] == pytest.approx(ttft.std(ddof=1))
    out = bs("report", run)
    assert " p99.9 " in out.stdout and "goodput req/s" not in out.stdout and "req/s)" in out.stdout


def test_slices_add_up_to_the_run(run):
    s = json.loads((run / "summary.json").read_text())
    t = pq.read_table(run / "slices.parquet").to_pylist()
    assert s["slices"] == {"width_s": 2.0, "file": "slices.parquet", "count": len(t)}
    assert [r["start_s"] for r in t] == [2.0 * k for k in range(len(t))]
    assert sum(r["sent"] for r in t) == s["sent"]
    assert sum(r["finished"] for r in t) == s["finished"]
    assert sum(r["failed"] for r in t) == s["failed"]
    assert max(r["kv_cache_usage_peak"] or 0 for r in t) == pytest.approx(s["kv_cache_usage_peak"])
    assert "slices of 2 s" in bs("report", run).stdout


def test_request_rate_keeps_the_shape(tmp_path):
    base = json.loads(bs("simulate", KV, "--out", tmp_path / "a", "--json").stdout.strip().splitlines()[-1])
    r = bs("simulate", KV, "--out", tmp_path / "b", "--request-rate", "20", "--json")
    assert r.returncode == 0, r.stderr
    fast = json.loads(r.stdout.strip().splitlines()[-1])
    info = json.loads((tmp_path / "b" / "run.json").read_text())
    from burststudio.presets import load_preset
    from burststudio.workload.stats import rate_rps

    own = rate_rps(load_preset(KV).build_workload().arrival_s)
    assert info["replay"]["rate_scale"] == pytest.approx(20 / own)
    assert fast["sent"] == pytest.approx(base["sent"] * info["replay"]["rate_scale"], rel=0.1)
    assert "--set replay.rate_scale=" in (tmp_path / "b" / "preset.toml").read_text()


def test_target_and_endpoint_flags_are_recorded(tmp_path):
    trace = tmp_path / "w.parquet"
    workload(5, gap_s=0.01, output=3).to_parquet(trace)
    with TestServer(ServerConfig(model="served-name")) as srv:
        p = write_preset(tmp_path / "p.toml", trace, srv.url)
        r = bs("replay", p, "--model", "served-name", "--endpoint", "chat", "--api-key-env", "BS_FLAG_KEY",
               "--out", tmp_path / "r", env={"BS_FLAG_KEY": "sekrit-value"})
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "r" / "preset.toml").read_text()
    assert 'model = "served-name"' in text and 'endpoint = "chat"' in text and "BS_FLAG_KEY" in text
    assert not any("sekrit-value" in f.read_text(errors="replace") for f in (tmp_path / "r").iterdir() if f.is_file())
    assert json.loads((tmp_path / "r" / "run.json").read_text())["endpoint"] == "chat"


@pytest.mark.parametrize(("flags", "said"), [
    (["--goodput", "ttfb:200"], "--goodput ttfb:200"),
    (["--goodput", "ttft:fast"], "not a number"),
    (["--goodput", "ttft:-5"], "replay.slo_ttft_s"),
    (["--percentiles", "50,150"], "replay.percentiles"),
    (["--percentiles", "x"], "--percentiles"),
    (["--slice", "soon"], "--slice soon"),
    (["--request-rate", "0"], "--request-rate"),
])
def test_bad_values_are_one_line(flags, said, tmp_path):
    r = bs("simulate", KV, "--out", tmp_path / "x", *flags)
    assert r.returncode == 2 and said in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_headers_and_extra_body_reach_the_server(tmp_path):
    trace = tmp_path / "w.parquet"
    workload(4, gap_s=0.01, output=3).to_parquet(trace)
    with TestServer(ServerConfig(record_bodies=True)) as srv:
        p = write_preset(tmp_path / "p.toml", trace, srv.url)
        r = bs("replay", p, "--header", "X-Tenant:team-a", "--extra-body", '{"temperature": 0.5, "top_p": 0.9}',
               "--out", tmp_path / "r")
        assert r.returncode == 0, r.stderr
        bodies = [b for b in srv.state.bodies if "prompt" in b]
    assert len(bodies) == 4
    assert all(b["temperature"] == 0.5 and b["top_p"] == 0.9 and b["max_tokens"] == 3 for b in bodies)
    text = (tmp_path / "r" / "preset.toml").read_text()
    assert "X-Tenant" in text and "temperature = 0.5" in text
    # Refused with the preset, before any server is reached.
    bad = bs("replay", p, "--extra-body", '{"max_tokens": 9}', "--out", tmp_path / "b")
    assert bad.returncode == 2 and "replay.extra_body.max_tokens" in bad.stderr and "Traceback" not in bad.stderr


def test_limits_on_any_figure(tmp_path):
    r = bs("simulate", KV, "--out", tmp_path / "l", "--set", "replay.limits.e2e_p99_max_s=0.5",
           "--set", "replay.limits.goodput_rate_min=100")
    assert r.returncode == 3, r.stderr
    s = json.loads((tmp_path / "l" / "summary.json").read_text())
    assert any(x.startswith("E2E p99") for x in s["limits_broken"])
    assert any(x.startswith("goodput rate") for x in s["limits_broken"])
