"""The dispatcher's wake-up thread: never early, a fraction of a millisecond late on an idle loop."""

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from burststudio.replay.wake import Waker  # noqa: E402


def test_wakes_at_its_time_never_before():
    async def main():
        w = Waker()
        late = []
        try:
            for _ in range(200):
                due = time.perf_counter_ns() + 1_000_000
                await w.until(due)
                late.append(time.perf_counter_ns() - due)
        finally:
            w.close()
        return np.array(late) / 1e9

    late = asyncio.run(main())
    assert late.min() >= 0
    assert np.median(late) < 0.001  # a loop timer alone is up to a millisecond late


def test_a_cancelled_wait_leaves_the_waker_usable():
    async def main():
        w = Waker()
        try:
            t = asyncio.ensure_future(w.until(time.perf_counter_ns() + 50_000_000))
            await asyncio.sleep(0.005)
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
            due = time.perf_counter_ns() + 2_000_000
            await asyncio.wait_for(w.until(due), 1.0)
            return time.perf_counter_ns() >= due
        finally:
            w.close()

    assert asyncio.run(main())
