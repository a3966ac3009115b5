"""Transforms: each takes a Workload and returns a new one, recording itself in `meta.transforms`.

Bad arguments raise UserError (one line, no traceback at the command line).

Rate scaling (`rate_scale`) keeps the burst shape:
- factor < 1 thins the trace: each request is kept independently with probability `factor`.
- factor > 1 replicates: each request is sent floor(factor) or ceil(factor) times (ceil with probability
  factor - floor(factor), so the expected count is exactly factor * n). The original keeps its arrival time; each
  extra copy lands at a uniformly random point inside the gap between the request and the next one (the last
  request's copies fill the gap before it, so the span is unchanged). Copies thus stay where the traffic was: inside
  a burst the gaps are short and the copies stay in the burst; in a lull they spread over the lull. Counts per
  window scale by the factor, so the per-window profile keeps its shape (the index of dispersion over windows much
  longer than a gap scales by the factor too, as it does for any replicated count). Copies carry every column of
  their original (lengths, model, source, session, prefix blocks).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa

from burststudio import limits
from burststudio.errors import UserError
from burststudio.workload.model import Workload, WorkloadMeta, concat


def _fmt(x: float) -> str:
    return f"{x:g}"


def _shift_start(meta: WorkloadMeta, offset_s: float) -> dict:
    """Meta changes that move the workload's recorded start time by `offset_s` (the new first request)."""
    changes: dict = {}
    if offset_s == 0:
        return changes
    if meta.start_time_of_day_s is not None:
        changes["start_time_of_day_s"] = (meta.start_time_of_day_s + offset_s) % 86400.0
    if meta.start_datetime:
        try:
            changes["start_datetime"] = (datetime.fromisoformat(meta.start_datetime)
                                         + timedelta(seconds=offset_s)).isoformat()
        except ValueError:
            pass
    return changes


