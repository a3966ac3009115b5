"""The managed vLLM target against the real CPU engine: start-up, description, a streamed completion, failures,
and no process left behind on any exit path."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from burststudio.settings import VllmSettings
from burststudio.targets.base import TargetError
from burststudio.targets.supervise import group_members
from burststudio.targets.vllm import VllmTarget

from managed_vllm import KV_PRESSURE, requires_vllm


def wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def test_becomes_healthy_reporting_its_stages(vllm_server):
    assert vllm_server.alive()
    with urllib.request.urlopen(vllm_server.url + "/health", timeout=10) as r:
        assert r.status == 200
    stages = vllm_server.stages
    assert stages[0] == "starting" and stages[-1] == "healthy"
    assert "loading model" in stages
    assert (vllm_server.log_path.parent / "vllm.log").stat().st_size > 0


def test_describe_reports_the_kv_capacity_of_a_1m_cache(vllm_server):
    info = vllm_server.describe()
    assert (info.kv_capacity_tokens, info.kv_blocks, info.block_size) == (2048, 16, 128)
    assert info.model == "tiny" and info.max_model_len == 512 and info.vocab_size == 32000
    assert info.engine == "vllm 0.32.0" and info.build == "cpu" and info.has_metrics


def test_a_token_id_completion_streams(vllm_server):
    body = {"model": "tiny", "prompt": list(range(10, 42)), "max_tokens": 12, "min_tokens": 12, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    req = urllib.request.Request(vllm_server.url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    events = []
    with urllib.request.urlopen(req, timeout=60) as r:
        for raw in r:
            line = raw.decode().strip()
            if line.startswith("data: "):
                events.append(line[6:])
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "length" and len(finish) >= 2  # streamed in pieces, not one answer
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (32, 12)


@requires_vllm
def test_a_bad_flag_fails_fast_with_the_reason_in_one_line(tmp_path):
    target = VllmTarget(VllmSettings(**KV_PRESSURE, extra_args=["--no-such-flag"]))
    target.start(run_dir=tmp_path)
    pgid = target.pgid
    t0 = time.monotonic()
    with pytest.raises(TargetError) as err:
        target.wait_healthy(300)
    msg = str(err.value)
    assert "\n" not in msg and "unrecognized arguments: --no-such-flag" in msg
    assert err.value.exit_code == 2
    assert time.monotonic() - t0 < 120
    assert group_members(pgid) == []


@requires_vllm
def test_a_taken_port_fails_with_the_reason(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        target = VllmTarget(VllmSettings(**KV_PRESSURE), port=busy.getsockname()[1])
        target.start(run_dir=tmp_path)
        pgid = target.pgid
        with pytest.raises(TargetError, match="Address already in use"):
            target.wait_healthy(300)
    assert group_members(pgid) == []


# A parent that starts vLLM, reports its process group once the model loads (EngineCore and Worker then exist),
# and waits to be killed.
PARENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from burststudio.settings import VllmSettings
    from burststudio.targets.supervise import group_members
    from burststudio.targets.vllm import VllmTarget

    def progress(stage):
        if stage == "loading model":
            print(target.pgid, target._reaper.pid, len(group_members(target.pgid)), flush=True)

    target = VllmTarget(VllmSettings(**{settings!r}), grace_s=5.0)
    target.start(run_dir=Path({run_dir!r}), progress=progress)
    target.wait_healthy(600)
    print("healthy", flush=True)
    import time; time.sleep(600)
""")


@requires_vllm
def test_sigkill_of_the_parent_leaves_no_vllm_process(tmp_path):
    code = PARENT.format(settings=KV_PRESSURE, run_dir=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        first = parent.stdout.readline().split()
        assert len(first) == 3, f"the parent ended before loading the model; see {tmp_path / 'vllm.log'}"
        pgid, _, members = map(int, first)
        assert members >= 3, "API server, EngineCore and Worker should run while the model loads"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_for(lambda: group_members(pgid) == [], 60), \
            f"vLLM processes survived their parent: {group_members(pgid)}"
    finally:
        parent.kill()
        parent.wait()


@requires_vllm
def test_ctrl_c_during_start_up_of_a_replay_leaves_no_vllm_process(tmp_path):
    preset = Path(__file__).resolve().parents[2] / "presets" / "vllm-cpu-kv-pressure.toml"
    cli = subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(preset), "--out", str(tmp_path / "run")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in cli.stderr:
            lines.append(line)
            if "starting engine" in line:  # the EngineCore process is up
                break
        assert "starting engine" in "".join(lines), "".join(lines)
        log = (tmp_path / "run" / "vllm.log").read_text()
        pgid = int(re.search(r"\(APIServer pid=(\d+)\)", log).group(1))  # the API server leads the group
        assert len(group_members(pgid)) >= 2
        cli.send_signal(signal.SIGINT)
        assert cli.wait(60) == 130
        assert "interrupted" in cli.stderr.read()
        assert group_members(pgid) == []
    finally:
        cli.kill()
        cli.wait()
