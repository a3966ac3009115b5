"""Ctrl-C and SIGTERM: requests in flight are cancelled and counted, the summary is written, a managed server is
stopped; a second Ctrl-C stops at once and still leaves no process behind. Replay and servers are real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.faults import (  # noqa: E402
    ROOT,
    FaultServer,
    accounted,
    ended_lines,
    report,
    start_replay,
    wait_until,
)
from tests.support.replay import workload  # noqa: E402

from burststudio.targets.supervise import group_members  # noqa: E402


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "w.parquet"
    workload(1000, gap_s=0.01, output=20).to_parquet(path)  # 10 s of schedule, each request ~1 s long
    return path


def stopped_in_order(proc, out: Path, t_signal: float) -> dict:
    _, err = proc.communicate(timeout=60)
    took = time.perf_counter() - t_signal
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("burststudio replay: stopped;"), err
    assert took < 10, f"{took:.1f} s from the signal to the exit"
    s = json.loads((out / "summary.json").read_text())
    assert s["reason"] == "stopped" and s["exit_code"] == 130
    assert accounted(s) and s["cancelled"] > 0 and s["lost_in_flight"] == 0 and s["not_sent"] > 0
    return s


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_cancels_what_is_in_flight_and_writes_the_summary(trace, tmp_path, sig):
    out = tmp_path / "run"
    with FaultServer({"ttft_s": 0.05, "token_delay_s": 0.05}) as srv:
        proc = start_replay(trace, out, "--target", srv.url)
        assert wait_until(lambda: ended_lines(out) >= 20)
        t = time.perf_counter()
        proc.send_signal(sig)
        s = stopped_in_order(proc, out, t)
    assert s["finished"] >= 20


def reaper_of(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--reap" in cmd and str(pgid).encode() in cmd:
                found.append(int(entry))
    return found


def managed(trace: Path, out: Path, *args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.managed_replay", str(trace), str(out), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("pgid "), (line, proc.stderr.read() if proc.poll() is not None else "")
    pgid = int(line.split()[1])
    assert wait_until(lambda: len(group_members(pgid)) >= 1)
    return proc, pgid


def nothing_left(pgid: int) -> bool:
    return wait_until(lambda: not group_members(pgid) and not reaper_of(pgid), timeout=5)


def test_ctrl_c_stops_a_managed_server(trace, tmp_path):
    out = tmp_path / "run"
    proc, pgid = managed(trace, out, "--grace", "5")
    try:
        assert wait_until(lambda: ended_lines(out) >= 20)
        t = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        stopped_in_order(proc, out, t)
        assert nothing_left(pgid), (group_members(pgid), reaper_of(pgid))
    finally:
        proc.kill()
        os.killpg(pgid, signal.SIGKILL) if group_members(pgid) else None


def test_a_second_ctrl_c_while_the_server_stops_ends_at_once(trace, tmp_path):
    # The server's child ignores SIGTERM (as vLLM's EngineCore can): stopping it in order would wait out the grace.
    out = tmp_path / "run"
    proc, pgid = managed(trace, out, "--grace", "60", "--stubborn-child")
    try:
        assert wait_until(lambda: ended_lines(out) >= 20)
        proc.send_signal(signal.SIGINT)
        assert wait_until(lambda: (out / "summary.json").exists(), timeout=20)
        time.sleep(0.5)  # now inside the 60 s grace of the server's stop
        assert proc.poll() is None and group_members(pgid)
        t = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        took = time.perf_counter() - t
        assert proc.returncode == 130 and "stopped at once" in err and "Traceback" not in err, err
        assert took < 3, f"{took:.1f} s after the second Ctrl-C"
        assert nothing_left(pgid), (group_members(pgid), reaper_of(pgid))
        s = json.loads((out / "summary.json").read_text())
        assert s["reason"] == "stopped" and accounted(s)
    finally:
        proc.kill()
        os.killpg(pgid, signal.SIGKILL) if group_members(pgid) else None


def test_two_quick_ctrl_c_mid_run_leave_a_journal_report_can_read(trace, tmp_path):
    out = tmp_path / "run"
    proc, pgid = managed(trace, out, "--grace", "60", "--stubborn-child")
    try:
        assert wait_until(lambda: ended_lines(out) >= 20)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
        t = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130 and "stopped at once" in err, err
        assert time.perf_counter() - t < 3
        assert nothing_left(pgid), (group_members(pgid), reaper_of(pgid))
    finally:
        proc.kill()
        os.killpg(pgid, signal.SIGKILL) if group_members(pgid) else None
    r = report(out, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert accounted(s) and s["finished"] >= 20
