"""The managed vLLM target without vLLM: flags, log reading, and the supervision of a stand-in server.

The stand-in is a Python process that leads its own group and forks a child that ignores SIGTERM, as vLLM's
EngineCore and Worker outlive their API server when it dies. Starting it goes through VllmTarget.start, so every
exit path (stop, context manager, signal, the parent's death) is checked in well under a second each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from burststudio.settings import VllmSettings
from burststudio.targets.base import TargetError
from burststudio.targets.supervise import group_members
from burststudio.targets.vllm import (
    TINY_MODEL_DIR,
    VllmTarget,
    engine_args,
    failure_reason,
)
from burststudio.vllm_metrics import parse_cache_config

# A server stand-in: writes vLLM-like stage lines, forks a child that ignores SIGTERM, then waits.
STANDIN = textwrap.dedent("""
    import os, signal, sys, time
    print("(APIServer pid=1) INFO 11-27 02:31:41 [model.py:733] Resolved architecture: LlamaForCausalLM", flush=True)
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("(Worker pid=2) INFO 11-27 02:31:54 [r.py:68] Starting to load model /x...", flush=True)
        while True:
            time.sleep(1)
    mode = sys.argv[1] if len(sys.argv) > 1 else "wait"
    if mode == "fail":
        time.sleep(0.3)
        print("(APIServer pid=1) ERROR 11-27 02:31:55 [x.py:1] ValueError: no room for the KV cache", flush=True)
        sys.exit(1)
    while True:
        time.sleep(1)
