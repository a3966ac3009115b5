"""A managed vllm-router in front of two test servers (real HTTP, the real router): it starts once they answer,
its log lands in the run directory, the per-replica figures come from the replicas' counters (and say so), and a
router that cannot start is one line with nothing left running."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay.runner import run_replay  # noqa: E402
from burststudio.settings import TargetSettings, VllmSettings  # noqa: E402
from burststudio.targets.base import TargetError  # noqa: E402
from burststudio.targets.fleet import Fleet  # noqa: E402
from burststudio.targets.router import RouterTarget  # noqa: E402
from burststudio.targets.supervise import group_members  # noqa: E402
from burststudio.targets.url import UrlTarget  # noqa: E402

pytest.importorskip("vllm_router", reason="vllm-router is not installed")


def router_fleet(servers, **router) -> Fleet:
    ts = TargetSettings()
    members = [UrlTarget(ts, s.url) for s in servers]
    return Fleet("url", members, [str(k) for k in range(len(members))],
                 front=RouterTarget(VllmSettings(router=True, **router), members))


def test_a_run_through_the_router_is_measured_per_replica(tmp_path):
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.002)) as a, \
            TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.002)) as b:
        fleet = router_fleet([a, b])
        result = run_replay(workload(20, gap_s=0.02, output=4), TargetSettings(), quick_settings(scrape_interval_s=0.05),
                            name="router", run_dir=tmp_path / "r", target=fleet)
        assert not fleet.front.alive()
        assert a.state.success + b.state.success == 20
        assert a.state.success == b.state.success == 10  # round robin, seen by the servers themselves
    s = result.summary
    assert s["finished"] == 20 and s["replica_source"] == "counters"
    assert s["target"]["router"] == fleet.front.url
    assert sorted(r["requests"] for r in s["replicas"]) == [10, 10]
    assert all(r["ttft_s"] is None for r in s["replicas"])  # the router did not say who served what
    assert (result.run_dir / "router.log").read_text().startswith("# ")


def test_a_router_that_cannot_start_is_one_line_and_leaves_nothing(tmp_path):
    with TestServer(ServerConfig()) as a, TestServer(ServerConfig()) as b:
        fleet = router_fleet([a, b], router_args=["--no-such-flag"])
        fleet.start(tmp_path)
        with pytest.raises(TargetError) as info:
            fleet.wait_healthy(30)
        pgid = fleet.front._supervised.proc.pid
        fleet.stop()
    msg = str(info.value)
    assert "\n" not in msg and "vllm-router exited during start-up" in msg and "--no-such-flag" in msg
    assert not group_members(pgid)
