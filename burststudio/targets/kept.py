"""A started target kept across several runs (`sweep` over points that share the target's settings): the first run
starts it, every run's `stop` leaves it running, and `close` stops it once the last run is done.

A kept vLLM keeps its prefix cache and its counters from one run to the next: the figures are unaffected (counters
are read as differences over each run), but a prefix the previous point cached is a hit in the next one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class KeptTarget:
    def __init__(self, target: Any):
        self._target = target
        self._started = False
        self.runs = 0

    def start(self, run_dir: Path | None = None, progress: Any = None) -> None:
        self.runs += 1
        if not self._started:
            self._target.start(run_dir, progress)  # its log stays in the first run's directory
            self._started = True

    def stop(self) -> None:
        """A run ended: the target stays up for the next one (a dead one is started again)."""
        if self._started and not self._target.alive():
            self._target.stop()
            self._started = False

    def close(self) -> None:
        if self._started:
            self._started = False
            self._target.stop()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)
