"""Child processes that cannot outlive BurstStudio: each in its own process group, stopped as one, and watched by a
small reaper.

A SIGKILL of BurstStudio runs no handler and no `atexit`, so a plain child would run on under PID 1. Two guards
cover it: the kernel sends the child SIGTERM when the thread that forked it dies (prctl PR_SET_PDEATHSIG, Linux),
and a reaper process, `python -m burststudio.targets.supervise --reap PGID GRACE`, holds a pipe from us: when the
pipe closes without a word, its owner is gone and it stops the whole group (SIGTERM, then SIGKILL after the grace
period). The reaper covers what the death signal cannot: grandchildren, and a child forked from another thread.
Every server BurstStudio starts (the managed vLLM, the simulated server) goes through `Supervised`.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from burststudio.vocab import EXIT_USAGE


# Process groups are read from /proc (no third-party process library).
def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group `pgid`."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # Fields after the command name, which may hold spaces and parentheses: state ppid pgrp ...
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) >= 3 and fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_group(pgid: int, grace_s: float, reap: Any = None) -> bool:
    """SIGTERM to the group, SIGKILL to what is left after `grace_s`; True when nothing is left.

    `reap` is called while waiting so that our own child (the group leader) does not linger as a zombie.
    """
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if reap:
            reap()
        if not group_members(pgid):
            return True
        _killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if reap:
                reap()
            if not group_members(pgid):
                return True
            time.sleep(0.05)
    return not group_members(pgid)


def _reaper_main(pgid: int, grace_s: float) -> int:
    """The reaper: wait for our owner's word or its death; on its death, stop the group."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        ready, _, _ = select.select([0], [], [], 1.0)
        if ready:
            if os.read(0, 1):
                return 0  # the owner stopped the server itself
            break  # end of file without a word: the owner died
        if not group_members(pgid):
            return 0  # the server ended on its own
    print(f"burststudio: the process that started this server is gone; stopping process group {pgid}", flush=True)
    return 0 if terminate_group(pgid, grace_s) else 1


def _set_parent_death_signal() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent (thread) dies."""
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the reaper still covers the parent's death


def _reaper_environment() -> dict[str, str]:
    # The reaper imports this module: make it findable also when the package runs from a source tree.
    source_root = str(Path(__file__).resolve().parents[2])
    paths = [source_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}



class Supervised:
    """One child in its own process group, with a reaper; `stop` ends the group and the reaper."""

    def __init__(self, grace_s: float = 5.0):
        self.grace_s = grace_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.reaper: subprocess.Popen[bytes] | None = None

    def start(self, cmd: list[str], *, stdout: IO[bytes] | int | None = None, env: dict[str, str] | None = None,
              cwd: str | None = None) -> subprocess.Popen[bytes]:
        """Start `cmd` (raises OSError as Popen does). Its own process group, but not its own session: Linux's
        autogroup scheduling gives each session one fair share of the CPU, and a server in a session of its own
        starved against the replay client (docs/vllm.md)."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            process_group=0,
            # The death signal follows the thread that forks: only ask for it from the main thread, whose end is
            # the process's end. The reaper covers the rest.
            preexec_fn=_set_parent_death_signal if in_main_thread else None)
        self.reaper = subprocess.Popen(
            [sys.executable, "-m", "burststudio.targets.supervise", "--reap", str(self.proc.pid), str(self.grace_s)],
            stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True,
            env=_reaper_environment())
        atexit.register(self.stop)
        return self.proc

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after the grace period, then dismiss the reaper; safe to call twice."""
        proc, reaper = self.proc, self.reaper
        try:
            if proc is not None:
                terminate_group(proc.pid, self.grace_s, reap=proc.poll)
                proc.poll()
            if reaper is not None:
                try:
                    reaper.stdin.write(b"x")  # type: ignore[union-attr]
                    reaper.stdin.close()  # type: ignore[union-attr]
                except (OSError, ValueError):
                    pass
                try:
                    reaper.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    reaper.kill()
                    reaper.wait(timeout=5.0)
                self.reaper = None
        finally:
            atexit.unregister(self.stop)


class SupervisedServer:
    """For a Target whose server runs under `self._supervised`: its stop grace, settable (a second Ctrl-C sets 0)."""

    _supervised: Supervised

    @property
    def grace_s(self) -> float:
        """Seconds between SIGTERM and SIGKILL when stopping; 0 stops at once (a second Ctrl-C)."""
        return self._supervised.grace_s

    @grace_s.setter
    def grace_s(self, value: float) -> None:
        self._supervised.grace_s = value


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--reap":
        return _reaper_main(int(argv[1]), float(argv[2]))
    print("usage: python -m burststudio.targets.supervise --reap PGID GRACE_S", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
