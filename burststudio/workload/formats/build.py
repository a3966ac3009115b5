"""Turning columns read from a file into a checked Workload: the steps every loader shares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from burststudio.errors import InputFileError
from burststudio.workload.formats import checks
from burststudio.workload.formats.checks import Locator
from burststudio.workload.formats.io import COMPRESSION_SUFFIXES
from burststudio.workload.model import COLUMNS, Workload, WorkloadMeta

# Columns holding counts: read as float64 where a file may write `12.0`, then checked whole and cast.
INTEGER_COLUMNS = ("prompt_tokens", "output_tokens", "num_images")
# An offset (`+00:00`, `-0500`) or `Z` after the time part marks a date-time as absolute (UTC).
_ZONE = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


def trace_name(path: str | Path) -> str:
    """`BurstGPT_1.csv.gz` -> `BurstGPT_1`."""
    p = Path(path)
    if p.suffix.lower() in COMPRESSION_SUFFIXES:
        p = p.with_suffix("")
    return p.stem


def looks_numeric(text: str) -> bool:
    return bool(_NUMBER.match(text))


def timestamp_type(sample: str) -> pa.DataType:
    """Naive nanosecond timestamps, or UTC ones when the sample carries a zone."""
    return pa.timestamp("ns", tz="UTC") if _ZONE.search(sample.strip()) else pa.timestamp("ns")


def whole_numbers(path: str | Path, values: np.ndarray, name: str, locate: Locator) -> np.ndarray:
    """float64 counts -> int64, refusing fractions; the values were bounded first (`checks.counts`)."""
    if values.dtype.kind in "iu":
        return values.astype(np.int64, copy=False)
    frac = values != np.floor(values)
    if frac.any():
        row = int(np.argmax(frac))
        raise checks._error(path, f"not a whole number in column {name!r}: {checks.shown(values[row])}", row, locate)
    return values.astype(np.int64)


def to_numpy(column) -> np.ndarray:
    """A pyarrow column as numpy; goes through a single Array because ChunkedArray.to_numpy imports pandas."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column.to_numpy(zero_copy_only=False)


def arrival_seconds(path: str | Path, column, name: str, locate: Locator, per_second: float = 1.0):
    """(seconds as float64, first value as datetime64[ns] or None, utc) from a numeric or timestamp column."""
    checks.no_nulls(path, column, name, locate)
    if pa.types.is_timestamp(column.type):
        ns = to_numpy(column.cast(pa.int64()))
        return ns, True, column.type.tz is not None
    values = to_numpy(column).astype(np.float64, copy=False)
    if per_second != 1.0:
        # Division (not multiplication by 1e-3) gives the correctly rounded seconds of a millisecond count.
        values = values / per_second
    checks.seconds(path, values, name, locate)
    return values, False, False


def assemble(
    path: str | Path,
    fmt: str,
    columns: dict[str, Any],
    locate: Locator,
    *,
    file_names: dict[str, str] | None = None,
    arrival_per_s: float = 1.0,
    extra: dict[str, Any] | None = None,
    block_tokens: int | None = None,
) -> Workload:
    """A Workload from columns already named as workload columns (pyarrow arrays).

    `file_names` maps each workload column back to the file's name for it, for error messages. The arrival column
    may be numbers (in units of 1/`arrival_per_s` seconds) or timestamps; it is re-based so that the first request is at 0.
    `block_tokens` is the tokens each `prefix_blocks` id stands for, kept in the workload's metadata.
    """
    file_names = file_names or {}
    label = lambda col: file_names.get(col, col)  # noqa: E731
    for req in ("arrival_s", "prompt_tokens", "output_tokens"):
        checks.no_nulls(path, columns[req], label(req), locate)

    times, is_datetime, utc = arrival_seconds(path, columns["arrival_s"], label("arrival_s"), locate, arrival_per_s)
    n = len(times)
    out: dict[str, Any] = {}
    for name in INTEGER_COLUMNS:
        if name in columns:
            col = columns[name]
            if name == "num_images":
                col = col.fill_null(0)
            values = to_numpy(col)
            checks.counts(path, values, label(name), locate)
            out[name] = whole_numbers(path, values, label(name), locate)
    if "recorded_latency_s" in columns:
        lat = columns["recorded_latency_s"].cast(pa.float64())
        filled = to_numpy(lat.fill_null(0.0))
        checks.seconds(path, filled, label("recorded_latency_s"), locate)
        out["recorded_latency_s"] = lat
    for name in ("model", "source", "session_id", "failed", "prefix_blocks"):
        if name in columns:
            out[name] = columns[name]

    order = checks.sort_order(path, times)
    if order is not None:
        times = times[order]
        idx = pa.array(order)
        out = {k: (v[order] if isinstance(v, np.ndarray) else v.take(idx)) for k, v in out.items()}

    meta = WorkloadMeta(name=trace_name(path), origin_path=str(path), origin_format=fmt, extra=dict(extra or {}),
                        prefix_block_tokens=block_tokens)
    if order is not None:
        meta.extra["sorted_on_load"] = True
    if n:
        first = times[0]
        if is_datetime:
            ns = times.astype(np.int64) - int(first)
            seconds = ns / 1e9
            unit = "us" if int(first) % 1000 == 0 else "ns"
            meta.start_datetime = str(np.datetime_as_string(np.datetime64(int(first), "ns"), unit=unit,
                                                        timezone="UTC" if utc else "naive"))
            meta.start_time_of_day_s = (int(first) % (86400 * 10**9)) / 1e9
        else:
            seconds = times - first
            if first != 0:
                meta.extra["arrival_offset_s"] = float(first)
    else:
        seconds = np.zeros(0)

    table = {"arrival_s": pa.array(seconds, type=pa.float64())}
    for name, values in out.items():
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
        if arr.type != COLUMNS[name]:
            try:
                arr = arr.cast(COLUMNS[name])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputFileError(str(path), f"column {label(name)!r} cannot be read as {name} ({exc})") from None
        table[name] = arr
    return Workload(pa.table(table), meta)
