"""A managed vllm-router (the `vllm-router` package: the vLLM project's Rust router) in front of a fleet's replicas.

It is started once the replicas answer (targets/fleet.py), supervised like every server BurstStudio starts
(targets/supervise.py: its own process group, a reaper, stopped on every exit path), and logs to `router.log` in the
run directory. Its Prometheus page gets a free port of its own, so two runs on one machine do not collide on the
router's default port.

The router does not say which worker served a response (no header names it; it adds only `x-request-id`), so a
routed fleet's per-replica figures come from the replicas' own counters (fleet_summary.py, `replica_source`).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING

from burststudio.targets.base import Progress, Target, TargetError, TargetInfo
from burststudio.targets.supervise import Supervised, SupervisedServer

if TYPE_CHECKING:
    from burststudio.settings import VllmSettings

ROUTER_MODULE = "vllm_router.launch_router"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def router_command(python: str = sys.executable) -> list[str]:
    """How to run vllm-router here: its console script beside this Python, else its module."""
    exe = Path(python).with_name("vllm-router")
    if exe.exists():
        return [str(exe)]
    if importlib.util.find_spec("vllm_router") is not None:
        return [python, "-m", ROUTER_MODULE]
    found = shutil.which("vllm-router")
    if found:
        return [found]
    raise TargetError("vllm-router is not installed in this Python (pip install vllm-router); or set "
                      "target.vllm.router = false to route from the client")


def failure_reason(log_text: str, returncode: int | None) -> str:
    """The line of the router's log that says why it stopped (colour codes dropped)."""
    from burststudio.targets.vllm import failure_reason as vllm_reason

    text = _ANSI.sub("", log_text)
    errors = [ln.strip() for ln in text.splitlines() if re.search(r"\bERROR\b|error:", ln)]
    reason = vllm_reason(text, returncode)
    if errors and (reason == "no output" or reason.startswith("killed")):
        return errors[-1][:300]
    return reason


class RouterTarget(SupervisedServer, Target):
    kind = "vllm-router"

    def __init__(self, settings: "VllmSettings", workers: list[Target], *, host: str = "127.0.0.1",
                 port: int | None = None, grace_s: float = 5.0):
        self.settings = settings
        self.workers = workers
        self.host = host
        self.port = port
        self.log_path: Path | None = None
        self.command: list[str] = []
        self._supervised = Supervised(grace_s)
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command_line(self, metrics_port: int) -> list[str]:
        s = self.settings
        return [*router_command(), "--host", self.host, "--port", str(self.port), "--worker-urls",
                *[w.url for w in self.workers], "--policy", s.router_policy, "--prometheus-host", self.host,
                "--prometheus-port", str(metrics_port), *[str(a) for a in s.router_args]]

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        from burststudio.targets.vllm import free_port

        if self._supervised.proc is not None:
            return
        self.port = self.port or free_port(self.host)
        self.command = self.command_line(free_port(self.host))
        log_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="burststudio-router-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / "router.log"
        self._log = open(self.log_path, "wb")
        self._log.write(("# " + " ".join(self.command) + "\n").encode())
        self._log.flush()
        if progress:
            progress(f"starting vllm-router ({self.settings.router_policy}) on {self.url}")
        try:
            self._supervised.start(self.command, stdout=self._log, cwd=str(log_dir))
        except OSError as exc:
            self._close_log()
            raise TargetError(f"vllm-router could not be started: {exc.strerror or exc}") from None

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self._supervised.proc
            if proc is not None and proc.poll() is not None:
                code = proc.returncode
                reason = failure_reason(self._read_log(), code)
                self.stop()
                raise TargetError(f"vllm-router exited during start-up (exit code {code}): {reason} "
                                  f"(log: {self.log_path})")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=1.0) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                reason = failure_reason(self._read_log(), None)
                self.stop()
                raise TargetError(f"vllm-router did not answer within {timeout_s:g} s: {reason} "
                                  f"(log: {self.log_path})")
            time.sleep(0.1)

    def describe(self) -> TargetInfo:
        return TargetInfo(kind=self.kind, url=self.url)

    def alive(self) -> bool:
        proc = self._supervised.proc
        return proc is not None and proc.poll() is None

    def stop(self) -> None:
        try:
            self._supervised.stop()
        finally:
            self._close_log()

    def _read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            finally:
                self._log = None