""")


class StandInTarget(VllmTarget):
    def __init__(self, mode: str = "wait", **kw):
        super().__init__(VllmSettings(), grace_s=0.5, **kw)
        self.mode = mode

    def command_line(self) -> list[str]:
        return [sys.executable, "-c", STANDIN, self.mode]

    def _check_installed(self) -> None:
        pass


def wait_for(pred, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def started(target: VllmTarget, tmp_path, stages: list[str] | None = None) -> int:
    target.start(run_dir=tmp_path, progress=(stages.append if stages is not None else None))
    pgid = target.pgid
    assert pgid is not None
    assert wait_for(lambda: len(group_members(pgid)) == 2), "the stand-in and its child should both run"
    return pgid


def test_engine_args_follow_the_settings():
    s = VllmSettings(kv_cache_memory_bytes="1M", max_num_queued_reqs=24, enable_prefix_caching=False,
                     extra_args=["--seed", 7])
    args = engine_args(s, "127.0.0.1", 8123)
    joined = " ".join(args)
    assert "--port 8123" in joined and "--host 127.0.0.1" in joined
    assert "--load-format dummy" in joined and "--skip-tokenizer-init" in joined
    assert "--kv-cache-memory-bytes 1M" in joined and "--max-num-queued-reqs 24" in joined
    assert "--no-enable-prefix-caching" in args and "--enforce-eager" in args
    assert args[-2:] == ["--seed", "7"]
    real = engine_args(VllmSettings(model="/models/llama", enforce_eager=False), "127.0.0.1", 1)
    assert "--load-format" not in real and "--enforce-eager" not in real and "--kv-cache-memory-bytes" not in real
    # Left to itself the CPU build takes about 90% of the machine's memory for its KV cache: it always gets a size.
    cpu = engine_args(VllmSettings(), "127.0.0.1", 1, "cpu")
    assert cpu[cpu.index("--kv-cache-memory-bytes") + 1] == "1G"
    assert VllmTarget(VllmSettings(build="cpu"), port=9000).command_line().count("--kv-cache-memory-bytes") == 1
    assert "1M" in engine_args(VllmSettings(kv_cache_memory_bytes="1M"), "127.0.0.1", 1, "cpu")


def test_cpu_build_uses_the_module_entrypoint_with_the_bundled_model():
    t = VllmTarget(VllmSettings(build="cpu"), port=9000)
    cmd = t.command_line()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--model") + 1] == str(TINY_MODEL_DIR)
    assert (TINY_MODEL_DIR / "config.json").is_file()


@pytest.mark.parametrize("log, reason", [
    ("usage: api_server.py [-h]\napi_server.py: error: unrecognized arguments: --bogus\n",
     "unrecognized arguments: --bogus"),
    ("Traceback (most recent call last):\n  File \"x\", line 1\nOSError: [Errno 98] Address already in use\n",
     "OSError: [Errno 98] Address already in use"),
    ("(EngineCore pid=5) ERROR 11-27 02:31:55 [core.py:1] ValueError: 200.00 GiB KV cache is more than memory\n"
     "(APIServer pid=4) RuntimeError: Engine core initialization failed. See root cause above. "
     "Failed core proc(s): {}\n",
     "ValueError: 200.00 GiB KV cache is more than memory"),
    ("(APIServer pid=4) WARNING 11-27 02:31:55 [base.py:380] ValueError: Tokenizer not available\n"
     "(APIServer pid=4) INFO 11-27 02:31:55 [entry.py:140] shutting down\n", "shutting down"),
])
def test_failure_reason_names_the_root_cause(log, reason):
    assert failure_reason(log, 1) == reason


def test_failure_reason_of_a_killed_server():
    assert failure_reason("", -signal.SIGKILL).startswith("killed by SIGKILL")


def test_cache_config_from_metrics():
    text = ('# TYPE vllm:cache_config_info gauge\n'
            'vllm:cache_config_info{block_size="128",engine="0",kv_cache_size_tokens="2048",'
            'num_cpu_blocks="None",num_gpu_blocks="16"} 1.0\n')
    assert parse_cache_config(text) == {"block_size": 128, "blocks": 16, "tokens": 2048}
    assert parse_cache_config("# TYPE x gauge\nx 1\n") == {}


def test_stop_ends_the_whole_group_and_reports_stages(tmp_path):
    stages: list[str] = []
    t = StandInTarget()
    pgid = started(t, tmp_path, stages)
    assert wait_for(lambda: (t._follow_log(), "loading model" in stages)[1])
    assert stages[:3] == ["starting", "reading model config", "loading model"]
    t.stop()
    assert group_members(pgid) == []  # the SIGTERM-deaf child got SIGKILL after the grace period
    assert not t.alive()
    t.stop()  # twice is fine
    assert (tmp_path / "vllm.log").read_text().startswith("# ")


def test_context_manager_stops_on_an_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with StandInTarget() as t:
            pgid = started(t, tmp_path)
            raise RuntimeError("the run broke")
    assert group_members(pgid) == []


def test_early_exit_fails_with_the_reason_in_one_line(tmp_path):
    t = StandInTarget("fail")
    t.start(run_dir=tmp_path)
    pgid = t.pgid
    with pytest.raises(TargetError) as err:
        t.wait_healthy(20)
    msg = str(err.value)
    assert "\n" not in msg and "ValueError: no room for the KV cache" in msg and "exit code 1" in msg
    assert err.value.exit_code == 2
    assert group_members(pgid) == []


def test_health_timeout_stops_the_server(tmp_path):
    t = StandInTarget()
    pgid = started(t, tmp_path)
    with pytest.raises(TargetError, match="did not become healthy within 0.5 s"):
        t.wait_healthy(0.5)
    assert group_members(pgid) == []


def test_sigterm_stops_the_server_then_reaches_the_callers_handler(tmp_path):
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        t = StandInTarget()
        pgid = started(t, tmp_path)
        os.kill(os.getpid(), signal.SIGTERM)
        assert wait_for(lambda: seen == [signal.SIGTERM], 5)
        assert group_members(pgid) == []
        # The caller's handler is back in place once the target is stopped.
        assert signal.getsignal(signal.SIGTERM) is not t._on_signal
    finally:
        signal.signal(signal.SIGTERM, previous)


PARENT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_vllm_supervision import StandInTarget, started
    from pathlib import Path
    t = StandInTarget()
    pgid = started(t, Path({run_dir!r}))
    print(pgid, t._reaper.pid, flush=True)
    time.sleep(600)
""")


def test_the_parents_death_stops_the_server(tmp_path):
    code = PARENT.format(tests=os.path.dirname(__file__), run_dir=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pgid, reaper = map(int, parent.stdout.readline().split())
        assert len(group_members(pgid)) == 2
        parent.kill()
        parent.wait()
        assert wait_for(lambda: group_members(pgid) == [], 10), "the reaper should end the server's group"
        assert wait_for(lambda: not os.path.exists(f"/proc/{reaper}") or
                        open(f"/proc/{reaper}/stat").read().split(")")[-1].split()[0] == "Z", 10)
    finally:
        parent.kill()
        parent.wait()

