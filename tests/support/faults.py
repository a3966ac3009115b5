"""The test server in a process of its own, with the faults the reliability tests need on top of its own.

    python -m tests.support.faults --config '{"ttft_s": 0.01, "faults_by_prompt_len": {"21": "cut"}}' [--port P]
        [--retry-after-503 S] [--hang-headers LEN,LEN] [--close-port-after S]

It prints `ready PORT` once it listens. Beyond tests/testserver.py's faults (by prompt length):
  --retry-after-503 S    503 answers carry `Retry-After: S`
  --hang-headers LENS    requests with these prompt lengths are accepted and read, and never answered (no status
                         line): a server that accepts but never answers
  --close-port-after S   S seconds after the first completion request the listening socket closes while the process
                         and its open connections live on: the port is gone, the server is not dead
  --stubborn-child       fork a child that ignores SIGTERM first, as vLLM's EngineCore outlives its API server

`FaultServer` starts and stops it from a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def serve(config: dict, port: int, retry_after_503: str | None, hang_headers: set[int],
          close_port_after: float | None) -> None:
    from aiohttp import web

    from tests.testserver import ServerConfig, make_app

    if "faults_by_prompt_len" in config:
        config["faults_by_prompt_len"] = {int(k): v for k, v in config["faults_by_prompt_len"].items()}
    app = make_app(ServerConfig(**config))
    closer: list[asyncio.Task] = []

    @web.middleware
    async def faults(request: web.Request, handler):
        if request.path.endswith("completions"):
            if close_port_after is not None and not closer:
                closer.append(asyncio.get_running_loop().create_task(close_port(close_port_after)))
            if hang_headers:
                try:
                    body = await request.json()
                    prompt = body.get("prompt")
                    n = len(prompt) if isinstance(prompt, list) else -1
                except ValueError:
                    n = -1
                if n in hang_headers:
                    await asyncio.sleep(3600)
        resp = await handler(request)
        if retry_after_503 and getattr(resp, "status", 0) == 503:
            resp.headers["Retry-After"] = retry_after_503
        return resp

    app.middlewares.append(faults)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    sites: list[web.TCPSite] = []

    async def close_port(after: float) -> None:
        await asyncio.sleep(after)
        for site in sites:
            # The listening socket only: connections already open go on being served.
            site._server.close()  # type: ignore[union-attr]
        print("port closed", flush=True)

    async def main() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        sites.append(site)
        print(f"ready {site._server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[union-attr]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    asyncio.run(main())


class FaultServer:
    """The fault server as a child process (a real process: it can be killed)."""

    def __init__(self, config: dict | None = None, *, retry_after_503: str | None = None,
                 hang_headers: list[int] | None = None, close_port_after: float | None = None):
        cmd = [sys.executable, "-m", "tests.support.faults", "--config", json.dumps(config or {})]
        if retry_after_503:
            cmd += ["--retry-after-503", retry_after_503]
        if hang_headers:
            cmd += ["--hang-headers", ",".join(map(str, hang_headers))]
        if close_port_after is not None:
            cmd += ["--close-port-after", str(close_port_after)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("ready "):
            self.proc.kill()
            raise RuntimeError(f"the fault server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def kill(self) -> float:
        """SIGKILL; returns the perf_counter time of the kill."""
        t = time.perf_counter()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        return t

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> "FaultServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="{}", help="ServerConfig fields as JSON")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--retry-after-503", default=None)
    p.add_argument("--hang-headers", default="")
    p.add_argument("--close-port-after", type=float, default=None)
    p.add_argument("--stubborn-child", action="store_true")
    a = p.parse_args(argv)
    if a.stubborn_child and os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            time.sleep(1)
    hang = {int(x) for x in a.hang_headers.split(",") if x.strip()}
    serve(json.loads(a.config), a.port, a.retry_after_503, hang, a.close_port_after)


if __name__ == "__main__":
    main()


# Running the replay command as a user does ------------------------------------------------------------------------
def preset_text(trace: Path, url: str, *, first_token_s: float = 2.0, idle_s: float = 1.0, extra: str = "") -> str:
    return (f'[workload]\ntrace = "{trace}"\n\n[target]\nkind = "url"\nurl = "{url}"\n\n'
            f"[replay]\nscrape_interval_s = 0.2\n{extra}\n"
            f"[replay.timeouts]\nfirst_token_s = {first_token_s}\nidle_s = {idle_s}\nconnect_s = 1.0\n")


def start_replay(source: Path, out: Path, *args: str, preexec_fn=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(source), "--out", str(out), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)


def ended_lines(run_dir: Path) -> int:
    try:
        return (run_dir / "journal.jsonl").read_bytes().count(b'"kind":"end"')
    except OSError:
        return 0


def wait_until(pred, timeout: float = 30.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def report(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burststudio", "report", str(run_dir), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def accounted(s: dict) -> bool:
    return s["sent"] == s["finished"] + s["failed"] + s["cancelled"]
