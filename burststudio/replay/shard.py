"""Dispatch spread over several processes, for rates one event loop cannot hold.

Shard k of m sends plan requests k, k+m, k+2m, ... from its own process, with its own event loop, session and
warmed connection pool (`python -m burststudio.replay.shard`, started by the engine). All shards share the run's
time origin: perf_counter_ns is CLOCK_MONOTONIC on Linux, one clock for every process of the machine. The engine's
process keeps the single journal: shards hand each request's record over a pipe (batched every
`FLUSH_S`), the engine writes it as it would its own, so the run directory, `report` and the accounting identity
are the same with or without shards.

Protocol (one pipe each way; lines of ASCII after the job):
  engine -> shard  8-byte length + pickle of the job; `go <t0_ns>`; later `stop` (or end of file: the engine died)
  shard -> engine  `ready <connections>`; `S <i> <sent_ns>` as a request leaves; `E <json record>` as it ends
                   (RequestRecord.to_wire); `D` when every request of the shard has ended
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import struct
import sys
from dataclasses import dataclass
from typing import Any, Callable

from burststudio.settings import TimeoutSettings

FLUSH_S = 0.02
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0


@dataclass
class ShardJob:
    plan: Any
    base_url: str
    headers: dict[str, str]
    timeouts: TimeoutSettings
    shard: tuple[int, int]
    limit: int
    warm: int
    max_concurrency: int = 0
    uvloop: bool = True
    drain_s: float = 0.0
    opening_max: int = 32


# Engine side ----------------------------------------------------------------------------------------------------------
class ShardedDispatcher:
    """The Dispatcher's interface (run_open, in_flight, tasks, cancel_all) over m shard processes."""

    def __init__(self, jobs: list[ShardJob], *, on_sent: Callable[[Any], None], on_end: Callable[[Any], None]):
        self.jobs = jobs
        self.on_sent = on_sent
        self.on_end = on_end
        self.procs: list[asyncio.subprocess.Process] = []
        self.readers: set[asyncio.Task] = set()
        self.sent = 0
        self.ended = 0
        self.warmed = 0
        self.t0_ns = 0
        self._stopped = False

    @property
    def in_flight(self) -> int:
        return self.sent - self.ended

    @property
    def tasks(self) -> set[asyncio.Task]:
        return {t for t in self.readers if not t.done()}

    async def start(self) -> None:
        """Start every shard and wait until each has its connections open."""
        from burststudio.errors import UserError

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [_package_root(), env.get("PYTHONPATH", "")] if p)
        for job in self.jobs:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "burststudio.replay.shard", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=env, limit=1 << 24)
            data = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.write(struct.pack("<Q", len(data)) + data)  # type: ignore[union-attr]
            self.procs.append(proc)
        try:
            for proc in self.procs:
                await proc.stdin.drain()  # type: ignore[union-attr]
                line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)  # type: ignore[union-attr]
                if not line.startswith(b"ready"):
                    raise UserError(f"a dispatch shard did not start (exit code {await proc.wait()})")
                self.warmed += int(line.split()[1])
        except (asyncio.TimeoutError, ConnectionError, BrokenPipeError) as exc:
            await self.kill()
            raise UserError(f"a dispatch shard did not start: {type(exc).__name__}") from None

    async def run_open(self, stop: asyncio.Event, t0_ns: int | None = None) -> None:
        t0 = self.t0_ns if t0_ns is None else t0_ns
        for proc in self.procs:
            proc.stdin.write(b"go %d\n" % t0)  # type: ignore[union-attr]
        self.readers = {asyncio.create_task(self._read(p)) for p in self.procs}
        stopper = asyncio.create_task(stop.wait())
        try:
            pending = set(self.readers)
            while pending:
                done, _ = await asyncio.wait(pending | {stopper}, return_when=asyncio.FIRST_COMPLETED)
                pending -= done
                if stopper in done and not self._stopped:
                    await self._send_stop()
                    # Shards cancel what is in flight and report it; a shard that hangs is not waited for forever.
                    await asyncio.wait(pending, timeout=STOP_GRACE_S)
                    break
        finally:
            stopper.cancel()
            await self.kill()

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        from burststudio.replay.client import RequestRecord

        out = proc.stdout
        while True:
            line = await out.readline()  # type: ignore[union-attr]
            if not line:
                return
            tag = line[:1]
            if tag == b"E":
                rec = RequestRecord.from_wire(json.loads(line[2:]))
                self.ended += 1
                self.on_end(rec)
            elif tag == b"S":
                _, i, sent = line.split()
                rec = RequestRecord(int(i), 0, 0, 0, 0)
                rec.sent_ns = int(sent)
                self.sent += 1
                self.on_sent(rec)
            elif tag == b"D":
                return

    async def _send_stop(self) -> None:
        self._stopped = True
        for proc in self.procs:
            try:
                proc.stdin.write(b"stop\n")  # type: ignore[union-attr]
                await proc.stdin.drain()  # type: ignore[union-attr]
            except (ConnectionError, BrokenPipeError, RuntimeError):
                pass

    async def cancel_all(self) -> None:
        if not self._stopped:
            await self._send_stop()
        if self.readers:
            await asyncio.wait(self.readers, timeout=STOP_GRACE_S)
        await self.kill()

    async def kill(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                try:
                    proc.stdin.close()  # type: ignore[union-attr]
                except (RuntimeError, OSError):
                    pass
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        for t in self.readers:
            t.cancel()


def make_jobs(plan, base_url: str, headers: dict[str, str], timeouts: TimeoutSettings, shards: int, *,
              limit: int, warm: int, max_concurrency: int = 0, uvloop: bool = True, drain_s: float = 0.0,
              opening_max: int = 32) -> list[ShardJob]:
    per_limit = max(1, -(-limit // shards))
    per_cap = -(-max_concurrency // shards) if max_concurrency > 0 else 0
    # The server's accept queue is shared by every shard: they split the connections it may be opening.
    per_opening = max(1, -(-opening_max // shards))
    return [ShardJob(plan, base_url, headers, timeouts, (k, shards), per_limit, max(1, -(-warm // shards)),
                     per_cap, uvloop, drain_s, per_opening) for k in range(shards)]


def _package_root() -> str:
    import burststudio

    return os.path.dirname(os.path.dirname(os.path.abspath(burststudio.__file__)))


# Shard side -----------------------------------------------------------------------------------------------------------
def main() -> None:
    # Ctrl-C reaches the whole process group: the engine decides when the shards stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin = sys.stdin.buffer
    head = stdin.read(8)
    if len(head) < 8:
        return
    (size,) = struct.unpack("<Q", head)
    job: ShardJob = pickle.loads(stdin.read(size))
    if job.uvloop:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            pass
    asyncio.run(_shard(job))


async def _shard(job: ShardJob) -> None:
    from burststudio.replay.pool import make_session, warm_pool
    from burststudio.replay.dispatch import Dispatcher

    loop = asyncio.get_running_loop()
    out_fd = sys.stdout.buffer.fileno()
    session = make_session(job.limit, job.timeouts.connect_s, job.opening_max)
    warmed = await warm_pool(session, job.base_url, job.headers, job.warm)
    os.write(out_fd, b"ready %d\n" % warmed)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    go = await reader.readline()
    if not go.startswith(b"go "):
        await session.close()
        return
    t0_ns = int(go.split()[1])
    stop = asyncio.Event()

    async def watch() -> None:
        await reader.readline()  # `stop`, or end of file when the engine went away
        stop.set()

    buf: list[bytes] = []

    def flush() -> None:
        if buf:
            data = b"".join(buf)
            buf.clear()
            view = memoryview(data)
            while view:
                view = view[os.write(out_fd, view):]

    async def flusher() -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            flush()

    def on_sent(r) -> None:
        # Straight to the pipe, not the batch: the engine journals it within a loop turn, so a kill loses at most
        # the few lines in the pipe, not a batch's worth (a whole line is below PIPE_BUF: one write, never torn).
        os.write(out_fd, b"S %d %d\n" % (r.i, r.sent_ns))

    def on_end(r) -> None:
        buf.append(b"E " + json.dumps(r.to_wire(), separators=(",", ":")).encode() + b"\n")

    d = Dispatcher(job.plan, session, job.base_url, job.headers, job.timeouts, t0_ns=t0_ns, on_sent=on_sent,
                   on_end=on_end, max_concurrency=job.max_concurrency, shard=job.shard, drain_s=job.drain_s)
    aux = [asyncio.create_task(watch()), asyncio.create_task(flusher())]
    try:
        await d.run_open(stop)
    finally:
        if d.tasks:
            await d.cancel_all()
        for t in aux:
            t.cancel()
        flush()
        os.write(out_fd, b"D\n")
        await session.close()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the engine went away: nothing left to tell it
        pass
    except KeyboardInterrupt:
        pass
    sys.exit(0)
