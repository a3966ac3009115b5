"""What the benchmarks share: a free port, a process's CPU time (or a process tree's, sampled), and waiting for a
server's /health."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_healthy(url: str, tries: int = 100) -> None:
    """Return once `url`/health answers; raise after `tries` attempts 0.1 s apart."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not start")


class TreeCpu:
    """CPU seconds of every process in a session (the tool and all it started), sampled on CLOCK_MONOTONIC, so the
    load window the server saw can be cut out of it. The last one made is kept in TreeCpu.last."""

    last: "TreeCpu | None" = None
    PERIOD_S = 0.2

    def __init__(self, sid: int):
        self.sid = sid
        self.samples: list[tuple[int, float]] = []
        self.dead: dict[int, float] = {}
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        TreeCpu.last = self

    def _read(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        now: dict[int, float] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.sid:  # session id
                now[int(name)] = sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        for pid, cpu in self._seen.items():  # a process that ended keeps what it used
            if pid not in now:
                self.dead[pid] = cpu
        self._seen = now
        return sum(now.values()) + sum(v for k, v in self.dead.items() if k not in now)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter_ns(), self._read()))
            self._stop.wait(self.PERIOD_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def cores(self, t0_ns: int, t1_ns: int) -> float | None:
        """Mean cores used between two moments (interpolated between samples)."""
        if len(self.samples) < 2 or t1_ns <= t0_ns:
            return None
        import numpy as np

        t = np.array([s[0] for s in self.samples], dtype=np.float64)
        c = np.array([s[1] for s in self.samples])
        return float((np.interp(t1_ns, t, c) - np.interp(t0_ns, t, c)) / ((t1_ns - t0_ns) / 1e9))
