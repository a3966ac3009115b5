"""How much a command may build: the one request limit, its byte budget, and the checks made before building.

Every command that builds a workload (synthesis, a trace file read, a transform that replicates rows, a simulation)
estimates the rows and bytes of what it is about to build and calls `check` first, so that a value with a few
digits too many is refused in one line naming the key, instead of growing for a minute and ending in "out of
memory". The limit is counted in requests; the bytes a build may take follow from it (`BYTES_PER_REQUEST` each),
so raising one raises both.

The default, 10 million requests: the largest trace files BurstGPT ships (5.3M rows) load under it with room,
synthesising that many takes about 4 s and 0.6 GB here, and a replay of them at 1,000 requests/s lasts close to
three hours. Azure's one-week 2024 traces (16.8M, 27.3M rows) need `--max-requests 30000000` (or the preset's
`[workload] max_requests`).

The command line sets the limit for the extent of one command (`allow`); a preset's own key applies where the
command gave none (`preset_limit`). A context variable carries it so that every place that builds (the loaders,
the generators, the transforms, the simulator) reads the same value without each signature on the way taking it.
Standard library only: `burststudio.workload` and `burststudio.targets` both import it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from contextvars import ContextVar
from pathlib import Path
from typing import Iterable, Iterator

from burststudio.errors import UserError

MAX_REQUESTS = 10_000_000
# The bytes a build may take per request of the limit: 10 GB at the default. A workload table takes 50-60 bytes a
# row while it is synthesised; a simulated request about 5 kB plus 70 bytes a token (both measured): this budget
# lets a simulation of a million short requests run and refuses one of a billion tokens.
BYTES_PER_REQUEST = 1000
# A preset is a page of settings; the longest real ones (fitted windows, a profile of 86,400 values) stay under
# 2 MB, and TOML parses about 1.6 MB a second (a 72 MB file took 45 s and 2.5 GB).
PRESET_MAX_BYTES = 4_000_000
# A cost profile is a few dozen numbers.
PROFILE_MAX_BYTES = 1_000_000

FLAG = "--max-requests"
PRESET_KEY = "workload.max_requests"

_limit: ContextVar[tuple[int, str] | None] = ContextVar("burststudio_max_requests", default=None)


class SizeError(UserError):
    """What a command was asked to build is larger than the limit (or than the memory it found)."""


def current() -> tuple[int, str | None]:
    """(the limit, what set it: the flag, the preset key, or None for the default). Read it before handing work to
    other threads (pyarrow reads files on its own): a context variable is not seen there."""
    value = _limit.get()
    return (MAX_REQUESTS, None) if value is None else value


def max_requests() -> int:
    return current()[0]


def max_bytes() -> int:
    return max_requests() * BYTES_PER_REQUEST


@contextlib.contextmanager
def allow(n: int | None, source: str = FLAG) -> Iterator[None]:
    """The limit is `n` requests inside the block (None: leave it as it is); `n` was checked where it entered (the
    flag as the preset key, the key by its Param: a whole number >= 1)."""
    if n is None:
        yield
        return
    token = _limit.set((int(n), source))
    try:
        yield
    finally:
        _limit.reset(token)


def adopt_preset_limit(n: int | None) -> None:
    """A preset's `[workload] max_requests` for the rest of the current context (a command runs in a context of its
    own: cli.main), unless the command line set the limit already. Replicating rows for the replay (its
    rate_scale) then counts against the preset's limit too, not only building the workload."""
    if n is not None and _limit.get() is None:
        _limit.set((int(n), PRESET_KEY))


@contextlib.contextmanager
def preset_limit(n: int | None) -> Iterator[None]:
    """A preset's `[workload] max_requests`, unless the command line set the limit already."""
    if n is None or _limit.get() is not None:
        yield
        return
    with allow(n, PRESET_KEY):
        yield


def size_text(n: float) -> str:
    """Bytes as people read them: 512 B, 3.4 MB, 96 GB."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def count_text(n: float) -> str:
    return f"{n:,.0f}" if n < 1e15 else f"{n:.2g}"


def check(rows: float, nbytes: float, *, what: str, keys: Iterable[str] = (), at_least: bool = False,
          limit: tuple[int, str | None] | None = None) -> None:
    """Refuse (SizeError, one line) when `rows` requests or `nbytes` bytes pass the limit; `keys` are the settings
    (or the file) that made the size, `what` says what would have been built; `at_least`: counted while reading,
    there may be more; `limit`: `current()` as read in the thread that set it."""
    limit, source = current() if limit is None else limit
    if rows <= limit and nbytes <= limit * BYTES_PER_REQUEST:
        return
    keys = list(keys)
    source = f"{source} {limit:,}" if source else f"the default {limit:,}"
    named = f"{', '.join(keys)}: " if keys else ""
    raise SizeError(f"{named}{what} would be {'at least' if at_least else 'about'} {count_text(rows)} requests and "
                    f"{size_text(nbytes)}, more than "
                    f"the limit ({source} requests, {size_text(limit * BYTES_PER_REQUEST)}); raise it with "
                    f"{FLAG} N or [workload] max_requests if this is meant")


@contextlib.contextmanager
def building(what: str) -> Iterator[None]:
    """Turns running out of memory inside the block into one line that names what was being built."""
    try:
        yield
    except MemoryError:
        raise SizeError(f"out of memory while building {what} (limit {max_requests():,} requests); ask for "
                        "less (a shorter duration, a lower rate, fewer requests)") from None


def file_problem(path: str | Path, max_size: int | None = None, what: str = "file") -> str | None:
    """Why `path` cannot be read as a `what` (not a regular file: a FIFO would block, a device never ends; or
    larger than `max_size`), or None. A stat, never an open, so a FIFO cannot hang it."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None  # the reader says it its own way
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return None
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        return f"is {kind}, not a regular file; save what it gives to a file and name that"
    if max_size is not None and st.st_size > max_size:
        return f"is {size_text(st.st_size)}, more than the {size_text(max_size)} a {what} may hold"
    return None
