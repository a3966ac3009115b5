"""The engine against the test server: every outcome class, the accounting identity, lateness, TTFT accuracy,
server samples, prefix caching, closed loop, target death."""

import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, replay, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay import recorder  # noqa: E402

# prompt length -> fault -> the outcome the client must report
CASES = {
    21: ("http_400", "http_4xx"), 22: ("http_404", "http_4xx"), 23: ("http_429", "http_429"),
    24: ("http_503", "http_503"), 25: ("http_500", "http_5xx"), 26: ("stream_error", "stream_error"),
    27: ("truncated", "truncated"), 28: ("no_done", "truncated"), 29: ("cut", "connection"),
    30: ("refuse", "connection"), 31: ("malformed", "malformed"), 32: ("not_stream", "malformed"),
    33: ("hang_first", "timeout"), 34: ("hang_mid", "timeout"),
}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory):
    prompts = list(CASES) + [20] * 6
    w = workload(len(prompts), gap_s=0.005, prompt=prompts, output=6)
    cfg = ServerConfig(ttft_s=0.01, token_delay_s=0.002, faults_by_prompt_len={k: v[0] for k, v in CASES.items()})
    with TestServer(cfg) as srv:
        result = replay(w, srv.url, tmp_path_factory.mktemp("runs") / "faults")
    records = {r["prompt_tokens"]: r for r in recorder.read_journal(result.run_dir)[0]}
    return result, records


def test_each_fault_is_classified(fault_run):
    _, records = fault_run
    for prompt, (fault, outcome) in CASES.items():
        assert records[prompt]["outcome"] == outcome, (fault, records[prompt])
    assert records[20]["outcome"] == "ok"
    assert records[23]["retry_after"] == "1"
    assert "queue is full" in records[24]["error"] and records[24]["status"] == 503
    assert "queue is full" in records[26]["error"] and records[26]["status"] == 200  # the in-stream kind
    assert records[33]["timeout"] == "first_token" and records[34]["timeout"] == "idle"


def test_failed_requests_keep_what_they_measured(fault_run):
    _, records = fault_run
    mid = records[34]  # stalled after two tokens
    assert mid["first_s"] is not None and len(mid["chunks_us"]) == 2
    assert mid["end_s"] - mid["sent_s"] >= 0.3  # waited for the idle limit
    cut = records[29]
    assert len(cut["chunks_us"]) == 2 and cut["first_s"] is not None
    assert records[27]["chunk_tokens"] == 2 and records[27]["usage_completion_tokens"] == 2


def test_accounting_identity_and_summary_keys(fault_run):
    result, _ = fault_run
    s = result.summary
    assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"] == len(CASES) + 6
    assert s["finished"] == 6 and s["failed"] == len(CASES) and s["cancelled"] == 0
    assert sum(s["failures_by_class"].values()) == s["failed"]
    for key in ("ttft_s", "itl_s", "tpot_s", "e2e_s", "dispatch_lateness_s"):
        assert set(s[key]) >= {"mean", "p50", "p90", "p99", "max", "count", "failed_excluded"}
    assert s["ttft_s"]["count"] == 6 and s["ttft_s"]["failed_excluded"] == len(CASES)
    assert s["goodput"]["share"] == pytest.approx(6 / (6 + len(CASES)))  # failures are misses
    assert s["exit_code"] == 0 and s["run_dir"] == str(result.run_dir)
    for name in ("summary.json", "requests.parquet", "metrics.parquet", "run.json",
                 "journal.jsonl", "metrics.jsonl", "events.jsonl"):
        assert (result.run_dir / name).exists(), name
    assert json.loads((result.run_dir / "summary.json").read_text())["sent"] == s["sent"]


@pytest.mark.timing
def test_ttft_and_lateness_are_measured_accurately(tmp_path):
    w = workload(30, gap_s=0.02, output=8)
    with TestServer(ServerConfig(ttft_s=0.05, token_delay_s=0.004)) as srv:
        result = replay(w, srv.url, tmp_path / "r")
    records = sorted(recorder.read_journal(result.run_dir)[0], key=lambda r: r["i"])
    ttft = np.array([r["first_s"] - r["sent_s"] for r in records])
    # Never early; late only by the server's own timer overshoot and the loopback (a shared, busy machine).
    assert ttft.min() >= 0.05
    assert np.median(ttft) - 0.05 < 0.005
    late = np.array([r["sent_s"] - r["scheduled_s"] for r in records])
    assert late.min() >= 0  # no request leaves before its time
    assert np.median(late) < 0.005
    assert np.allclose([r["scheduled_s"] for r in records], np.arange(30) * 0.02)
    itl = result.summary["itl_s"]
    assert itl["count"] == 30 * 7 and abs(itl["p50"] - 0.004) < 0.002
    tpot = result.summary["tpot_s"]["p50"]
    assert abs(tpot - 0.004) < 0.002


