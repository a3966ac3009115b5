"""`burststudio replay`, `report` and `compare` as a user runs them: exit codes, JSON output, events, a killed run
recovered by `report`, and a replay package that never imports textual."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import ROOT, workload, write_preset  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "burststudio", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def server():
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.002)) as srv:
        yield srv


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "small.parquet"
    workload(20, gap_s=0.01, output=4).to_parquet(path)
    return path


def test_replay_json_ends_stdout_with_the_summary(server, trace, tmp_path):
    out = tmp_path / "run"
    p = cli("replay", trace, "--target", server.url, "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 20 == summary["finished"] and summary["run_dir"] == str(out)
    toml = (out / "preset.toml").read_text()
    assert server.url in toml and 'kind = "url"' in toml
    assert json.loads((out / "summary.json").read_text())["finished"] == 20


def test_events_are_json_lines_from_start_to_finish(server, trace, tmp_path):
    p = cli("replay", trace, "--target", server.url, "--out", tmp_path / "run", "--events")
    assert p.returncode == 0, p.stderr
    events = [json.loads(line) for line in p.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    # The target's state (starting, healthy) comes before the run starts, so the studio can show it at once.
    start = kinds.index("run_started")
    assert set(kinds[:start]) <= {"target"} and "target" in kinds[:start]
    assert kinds[-1] == "run_finished" and "progress" in kinds
    assert events[-1]["summary"]["finished"] == 20
    assert events[-1]["exit_code"] == 0


def test_unreachable_server_exits_2_with_one_line(trace, tmp_path):
    p = cli("replay", trace, "--target", "http://127.0.0.1:9", "--out", tmp_path / "run")
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and "not reachable" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("burststudio replay: error:")


def test_bad_values_exit_2(server, trace, tmp_path):
    p = cli("replay", trace, "--target", server.url, "--time-scale", "0", "--out", tmp_path / "r")
    assert p.returncode == 2 and "--time-scale" in p.stderr
    p = cli("replay", tmp_path / "missing.toml")
    assert p.returncode == 2 and "missing.toml" in p.stderr


def test_a_set_changes_the_run_and_is_stored(server, trace, tmp_path):
    out = tmp_path / "run"
    p = cli("replay", trace, "--target", server.url, "--out", out, "--json", "--set", "workload.head=5",
            "--set", "replay.timeouts.total_s=30")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["sent"] == 5
    stored = (out / "preset.toml").read_text()
    assert "head = 5" in stored and "total_s = 30.0" in stored and "--set workload.head=5" in stored


@pytest.mark.parametrize("item", ["workload.head=abc", "replay.nonsense=1"])
def test_a_bad_set_exits_2_with_one_line(server, trace, tmp_path, item):
    p = cli("replay", trace, "--target", server.url, "--out", tmp_path / "run", "--set", item)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]
    assert p.stderr.startswith(f"burststudio replay: error: --set {item}: ")
    assert not (tmp_path / "run").exists()


def test_a_broken_limit_exits_3_and_names_it(server, trace, tmp_path):
    preset = write_preset(tmp_path / "p.toml", trace, server.url,
                          "slo_ttft_s = 0.001\n\n[replay.limits]\ngoodput_min = 0.9\n")
    p = cli("replay", preset, "--out", tmp_path / "run", "--json")
    assert p.returncode == 3, p.stderr
    assert "goodput_min" in p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["limits_broken"]


def test_killed_run_is_recovered_by_report(server, tmp_path):
    trace = tmp_path / "long.parquet"
    workload(400, gap_s=0.01, output=20).to_parquet(trace)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(trace), "--target", server.url,
                             "--out", str(out), "--json"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"kind":"end"') >= 30:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert not (out / "summary.json").exists()
    p = cli("report", out, "--json")
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["complete"] is False
    assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"]
    assert 30 <= s["finished"] < 400 and s["ttft_s"]["count"] == s["finished"]
    assert (out / "requests.parquet").exists() and (out / "summary.json").exists()
    text = cli("report", out)
    assert text.returncode == 0 and "did not finish" in text.stdout


def test_compare_puts_runs_side_by_side(server, trace, tmp_path):
    for k, scale in enumerate(("1", "0.5")):
        assert cli("replay", trace, "--target", server.url, "--time-scale", scale, "--out",
                   tmp_path / f"r{k}").returncode == 0
    p = cli("compare", tmp_path / "r0", tmp_path / "r1", "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["figure"]: r for r in json.loads(p.stdout)["rows"]}
    assert rows["sent"]["values"] == [20, 20] and rows["sent"]["diff"] == [0]
    assert rows["TTFT p50 ms"]["values"][0] > 0
    assert cli("compare", tmp_path / "r0", tmp_path / "nope").returncode == 2


def test_report_of_a_directory_that_is_not_a_run_exits_2(tmp_path):
    p = cli("report", tmp_path)
    assert p.returncode == 2 and "run.json" in p.stderr


def test_replay_package_does_not_import_textual():
    mods = ["burststudio.replay." + m for m in ("plan", "client", "dispatch", "scrape", "recorder", "summary",
                                                 "events", "runner")]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in mods)
            + "import burststudio.commands.replay, burststudio.commands.report, burststudio.targets.url\n"
            + "print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert not any(m.split(".")[0] == "textual" for m in out.split())
