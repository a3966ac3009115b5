"""SIGINT (Ctrl-C) and SIGTERM while a replay runs: the first stops it in order, the second at once.

In order: nothing more is sent, requests in flight are cancelled (and counted `cancelled`), the summary is written
and a server BurstStudio started is stopped; the run exits with 130. At once: the server BurstStudio started and the
dispatch shards are killed, what the journal holds is flushed, one line says how to rebuild the summary
(`burststudio report`), and the process exits with 130 without waiting for anything.

The handlers are Python signal handlers for the whole run; while the event loop runs, the loop's own handlers call
the same `signal()` (asyncio resets the process's handlers when its loop closes, so they are installed again then).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

from burststudio.vocab import EXIT_STOPPED

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    def __init__(self) -> None:
        self.count = 0
        self.on_first: Callable[[], None] | None = None
        self.cleanups: list[Callable[[], None]] = []
        self.hard_message = "stopped at once"
        self._saved: dict[int, Any] = {}

    @staticmethod
    def available() -> bool:
        return threading.current_thread() is threading.main_thread()

    def save(self) -> None:
        """Remember the handlers in force now, to put back by `restore()`."""
        if self.available():
            self._saved = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def install(self) -> None:
        if self.available():
            for sig in SIGNALS:
                signal.signal(sig, self._handler)

    def restore(self) -> None:
        if self.available():
            for sig, handler in self._saved.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _handler(self, signum: int, frame: Any) -> None:
        self.signal(signum)

    def signal(self, signum: int = signal.SIGINT) -> None:
        self.count += 1
        if self.count == 1:
            if self.on_first is not None:
                self.on_first()
            return
        self.hard_stop()

    def hard_stop(self) -> None:
        for fn in self.cleanups:
            try:
                fn()
            except BaseException:  # noqa: BLE001 (exiting regardless: each cleanup is a best effort)
                pass
        try:
            os.write(2, f"burststudio replay: {self.hard_message}\n".encode())
        except OSError:
            pass
        os._exit(EXIT_STOPPED)


def kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