def test_time_scale_rate_scale_and_duration(tmp_path):
    w = workload(40, gap_s=0.01)
    with TestServer(ServerConfig()) as srv:
        result = replay(w, srv.url, tmp_path / "r", quick_settings(time_scale=2.0, duration_s=0.3))
    records = sorted(recorder.read_journal(result.run_dir)[0], key=lambda r: r["i"])
    sched = [r["scheduled_s"] for r in records]
    assert sched[1] == pytest.approx(0.02)
    assert max(sched) < 0.3 and len(records) == 15  # 0, 0.02, ..., 0.28: the window end is exclusive


def test_server_samples_and_prefix_cache_hits(tmp_path):
    blocks = [[1, 2], [1, 3], [1, 2], [1, 2]]
    w = workload(4, gap_s=0.05, prompt=1100, output=2, prefix_blocks=blocks)
    with TestServer(ServerConfig(ttft_s=0.01)) as srv:
        result = replay(w, srv.url, tmp_path / "r")
    s = result.summary
    assert s["metrics_samples"] >= 2
    assert s["kv_cache_usage_peak"] is not None
    # Rows 3 and 4 repeat blocks 1 and 2 (1024 tokens), row 2 block 1: 512 + 2 * 1024 of 4 * 1100 tokens hit.
    assert s["prefix_cache_hit_rate"] == pytest.approx((512 + 2 * 1024) / (4 * 1100), rel=0.02)
    assert s["cache_config"]["num_gpu_blocks"] == "4096"


def test_server_without_metrics_is_said_once(tmp_path):
    notices = []
    with TestServer(ServerConfig(metrics=False)) as srv:
        result = replay(workload(5), srv.url, tmp_path / "r", on_notice=notices.append)
    assert result.summary["finished"] == 5 and result.summary["metrics_samples"] == 0
    assert len([n for n in notices if "/metrics" in n]) == 1


def test_max_concurrency_caps_requests_in_flight(tmp_path):
    w = workload(12, gap_s=0.0, output=5)
    with TestServer(ServerConfig(ttft_s=0.02, token_delay_s=0.01)) as srv:
        result = replay(w, srv.url, tmp_path / "r", quick_settings(max_concurrency=3))
    records = recorder.read_journal(result.run_dir)[0]
    events = sorted([(r["sent_s"], 1) for r in records] + [(r["end_s"], -1) for r in records])
    peak = max(np.cumsum([d for _, d in events]))
    assert peak <= 3 and result.summary["finished"] == 12
    assert result.summary["dispatch_lateness_s"]["max"] > 0.05  # the wait for a slot shows as lateness


def test_closed_loop_users_send_back_to_back(tmp_path):
    w = workload(9, gap_s=10.0, output=3)  # the schedule is ignored in closed loop
    with TestServer(ServerConfig(ttft_s=0.02, token_delay_s=0.005)) as srv:
        result = replay(w, srv.url, tmp_path / "r", quick_settings(mode="closed", users=3))
    s = result.summary
    assert s["finished"] == 9
    assert s["throughput"]["duration_s"] < 1.0  # not 80 s of schedule
    records = recorder.read_journal(result.run_dir)[0]
    events = sorted([(r["sent_s"], 1) for r in records] + [(r["end_s"], -1) for r in records])
    assert max(np.cumsum([d for _, d in events])) <= 3


def test_target_that_dies_ends_the_run_with_exit_4(tmp_path):
    w = workload(400, gap_s=0.02, output=2)
    srv = TestServer(ServerConfig()).start()
    threading.Timer(0.5, srv.stop).start()
    result = replay(w, srv.url, tmp_path / "r")
    s = result.summary
    assert result.exit_code == 4 and s["reason"] == "target_died"
    assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"]
    assert s["failures_by_class"].get("connection", 0) > 0
    assert s["sent"] < 400
