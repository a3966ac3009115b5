"""Waking the dispatcher within tens of microseconds of a moment, without spinning the event loop to get there.

An event loop's timers fire up to a millisecond late (libuv and epoll count whole milliseconds), so a request that
must leave at its time cannot wait on one for its last millisecond. Yielding to the loop (`sleep(0)`) through that
millisecond costs a loop iteration every few microseconds: at 200 requests/s about a sixth of the client's CPU. A
thread's `time.sleep` (nanosleep) wakes within tens of microseconds instead; it then wakes the loop through its
self-pipe, and the dispatcher spins on the clock for what is left (a fraction of a millisecond).
"""

from __future__ import annotations

import asyncio
import threading
import time


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


class Waker:
    """One pending wake-up at a time (the dispatcher waits for one request at a time)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._job: tuple[int, asyncio.AbstractEventLoop, asyncio.Future] | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    async def until(self, due_ns: int) -> None:
        """Return at `due_ns` (perf_counter_ns) or a little after, never before."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="burststudio-waker", daemon=True)
                self._thread.start()
            self._job = (due_ns, loop, fut)
            self._cv.notify()
        try:
            await fut
        finally:
            with self._cv:
                if self._job is not None and self._job[2] is fut:
                    self._job = None

    def _run(self) -> None:
        perf = time.perf_counter_ns
        while True:
            with self._cv:
                while self._job is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                due, loop, fut = self._job  # type: ignore[misc]
                self._job = None
            while (left := due - perf()) > 0:
                time.sleep(left / 1e9)
            try:
                loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(1.0)
