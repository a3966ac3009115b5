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