def _check_positive(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise UserError(f"{name} must be a positive number, got {_fmt(value)}")
    return value


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UserError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


# Selecting rows ---------------------------------------------------------------------------------------------------
def window(w: Workload, start_s: float | None = None, end_s: float | None = None, *,
           rebase: bool = True) -> Workload:
    """Requests with start_s <= arrival_s < end_s, re-based so the first kept request is at 0 (with `rebase`;
    without it every request keeps its time, as the replay's duration does).

    The recorded start time (time of day, date-time) moves with it, so a daily cycle stays aligned.
    """
    start = 0.0 if start_s is None else float(start_s)
    end = math.inf if end_s is None else float(end_s)
    if not math.isfinite(start) or start < 0:
        raise UserError(f"window start must be a number of seconds >= 0, got {start_s!r}")
    if not end > start:
        raise UserError(f"window end ({_fmt(end)} s) must be after its start ({_fmt(start)} s)")
    a = w.arrival_s
    lo, hi = np.searchsorted(a, [start, end], side="left")
    table = w.table.slice(int(lo), int(hi - lo))
    label = f"window({_fmt(start)}:{'' if math.isinf(end) else _fmt(end)} s)"
    offset = float(a[lo]) if hi > lo and rebase else 0.0
    if hi > lo and offset != 0.0:
        rebased = pa.array(a[lo:hi] - offset)
        table = table.set_column(table.column_names.index("arrival_s"), "arrival_s", rebased)
    return Workload(table, w.meta.derive(label, **_shift_start(w.meta, offset)), _checked=True)


def _values(x: str | Iterable[str]) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def filter_rows(w: Workload, model: str | Iterable[str] | None = None, source: str | Iterable[str] | None = None,
                failed: bool | None = None) -> Workload:
    """Rows whose model / source is one of the given values, and (if `failed` is given) that failed or not.

    Arrival times are kept as they are, so filtered parts of one trace stay aligned with each other.
    """
    import pyarrow.compute as pc

    keep = np.ones(len(w), dtype=bool)
    parts = []
    for column, wanted in (("model", model), ("source", source)):
        if wanted is None:
            continue
        values = _values(wanted)
        if not w.has(column):
            raise UserError(f"cannot filter by {column}: the workload {w.meta.name!r} has no {column} column")
        present = set(pc.unique(w.table.column(column)).to_pylist())
        missing = [v for v in values if v not in present]
        if missing and len(missing) == len(values):
            known = ", ".join(sorted(str(p) for p in present if p is not None)) or "none"
            raise UserError(f"no request has {column} {', '.join(map(repr, missing))} (present: {known})")
        hit = pc.is_in(w.table.column(column), value_set=pa.array(values, type=pa.string()))
        keep &= pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
        parts.append(f"{column}={'|'.join(values)}")
    if failed is not None:
        keep &= w.failed if failed else ~w.failed
        parts.append(f"failed={'yes' if failed else 'no'}")
    if not parts:
        return w.mask(keep, None)
    return w.mask(keep, f"filter({', '.join(parts)})")


def head(w: Workload, n: int) -> Workload:
    """The first n requests."""
    n = _check_count("head", n)
    return Workload(w.table.slice(0, min(n, len(w))), w.meta.derive(f"head({n})"), _checked=True)


def sample(w: Workload, n: int | None = None, fraction: float | None = None, seed: int | None = None) -> Workload:
    """A uniform random subset without replacement: exactly `n` rows, or round(fraction * rows) rows.

    Arrival times are kept (not re-based), so the sample spans the same time as the original.
    """
    if (n is None) == (fraction is None):
        raise UserError("sample needs exactly one of a row count or a fraction")
    if fraction is not None:
        fraction = float(fraction)
        if not 0 < fraction <= 1:
            raise UserError(f"sample fraction must be in (0, 1], got {_fmt(fraction)}")
        k = int(round(fraction * len(w)))
        label = f"sample({_fmt(fraction)}, seed {seed})"
    else:
        k = _check_count("sample size", n)
        if k > len(w):
            raise UserError(f"cannot sample {k} requests from a workload of {len(w)}")
        label = f"sample({k}, seed {seed})"
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(w), size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
    return w.take(idx, label)


# Changing time ----------------------------------------------------------------------------------------------------
def time_scale(w: Workload, factor: float) -> Workload:
    """Arrival times multiplied by `factor` (2 = twice as slow, 0.5 = twice the rate, same requests)."""
    factor = _check_positive("time-scale factor", factor)
    table = w.table.set_column(w.table.column_names.index("arrival_s"), "arrival_s", pa.array(w.arrival_s * factor))
    return Workload(table, w.meta.derive(f"time_scale(x{_fmt(factor)})"), _checked=True)


def rate_scale(w: Workload, factor: float, seed: int | None = None) -> Workload:
    """About factor * n requests over the same span, keeping the burst shape (rule in the module doc)."""
    factor = _check_positive("rate-scale factor", factor)
    label = f"rate_scale(x{_fmt(factor)}, seed {seed})"
    rng = np.random.default_rng(seed)
    n = len(w)
    if factor == 1 or n == 0:
        return w.mask(np.ones(n, dtype=bool), label)
    if factor < 1:
        return w.mask(rng.random(n) < factor, label)
    # Each copy is a row of the table and four numbers of its own while it is made.
    limits.check(n * factor, n * factor * (w.table.nbytes / n + 32), what=f"rate scaling x{_fmt(factor)} of "
                 f"{n:,} requests", keys=["rate_scale"])
    base = math.floor(factor)
    reps = base + (rng.random(n) < factor - base).astype(np.int64)
    idx = np.repeat(np.arange(n), reps)
    # Copy rank within its original: 0 is the original itself.
    rank = np.arange(idx.size) - np.repeat(np.cumsum(reps) - reps, reps)
    a = w.arrival_s
    gaps = np.diff(a)
    # The last request has no next gap: its copies go into the gap before it (negative offset), keeping the span.
    gap = np.append(gaps, -gaps[-1] if n > 1 else 0.0)
    arrivals = a[idx] + np.where(rank > 0, rng.random(idx.size) * gap[idx], 0.0)
    table = w.table.take(pa.array(idx))
    table = table.set_column(table.column_names.index("arrival_s"), "arrival_s", pa.array(arrivals))
    return Workload(table, w.meta.derive(label))


# Combining --------------------------------------------------------------------------------------------------------
def merge(workloads: Sequence[Workload], name: str | None = None) -> Workload:
    """All requests of several workloads on one time axis (each keeps its own arrival times)."""
    workloads = list(workloads)
    if not workloads:
        raise UserError("merge needs at least one workload")
    names = [x.meta.name for x in workloads]
    # One block length for the merged prefix ids: rows of two lengths would be read with one of them.
    lengths = {x.prefix_block_tokens for x in workloads if x.has("prefix_blocks")}
    if len(lengths) > 1:
        raise UserError("merge: the workloads' prefix_blocks stand for blocks of different lengths "
                        f"({', '.join(str(n) for n in sorted(lengths))} tokens)")
    first = workloads[0].meta
    meta = first.derive(f"merge({' + '.join(names)})", name=name or "+".join(names),
                        prefix_block_tokens=lengths.pop() if lengths else first.prefix_block_tokens)
    meta.extra["merged_from"] = [{"name": x.meta.name, "origin_path": x.meta.origin_path,
                                  "transforms": list(x.meta.transforms)} for x in workloads]
    return concat(workloads, meta)


# Parsing command-line values --------------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(ms|s|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {None: 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from '90', '90s', '20m', '1.5h', '250ms'."""
    m = _DURATION.match(str(text))
    if not m:
        raise UserError(f"{what} {text!r} is not a duration (examples: 90, 90s, 20m, 1.5h)")
    return float(m.group(1)) * _UNITS[m.group(2).lower() if m.group(2) else None]


def parse_window(text: str) -> tuple[float | None, float | None]:
    """START:END in durations (either side may be empty): '600:1200', '10m:20m', ':5m', '1h:'."""
    if ":" not in str(text):
        raise UserError(f"window {text!r} must be START:END (examples: 600:1200, 10m:20m, :5m, 1h:)")
    left, right = str(text).split(":", 1)
    start = parse_duration(left, "window start") if left.strip() else None
    end = parse_duration(right, "window end") if right.strip() else None
    if start is not None and end is not None and not end > start:
        raise UserError(f"window {text!r}: the end must be after the start")
    return start, end


def parse_sample(text: str) -> tuple[int | None, float | None]:
    """'1000' -> (1000, None); '0.1' or '10%' -> (None, 0.1)."""
    t = str(text).strip()
    try:
        if t.endswith("%"):
            return None, float(t[:-1]) / 100.0
        if re.fullmatch(r"[0-9]+", t):
            return int(t), None
        value = float(t)
    except ValueError:
        raise UserError(f"sample {text!r} must be a row count (1000) or a fraction (0.1, 10%)") from None
    if not 0 < value <= 1:
        raise UserError(f"sample {text!r} must be a row count (1000) or a fraction in (0, 1]")
    return None, value
