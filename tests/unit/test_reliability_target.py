"""The server dies mid-replay (killed, or its port closes): the replay notices within seconds, stops sending,
accounts for every request, writes its summary and exits 4 with one line. Server and replay are real processes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.faults import FaultServer, accounted, ended_lines, start_replay, wait_until  # noqa: E402
from tests.support.replay import workload  # noqa: E402

from burststudio.replay import recorder  # noqa: E402
from burststudio.replay.health import HealthWatch  # noqa: E402

DETECT_S = 8.0  # the kill-to-exit budget the tests hold the replay to ("within a few seconds")


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "w.parquet"
    workload(1500, gap_s=0.01, output=10).to_parquet(path)  # 15 s of schedule: the server goes long before
    return path


def check_died(proc, out: Path, t_event: float) -> dict:
    _, err = proc.communicate(timeout=60)
    took = time.perf_counter() - t_event
    assert proc.returncode == 4, err
    lines = [ln for ln in err.strip().splitlines() if "target died" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == lines[0]
    assert took < DETECT_S, f"the replay took {took:.1f} s to end after the server went"
    s = json.loads((out / "summary.json").read_text())
    assert s["reason"] == "target_died" and s["exit_code"] == 4
    assert accounted(s) and s["not_sent"] > 0 and s["sent"] + s["not_sent"] == 1500
    ends, sent = recorder.read_journal(out)
    assert len(sent) == s["sent"] and len(ends) == s["sent"]  # every request that left has its end line
    return s


def test_a_killed_server_ends_the_run_with_exit_4(trace, tmp_path):
    out = tmp_path / "run"
    with FaultServer({"ttft_s": 0.01, "token_delay_s": 0.02}) as srv:
        proc = start_replay(trace, out, "--target", srv.url)
        assert wait_until(lambda: ended_lines(out) >= 50)
        t_kill = srv.kill()
        s = check_died(proc, out, t_kill)
    assert s["finished"] >= 50 and s["failures_by_class"].get("connection", 0) > 0


def test_a_closed_port_ends_the_run_with_exit_4(trace, tmp_path):
    # The process lives on and keeps serving its open connections; only new connections are refused.
    out = tmp_path / "run"
    with FaultServer({"ttft_s": 0.01, "token_delay_s": 0.02}, close_port_after=1.0) as srv:
        proc = start_replay(trace, out, "--target", srv.url)
        assert srv.proc.stdout.readline().strip() == "port closed"
        t_closed = time.perf_counter()
        s = check_died(proc, out, t_closed)
        assert srv.proc.poll() is None
    assert "/health" in s["reason_detail"] and s["finished"] > 0


class _Target:
    kind = "url"
    url = "http://127.0.0.1:9"


@pytest.mark.parametrize("state, life, dead", [("down", True, True), ("silent", True, False),
                                               ("silent", False, True), ("ok", False, False)])
def test_the_death_rule(state, life, dead):
    """Refused probes mean death even while old connections still answer; a silent /health does not while
    requests get answers, and does once nothing answers for `silent_s`."""
    deaths: list[str] = []
    watch = HealthWatch(_Target(), None, deaths.append, interval_s=0.02, fast_s=0.02, silent_s=0.3)

    async def probe(session):
        return state, "seen"

    watch.probe = probe  # type: ignore[method-assign]

    async def main():
        done = asyncio.Event()
        task = asyncio.create_task(watch.run(done))
        for _ in range(40):  # 0.8 s
            if life:
                watch.life()
            await asyncio.sleep(0.02)
            if task.done():
                break
        done.set()
        await task

    asyncio.run(main())
    assert bool(deaths) is dead, (deaths, watch.probes)
