"""A SIGKILL of a replay leaves no simulated server behind (the same guarantee as the managed vLLM's)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from burststudio.targets.supervise import group_members

ROOT = Path(__file__).resolve().parents[2]


def _children_running(ppid: int, needle: bytes) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = open(f"/proc/{entry}/cmdline", "rb").read()
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if needle in cmd and fields[0] != "Z" and int(fields[1]) == ppid:
            out.append(int(entry))
    return out


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.parametrize("replicas", [1, 2])
def test_sigkill_of_a_replay_leaves_no_simulated_server(tmp_path, replicas):
    preset = tmp_path / "sim.toml"
    preset.write_text(textwrap.dedent(f"""
        [workload]
        name = "sim-kill"
        duration_s = 600
        [workload.arrivals]
        process = "poisson"
        rate = 2
        [workload.prompt]
        dist = "fixed"
        value = 20
        [workload.output]
        dist = "fixed"
        value = 4
        [target]
        kind = "sim"
        [target.sim]
        replicas = {replicas}
        [replay]
        scrape_interval_s = 0
    """))
    replay = subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(preset), "--out", str(tmp_path / "r")],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: (tmp_path / "r" / "journal.jsonl").exists() and
                     (tmp_path / "r" / "journal.jsonl").stat().st_size > 0, 60), "the replay never got going"
        servers = _children_running(replay.pid, b"burststudio.targets.sim.server")
        assert len(servers) == replicas
        replay.send_signal(signal.SIGKILL)
        replay.wait()
        assert _wait(lambda: not any(group_members(s) for s in servers), 15), "a simulated server outlived its replay"
    finally:
        if replay.poll() is None:
            replay.kill()
        for pid in _children_running(1, b"burststudio.targets.sim.server"):
            os.kill(pid, signal.SIGKILL)


ROUTER_PARENT = """
import sys, time
sys.path.insert(0, {root!r})
from tests.testserver import ServerConfig, TestServer
from burststudio.settings import TargetSettings, VllmSettings
from burststudio.targets.fleet import Fleet
from burststudio.targets.router import RouterTarget
from burststudio.targets.url import UrlTarget

a, b = TestServer(ServerConfig()).start(), TestServer(ServerConfig()).start()
members = [UrlTarget(TargetSettings(), s.url) for s in (a, b)]
fleet = Fleet("url", members, ["0", "1"], front=RouterTarget(VllmSettings(router=True), members))
fleet.start({run_dir!r})
fleet.wait_healthy(60)
print(fleet.front._supervised.proc.pid, flush=True)
time.sleep(600)
"""


def test_sigkill_of_the_parent_leaves_no_router(tmp_path):
    pytest.importorskip("vllm_router", reason="vllm-router is not installed")
    parent = subprocess.Popen([sys.executable, "-c", ROUTER_PARENT.format(root=str(ROOT), run_dir=str(tmp_path))],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), "the router never became healthy"
        router = int(line)
        assert group_members(router)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait(lambda: not group_members(router), 15), "vllm-router outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
