"""The warm-up: requests of the workload's shape sent before the clock starts, against the test server over real
HTTP, journaled apart and left out of every figure; its events; the kinds' defaults; the command's flag."""

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import ROOT, quick_settings, replay, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay import recorder  # noqa: E402
from burststudio.replay.recorder import read_jsonl  # noqa: E402
from burststudio.targets import registry  # noqa: E402
from burststudio.vocab import EV_RUN_STARTED, EV_WARMUP, WARMUP_DONE, WARMUP_RUNNING  # noqa: E402


def test_warmup_requests_are_sent_first_and_counted_in_no_figure(tmp_path):
    with TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.001, record_bodies=True)) as srv:
        w = workload(6, gap_s=0.02, prompt=[40, 50, 60, 70, 80, 90], output=[3, 4, 5, 6, 7, 8])
        result = replay(w, srv.url, tmp_path / "run", quick_settings(warmup=4))
        bodies = list(srv.state.bodies)
    s = result.summary
    assert result.exit_code == 0
    assert len(bodies) == 10  # 4 warm-up requests, then the 6 of the run
    warm, run = bodies[:4], bodies[4:]
    # Shaped like the workload's first requests (cycling past its end), with prompts of their own.
    assert sorted(len(b["prompt"]) for b in warm) == [40, 50, 60, 70]
    assert sorted(b["max_tokens"] for b in warm) == [3, 4, 5, 6]
    run_heads = {tuple(b["prompt"][:2]) for b in run}
    assert not any(tuple(b["prompt"][:2]) in run_heads for b in warm)
    # Excluded from every figure, reported apart.
    assert s["sent"] == 6 and s["finished"] == 6 and s["ttft_s"]["count"] == 6
    assert s["plan"]["planned"] == 6
    assert s["warmup"]["requests"] == 4 and s["warmup"]["finished"] == 4 and s["warmup"]["ttft_s"]["count"] == 4
    assert s["warmup"]["duration_s"] > 0
    ends, sent = recorder.read_journal(result.run_dir)
    assert len(ends) == 6 and sent == set(range(6))
    assert [r["kind"] for r in recorder.read_warmup(result.run_dir)] == ["warmup"] * 4
    assert sorted(r["prompt_tokens"] for r in recorder.read_warmup(result.run_dir)) == [40, 50, 60, 70]
    # The warm-up is a stage of its own in the live events, before the run starts.
    events = list(read_jsonl(result.run_dir / "events.jsonl"))
    kinds = [e["event"] for e in events]
    assert max(i for i, k in enumerate(kinds) if k == EV_WARMUP) < kinds.index(EV_RUN_STARTED)
    warm_events = [e for e in events if e["event"] == EV_WARMUP]
    assert warm_events[0]["state"] == WARMUP_RUNNING and warm_events[0]["ended"] == 0
    assert warm_events[-1]["state"] == WARMUP_DONE and warm_events[-1]["ended"] == 4
    assert all(e["t"] is None for e in warm_events)
    assert json.loads((result.run_dir / "run.json").read_text())["warmup"] == {"requests": 4}


def test_failed_warmup_requests_do_not_fail_the_run(tmp_path):
    # A 60-token prompt is refused with 503: the warm-up's copy of it fails, the run's too, and only the run counts.
    with TestServer(ServerConfig(faults_by_prompt_len={60: "http_503"})) as srv:
        w = workload(3, prompt=[40, 60, 80])
        result = replay(w, srv.url, tmp_path / "run", quick_settings(warmup=3))
    s = result.summary
    assert s["warmup"]["failed"] == 1 and s["warmup"]["finished"] == 2
    assert s["failed"] == 1 and s["finished"] == 2 and s["failures_by_class"] == {"http_503": 1}


def test_the_kinds_defaults(tmp_path):
    assert registry.warmup("url", -1) == 0
    assert registry.warmup("sim", -1) == 0
    assert registry.warmup("vllm", -1) == 8  # a managed server pays one-off costs on its first requests
    assert registry.warmup("vllm", 0) == 0 and registry.warmup("url", 3) == 3
    with TestServer(ServerConfig(record_bodies=True)) as srv:
        result = replay(workload(3), srv.url, tmp_path / "run", quick_settings())  # warmup = -1: url's 0
        assert len(srv.state.bodies) == 3
    assert result.summary["warmup"]["requests"] == 0 and result.summary["warmup"]["ended"] == 0
    assert recorder.read_warmup(result.run_dir) == []


def test_the_warmup_flag(tmp_path):
    trace = tmp_path / "w.parquet"
    workload(5, gap_s=0.01).to_parquet(trace)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "burststudio", *map(str, args)], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)

    with TestServer(ServerConfig()) as srv:
        p = cli("replay", trace, "--target", srv.url, "--out", tmp_path / "run", "--warmup", 2, "--json")
        # Checked as the key [replay] warmup is: -1 is its "the target kind's default", -2 is refused.
        bad = cli("replay", trace, "--target", srv.url, "--out", tmp_path / "bad", "--warmup", -2)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["warmup"]["requests"] == 2 and summary["warmup"]["finished"] == 2 and summary["sent"] == 5
    assert "warmup = 2" in (tmp_path / "run" / "preset.toml").read_text()
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--warmup" in bad.stderr


def test_warmup_keeps_the_concurrency_cap(tmp_path):
    with TestServer(ServerConfig(ttft_s=0.02, token_delay_s=0.002)) as srv:
        result = replay(workload(2, output=3), srv.url, tmp_path / "run",
                        quick_settings(warmup=3, max_concurrency=1))
    warm = sorted(recorder.read_warmup(result.run_dir), key=lambda r: r["sent_s"])
    # One at a time: each warm-up request leaves after the one before it ended.
    assert all(b["sent_s"] >= a["end_s"] - 1e-3 for a, b in zip(warm, warm[1:]))
