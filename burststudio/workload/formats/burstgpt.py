"""BurstGPT traces (Wang et al., KDD 2025): `BurstGPT_{1,2,3}.csv` and `BurstGPT_without_fails_{1,2,3}.csv`.

Files 1-2: `Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type`; file 3 inserts `Session ID` and
`Elapsed time` after `Timestamp`. Columns are read by header name, never by position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from burststudio.workload.formats import checks, csvfile
from burststudio.workload.formats.build import to_numpy, trace_name, whole_numbers
from burststudio.workload.model import Workload, WorkloadMeta

NAME = "burstgpt"
# Header names that identify the format (both layouts have them).
SIGNATURE = ("Timestamp", "Request tokens", "Response tokens")
# File column -> arrow type read. Counts are read as float64 and checked whole, so `12.0` is accepted. The two
# columns with a handful of values are read dictionary-encoded: a fraction of the memory while parsing millions of rows.
_LABEL = pa.dictionary(pa.int32(), pa.string())
TYPES = {
    "Timestamp": pa.float64(),
    "Session ID": pa.string(),
    "Elapsed time": pa.float64(),
    "Model": _LABEL,
    "Request tokens": pa.float64(),
    "Response tokens": pa.float64(),
    "Log Type": _LABEL,
}


def matches(header: list[str]) -> bool:
    """A BurstGPT header: `Timestamp` and at least two of its other names (so that a file missing one required
    column is still recognised, and the loader can say which column is missing)."""
    return "Timestamp" in header and sum(name in header for name in TYPES if name != "Timestamp") >= 2


def spread_within_seconds(ts: np.ndarray) -> np.ndarray:
    """Offsets that spread the rows sharing a timestamp evenly across that second, in file order.

    BurstGPT timestamps have 1-second resolution, and rows sharing a second were sent one after another within
    it, not at once. Replaying them at one instant would invent a burst the service never saw, so the k rows of
    second s are placed at s + i/k, i = 0..k-1: the first keeps the second's start, none reaches the next second,
    and the order of the file is kept. `ts` must be sorted.
    """
    n = ts.size
    if n == 0:
        return np.zeros(0)
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    counts = np.diff(np.r_[starts, n])
    position = np.arange(n) - np.repeat(starts, counts)
    return position / np.repeat(counts, counts).astype(np.float64)


def load(path: str | Path, header: list[str] | None = None) -> Workload:
    header = csvfile.header_names(path) if header is None else header
    include = [c for c in TYPES if c in header]
    table = csvfile.read_columns(path, header, TYPES, required=list(SIGNATURE))
    locate = csvfile.row_locator(path, include)

    for name in SIGNATURE:
        checks.no_nulls(path, table.column(name), name, locate)
    ts = to_numpy(table.column("Timestamp"))
    checks.seconds(path, ts, "Timestamp", locate)
    prompt = to_numpy(table.column("Request tokens"))
    output = to_numpy(table.column("Response tokens"))
    checks.counts(path, prompt, "Request tokens", locate)
    checks.counts(path, output, "Response tokens", locate)
    prompt = whole_numbers(path, prompt, "Request tokens", locate)
    output = whole_numbers(path, output, "Response tokens", locate)
    latency = None
    if "Elapsed time" in table.column_names:
        latency = table.column("Elapsed time")
        checks.seconds(path, to_numpy(latency.fill_null(0.0)), "Elapsed time", locate)

    order = checks.sort_order(path, ts)
    if order is not None:
        ts, prompt, output = ts[order], prompt[order], output[order]
        table = table.take(pa.array(order))
        if latency is not None:
            latency = table.column("Elapsed time")

    first = float(ts[0])
    # Sub-second timestamps (none in the published files) already say when within the second a row came.
    whole = bool(np.all(ts == np.floor(ts)))
    arrival = ts - first
    if whole:
        arrival = arrival + spread_within_seconds(ts)

    cols: dict[str, pa.Array | pa.ChunkedArray] = {
        "arrival_s": pa.array(arrival, type=pa.float64()),
        "prompt_tokens": pa.array(prompt, type=pa.int64()),
        "output_tokens": pa.array(output, type=pa.int64()),
    }
    if "Model" in table.column_names:
        cols["model"] = table.column("Model").cast(pa.string())
    if "Log Type" in table.column_names:
        cols["source"] = table.column("Log Type").cast(pa.string())
    if "Session ID" in table.column_names:
        cols["session_id"] = table.column("Session ID")
    # A failed request has no response; it stays in the workload, flagged, so that the failure share is kept and
    # replay can skip it instead of sending a zero-length prompt.
    cols["failed"] = pa.array(output == 0, type=pa.bool_())
    if latency is not None:
        cols["recorded_latency_s"] = latency

    meta = WorkloadMeta(
        name=trace_name(path),
        origin_path=str(path),
        origin_format=NAME,
        start_time_of_day_s=checks.time_of_day(first),
        extra={"first_timestamp_s": first, "spread_within_second": whole,
               **({"sorted_on_load": True} if order is not None else {})},
    )
    return Workload(pa.table(cols), meta)
