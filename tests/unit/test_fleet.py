"""Fleets of running servers: client routing over two test servers (real HTTP), the per-replica records, samples and
summary table, the imbalance figure, a replica that dies mid-run, and the one-line errors for bad fleets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.errors import UserError  # noqa: E402
from burststudio.replay import recorder  # noqa: E402
from burststudio.replay.routing import make_policy, route_keys  # noqa: E402
from burststudio.replay.runner import run_replay  # noqa: E402
from burststudio.settings import TargetSettings  # noqa: E402
from burststudio.targets import make_target  # noqa: E402
from burststudio.targets.base import TargetError  # noqa: E402


def fleet_settings(urls, route="round_robin") -> TargetSettings:
    ts = TargetSettings(urls=list(urls), route=route)
    return ts


def run(w, ts, run_dir, **replay):
    return run_replay(w, ts, quick_settings(**replay), name="fleet", run_dir=run_dir)


# --- the policies ---------------------------------------------------------------------------------------------------
def test_round_robin_alternates_and_skips_a_replica_that_is_down():
    p = make_policy("round_robin", 3)
    assert [p.pick(i) for i in range(6)] == [0, 1, 2, 0, 1, 2]
    p.mark_down(1)
    assert {p.pick(i) for i in range(6)} == {0, 2}


def test_least_outstanding_sends_to_the_idler_replica():
    p = make_policy("least_outstanding", 2)
    a, b = p.pick(0), p.pick(1)
    assert {a, b} == {0, 1}
    p.done(b)  # b is now idle, a still busy
    assert p.pick(2) == b
    p.done(a)
    assert p.pick(3) == a  # now a is the idle one


def test_affinity_keeps_a_key_on_one_replica_and_moves_it_when_its_replica_is_down():
    for name in ("session", "prefix", "consistent_hash"):
        p = make_policy(name, 4)
        first = {key: p.pick(0, key) for key in ("a", "b", "c", "d", "e")}
        assert all(p.pick(1, key) == k for key, k in first.items()), name
        p.mark_down(first["a"])
        assert p.pick(2, "a") != first["a"], name
        assert len(set(first.values())) > 1, name  # keys spread over the fleet


def test_consistent_hash_moves_only_the_dead_replicas_keys():
    p = make_policy("consistent_hash", 4)
    keys = [f"k{i}" for i in range(200)]
    before = [p.pick(0, k) for k in keys]
    p.mark_down(2)
    after = [p.pick(0, k) for k in keys]
    assert all(x == y for x, y in zip(before, after) if x != 2)
    assert 2 not in after


def test_unknown_policy_is_one_line():
    with pytest.raises(UserError, match="unknown routing policy 'nope'"):
        make_policy("nope", 2)


# --- bad fleets -----------------------------------------------------------------------------------------------------
def test_a_url_named_twice_is_one_line():
    with pytest.raises(TargetError, match=r"target.urls names http://127.0.0.1:9 twice"):
        make_target(fleet_settings(["http://127.0.0.1:9", "http://127.0.0.1:9/v1"]))


def test_fleet_urls_are_read_as_every_target_url_and_share_one_set_of_headers():
    with pytest.raises(TargetError, match=r"^target.urls\[1\]: .*must start with http:// or https://"):
        make_target(fleet_settings(["http://127.0.0.1:9", "ftp://127.0.0.1:8"]))
    same = make_target(fleet_settings(["http://u:pw@127.0.0.1:9", "http://u:pw@127.0.0.1:8"]))
    assert same.auth_headers()["Authorization"].startswith("Basic ")
    assert [m.url for m in same.members] == ["http://127.0.0.1:9", "http://127.0.0.1:8"]  # no password shown
    with pytest.raises(TargetError, match="different user names or passwords"):
        make_target(fleet_settings(["http://u:pw@127.0.0.1:9", "http://127.0.0.1:8"])).auth_headers()
    with pytest.raises(TargetError, match=r"^target.metrics_urls\[0\]: .*never sent"):
        make_target(TargetSettings(url="http://127.0.0.1:9", metrics_urls=["http://u:pw@127.0.0.1:8/metrics"]))


def test_the_warm_up_reaches_every_replica(tmp_path):
    with TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.002)) as a, \
            TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.002)) as b:
        result = run(workload(4, gap_s=0.01, output=4), fleet_settings([a.url, b.url], route="session"),
                     tmp_path / "warm", warmup=6)
        assert result.summary["finished"] == 4
        warm = recorder.read_warmup(result.run_dir)
        assert sorted(r["replica"] for r in warm) == ["0"] * 3 + ["1"] * 3
        assert a.state.success >= 3 and b.state.success >= 3


def test_an_unreachable_replica_is_named(tmp_path):
    with TestServer(ServerConfig()) as srv:
        target = make_target(fleet_settings([srv.url, "http://127.0.0.1:9"]))
        with pytest.raises(TargetError, match=r"replica 1: http://127.0.0.1:9 is not reachable"):
            target.wait_healthy(2.0)


def test_the_cli_says_a_bad_fleet_in_one_line_with_exit_2(tmp_path):
    import subprocess

    trace = tmp_path / "t.jsonl"
    trace.write_text('{"arrival_s": 0, "prompt_tokens": 10, "output_tokens": 2}\n')
    preset = tmp_path / "p.toml"
    preset.write_text(f'[workload]\ntrace = "{trace}"\n[target]\nkind = "url"\n'
                      'urls = ["http://127.0.0.1:9", "http://127.0.0.1:9/"]\n')
    p = subprocess.run([sys.executable, "-m", "burststudio", "replay", str(preset), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "twice" in lines[0] and "Traceback" not in p.stderr


# --- a replay over two servers --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_servers():
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.002)) as a, \
            TestServer(ServerConfig(ttft_s=0.03, token_delay_s=0.002)) as b:
        yield a, b


def test_round_robin_fleet_records_each_replica(two_servers, tmp_path):
    a, b = two_servers
    result = run(workload(20, gap_s=0.01, output=4), fleet_settings([a.url, b.url]), tmp_path / "rr")
    s = result.summary
    assert s["sent"] == s["finished"] == 20
    records, _ = recorder.read_journal(result.run_dir)
    assert sorted(r["replica"] for r in records) == ["0"] * 10 + ["1"] * 10
    table = pq.read_table(result.run_dir / "requests.parquet")
    assert "replica" in table.column_names
    metrics = pq.read_table(result.run_dir / "metrics.parquet")
    assert set(metrics.column("replica").to_pylist()) == {"0", "1"}
    rows = {r["replica"]: r for r in s["replicas"]}
    assert rows["0"]["requests"] == rows["1"]["requests"] == 10
    # Replica 1 answers 20 ms later: its own table row shows it.
    assert rows["1"]["ttft_s"]["p50"] > rows["0"]["ttft_s"]["p50"] + 0.01
    for row in s["replicas"]:
        assert {"ttft_s", "e2e_s", "kv_cache_usage_peak", "waiting_peak", "preemptions", "rejections"} <= set(row)
    assert s["imbalance"]["overall"] == pytest.approx(1.0)
    assert s["replica_source"] == "client"
    assert [e["url"] for e in s["target"]["endpoints"]] == [a.url, b.url]
    # Each server saw its own share.
    assert a.state.success + b.state.success >= 20


def test_session_affinity_puts_all_of_one_session_on_one_replica(two_servers, tmp_path):
    a, b = two_servers
    sessions = np.array(["s1"] * 12 + ["s2"] * 4 + ["s3"] * 4)
    w = workload(20, gap_s=0.01, output=4, session_id=sessions)
    result = run(w, fleet_settings([a.url, b.url], route="session"), tmp_path / "sess")
    records, _ = recorder.read_journal(result.run_dir)
    by_session: dict[str, set] = {}
    col = w.table.column("session_id").to_pylist()
    for r in records:
        by_session.setdefault(col[r["row"]], set()).add(r["replica"])
    assert all(len(v) == 1 for v in by_session.values())
    imb = result.summary["imbalance"]
    assert imb["overall"] > 1.0  # 12 of 20 share one session: the busiest replica has more than the mean


def test_route_keys_read_sessions_and_first_prefix_blocks():
    from burststudio.replay.plan import build_plan

    w = workload(4, session_id=np.array(["a", "b", "a", None]), prefix_blocks=[[7, 8], None, [7], [9]])
    plan = build_plan(w, quick_settings(), model="m", vocab_size=1000, max_model_len=4096)
    assert route_keys("session", plan, w) == ["a", "b", "a", None]
    assert route_keys("prefix", plan, w) == [7, None, 7, 9]
    assert route_keys("round_robin", plan, w) is None


def test_a_replica_that_dies_mid_run_is_routed_around(tmp_path):
    import threading

    a = TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.002)).start()
    b = TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.002)).start()
    notices: list[str] = []
    try:
        threading.Timer(0.6, b.stop).start()
        result = run_replay(workload(60, gap_s=0.04, output=4), fleet_settings([a.url, b.url]),
                            quick_settings(), name="fleet", run_dir=tmp_path / "die", on_notice=notices.append)
    finally:
        a.stop()
        b.stop()
    s = result.summary
    assert result.exit_code == 0, result.message
    assert s["sent"] == 60
    rows = {r["replica"]: r for r in s["replicas"]}
    assert rows["1"]["failed"] >= 1 or rows["1"]["requests"] < 30  # what failed on the dead one is counted there
    assert rows["0"]["finished"] > 30  # the others carried the run on
    assert rows["0"]["failed"] == 0
    assert any("replica 1 died" in n for n in notices), notices


def test_a_router_url_with_the_replicas_metrics_urls(two_servers, tmp_path):
    a, b = two_servers
    # `a` stands for the router (the requests go there); both servers' /metrics are sampled as the replicas.
    ts = TargetSettings(url=a.url, metrics_urls=[a.url + "/metrics", b.url + "/metrics"])
    result = run(workload(10, gap_s=0.02, output=4), ts, tmp_path / "metrics-urls")
    s = result.summary
    assert s["finished"] == 10 and s["replica_source"] == "counters"
    rows = {r["replica"]: r for r in s["replicas"]}
    assert rows["0"]["requests"] == 10 and rows["1"]["requests"] == 0  # only `a` served: its counter says so
    assert s["target"]["router"] == a.url
    records, _ = recorder.read_journal(result.run_dir)
    assert all(r["replica"] is None for r in records)


def test_metrics_urls_and_urls_together_are_one_line():
    with pytest.raises(TargetError, match="two ways to name a fleet"):
        make_target(TargetSettings(urls=["http://127.0.0.1:9"], metrics_urls=["http://127.0.0.1:8/metrics"]))
