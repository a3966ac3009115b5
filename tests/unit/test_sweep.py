"""`burststudio sweep`: one preset at several rate scales against the test server, the knee, the table."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import ROOT, workload, write_preset  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "burststudio", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    trace = d / "w.parquet"
    workload(20, gap_s=0.05, output=4).to_parquet(trace)  # 20 requests/s at scale 1
    # One request at a time, 50 ms each: a 10 requests/s stream is served at once, 80 requests/s queue up for
    # seconds. The 200 ms objective leaves room for a busy machine and none for the queue.
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.01, max_running=1)) as srv:
        yield write_preset(d / "p.toml", trace, srv.url, "slo_ttft_s = 0.2\n"), srv


def test_sweep_finds_the_knee_and_keeps_every_run(preset, tmp_path):
    path, srv = preset
    out = tmp_path / "sw"
    p = cli("sweep", path, "--rate-scale", "4,0.5", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["scales"] == [0.5, 4.0]
    low, high = res["runs"]
    assert low["goodput"] >= 0.9 and high["goodput"] < 0.9
    assert res["knee_scale"] == 4.0 and res["goodput_min"] == 0.9 and res["goodput_min_from"] == "default"
    assert high["sent"] > 4 * low["sent"]  # the scale replicated arrivals
    for r in res["runs"]:
        s = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
        assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"] == r["sent"]
        assert Path(r["run_dir"]).parent == out
    assert json.loads((out / "sweep.json").read_text())["knee_scale"] == 4.0


def test_sweep_table_and_bad_scales(preset, tmp_path):
    path, _ = preset
    p = cli("sweep", path, "--rate-scale", "0.5", "--out", tmp_path / "t")
    assert p.returncode == 0, p.stderr
    assert "lateness p99" in p.stdout and "no knee" in p.stdout
    bad = cli("sweep", path, "--rate-scale", "1,x", "--out", tmp_path / "b")
    assert bad.returncode == 2 and "--rate-scale" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_table_marks_a_client_limited_scale(capsys):
    from burststudio.commands.sweep import print_table

    note = "client-limited: dispatch lateness p99 over 20 ms (worst 150 ms) at 3-5 s; ..."
    row = {"scale": 0.5, "rate_rps": 10.0, "sent": 50, "goodput": 1.0, "ttft_p50_s": 0.05, "ttft_p99_s": 0.14,
           "failed": 0, "kv_cache_usage_peak": None, "lateness_p99_s": 0.15, "client_limited": True,
           "client_note": note}
    calm = {**row, "scale": 1.0, "client_limited": False, "client_note": None}
    print_table({"sweep_dir": "sw", "runs": [row, calm], "knee_scale": None, "goodput_min": 0.9,
                 "goodput_min_from": "default"})
    out = " ".join(capsys.readouterr().out.split())
    assert "limited" in out and "scale 0.5: client-limited" in out and "scale 1:" not in out


def test_sweep_over_any_key_makes_a_grid(preset, tmp_path):
    path, _ = preset
    out = tmp_path / "grid"
    # Two swept keys (2 x 2 runs) and one fixed change every run gets.
    p = cli("sweep", path, "--rate-scale", "0.5,1", "--set", "replay.slo_ttft_s=0.2,5",
            "--set", "replay.burst_window_s=2", "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["dimensions"] == {"rate-scale": [0.5, 1.0], "replay.slo_ttft_s": [0.2, 5]}
    points = [r["point"] for r in res["runs"]]
    assert points == [{"rate-scale": s, "replay.slo_ttft_s": v} for s in (0.5, 1.0) for v in (0.2, 5)]
    for r in res["runs"]:
        info = json.loads((Path(r["run_dir"]) / "run.json").read_text())
        assert info["settings"]["slo_ttft_s"] == r["point"]["replay.slo_ttft_s"]
        assert info["settings"]["burst_window_s"] == 2
        assert "--set replay.slo_ttft_s=" in (Path(r["run_dir"]) / "preset.toml").read_text()
    assert {Path(r["run_dir"]).name for r in res["runs"]} == {
        "scale-0.5_slo_ttft_s-0.2", "scale-0.5_slo_ttft_s-5", "scale-1_slo_ttft_s-0.2", "scale-1_slo_ttft_s-5"}
    assert "knee" not in res  # a grid has no single knee


def test_a_sweep_over_true_and_false(preset, tmp_path):
    path, _ = preset
    p = cli("sweep", path, "--set", "target.sim.enable_prefix_caching=true,false", "--set", "replay.duration_s=0.2",
            "--out", tmp_path / "b", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert [r["point"] for r in res["runs"]] == [{"target.sim.enable_prefix_caching": v} for v in (True, False)]


def test_sweep_set_values_are_checked_like_preset_lines(preset, tmp_path):
    path, _ = preset
    bad = cli("sweep", path, "--set", "replay.slo_ttft_s=0.2,-1", "--out", tmp_path / "b")
    assert bad.returncode == 2 and "replay.slo_ttft_s" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "b").exists()  # refused before the first point ran
    steps = cli("sweep", path, "--search", "rate-scale=0.5:2", "--search-steps", "-1", "--out", tmp_path / "s")
    assert steps.returncode == 2 and "--search-steps: must be >= 0, got -1" in steps.stderr
    none = cli("sweep", path, "--out", tmp_path / "n")
    assert none.returncode == 2 and "--search" in none.stderr


def test_search_brackets_the_highest_rate_that_holds(preset, tmp_path):
    # The server holds about 20 requests/s one at a time; scale 1 is 20/s: the objective (TTFT <= 200 ms for 90%)
    # holds at 0.25 and breaks at 8, and the bracket closes in between.
    path, _ = preset
    out = tmp_path / "search"
    p = cli("sweep", path, "--search", "rate-scale=0.25:8", "--search-steps", "3", "--out", out, "--json",
            timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    s = res["search"]
    assert s["highest_met"] is not None and s["lowest_missed"] is not None
    assert 0.25 <= s["highest_met"] < s["lowest_missed"] <= 8
    assert s["steps"] == 3 and len(res["runs"]) == 5
    for r in res["runs"]:
        v = r["point"]["rate-scale"]
        met = r["goodput"] is not None and r["goodput"] >= 0.9
        assert met == (v <= s["highest_met"]), (v, r["goodput"], s)
    table = cli("report", out)
    assert table.returncode == 0 and "the highest scale that meets" in table.stdout


def test_a_presets_sweep_table_is_what_sweep_varies(preset, tmp_path):
    path, _ = preset
    own = tmp_path / "own.toml"
    own.write_text(Path(path).read_text() + '\n[sweep]\nset = ["replay.slo_ttft_s=0.2,5"]\n')
    p = cli("sweep", own, "--out", tmp_path / "own", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert [r["point"] for r in res["runs"]] == [{"replay.slo_ttft_s": 0.2}, {"replay.slo_ttft_s": 5}]
    # The command line's own dimensions win over the table.
    p = cli("sweep", own, "--rate-scale", "0.5", "--out", tmp_path / "cli", "--json")
    assert [r["point"] for r in json.loads(p.stdout.strip().splitlines()[-1])["runs"]] == [{"rate-scale": 0.5}]
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(path).read_text() + '\n[sweep]\nset = "cv=1,2"\n')
    r = cli("sweep", bad, "--out", tmp_path / "bad")
    assert r.returncode == 2 and "sweep.set" in r.stderr and "bad.toml:" in r.stderr and "Traceback" not in r.stderr


def test_the_burstiness_sweep_preset_sweeps_the_cv():
    from burststudio.presets import load_preset

    p = load_preset(ROOT / "presets" / "burstiness-sweep.toml")
    assert p.sweep_sets == ["workload.arrivals.cv=1,2,4,8"]
    assert p.workload_spec["arrivals"]["rate"] == 4.0
    assert "[sweep]" in p.resolved_toml()


def test_a_managed_server_is_started_once_per_engine_setting(tmp_path):
    # Two engine settings x two rate scales: the simulated server starts twice, each serving both scales, and
    # every run's figures still come from its own requests.
    p = cli("sweep", ROOT / "presets" / "vllm-cpu-kv-pressure.toml", "--set", "target.kind=sim",
            "--set", "target.sim.num_blocks=16,32", "--rate-scale", "0.5,1", "--duration", "3",
            "--out", tmp_path / "eng", "--json", timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("starting the simulator") == 2, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    points = [r["point"] for r in res["runs"]]
    assert points == [{"rate-scale": s, "target.sim.num_blocks": b} for b in (16, 32) for s in (0.5, 1.0)]
    for r in res["runs"]:
        s = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
        assert s["target"]["kv_blocks"] == r["point"]["target.sim.num_blocks"]
        assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"] == r["sent"] > 0
