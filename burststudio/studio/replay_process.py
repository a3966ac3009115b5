"""The headless replay engine as a child process: start it, read its JSON-line events, stop it.

The engine never runs in the studio's event loop (DESIGN.md: chart redraws would delay its timers); stopping sends
SIGINT so the engine ends its run the way Ctrl-C does and writes what it has.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable


def engine_command(preset: Path, run_dir: Path, base: tuple[str, ...] | None = None,
                   duration_s: float | None = None) -> list[str]:
    """The engine's command line; `duration_s` (0: the whole workload) is passed whenever given, so the field on the
    Replay screen, not a duration saved in the preset, decides how long the run is."""
    head = list(base) if base else [sys.executable, "-m", "burststudio"]
    argv = head + ["replay", str(preset), "--events", "--out", str(run_dir)]
    if duration_s is not None:
        seconds = float(duration_s)
        argv += ["--duration", str(int(seconds)) if seconds.is_integer() else repr(seconds)]
    return argv


class EngineProcess:
    def __init__(self, argv: list[str], on_event: Callable[[dict[str, Any]], None], cwd: Path | None = None):
        self.argv = argv
        self.on_event = on_event
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: list[str] = []
        self.stopped = False

    async def start(self) -> None:
        env = dict(os.environ)
        env.pop("TEXTUAL", None)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=str(self.cwd) if self.cwd else None, env=env,
            start_new_session=True)

    async def read(self) -> int:
        """Read events until the engine exits; returns its exit code."""
        assert self.proc is not None and self.proc.stdout is not None and self.proc.stderr is not None

        async def errors() -> None:
            async for raw in self.proc.stderr:  # type: ignore[union-attr]
                self.stderr_tail = (self.stderr_tail + [raw.decode(errors="replace").rstrip()])[-20:]

        task = asyncio.create_task(errors())
        async for raw in self.proc.stdout:
            line = raw.strip()
            if not line.startswith(b"{"):
                continue
            try:
                self.on_event(json.loads(line))
            except ValueError:
                continue
        code = await self.proc.wait()
        await task
        return code

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout_s: float = 10.0) -> None:
        if not self.running:
            return
        self.stopped = True
        assert self.proc is not None
        try:
            self.proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except (asyncio.TimeoutError, ProcessLookupError):
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            await self.proc.wait()

    def error_line(self) -> str | None:
        lines = [x for x in self.stderr_tail if x.strip()]
        return lines[-1] if lines else None
