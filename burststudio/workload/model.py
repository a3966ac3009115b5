"""The Workload: one row per request, sorted by arrival, plus where it came from.

Stored as a pyarrow Table so that loaders, Parquet files and transforms share one columnar form without copies;
numeric columns come out as numpy arrays for statistics.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

# Column name -> arrow type. The first three are required; the rest appear only where the source has them.
REQUIRED_COLUMNS: dict[str, pa.DataType] = {
    "arrival_s": pa.float64(),
    "prompt_tokens": pa.int64(),
    "output_tokens": pa.int64(),
}
OPTIONAL_COLUMNS: dict[str, pa.DataType] = {
    "model": pa.string(),
    "source": pa.string(),
    "session_id": pa.string(),
    "failed": pa.bool_(),
    "prefix_blocks": pa.list_(pa.int64()),
    # The latency the source service recorded for the request (BurstGPT's `Elapsed time`), in seconds.
    "recorded_latency_s": pa.float64(),
    # Images attached to the request (Azure multimodal 2025).
    "num_images": pa.int64(),
}
COLUMNS: dict[str, pa.DataType] = {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}

# The largest values a workload holds, checked where a file's values enter (workload/formats/checks.py):
# - a count (tokens, images) of one request: a thousand times the longest context of any model, and small enough
#   that a billion of them still sum inside int64;
MAX_COUNT = 10**9
# - a time in seconds (arrival, recorded latency): 2^63 ns, the span a nanosecond timestamp holds (292 years);
#   float64 still tells microseconds apart there, and a plan's integer nanoseconds still fit.
MAX_SECONDS = 2**63 / 1e9

_META_KEY = b"burststudio.workload"
# Tokens one `prefix_blocks` id stands for where the source does not say: Mooncake's hash_ids cover 512-token blocks.
DEFAULT_PREFIX_BLOCK_TOKENS = 512
# The leading word of each WorkloadMeta annotation -> the JSON value it takes.
_META_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float), "dict": dict,
                                                   "list": list}


@dataclass
class WorkloadMeta:
    """Where a workload came from and how it was made."""

    name: str = "workload"
    origin_path: str | None = None
    origin_format: str | None = None
    # Generator name and its parameters, for synthesised workloads.
    generator: dict[str, Any] | None = None
    seed: int | None = None
    # Seconds after local midnight of the first request, where the trace tells it (carries the daily cycle).
    start_time_of_day_s: float | None = None
    # ISO 8601 date-time of the first request, where the trace has absolute times.
    start_datetime: str | None = None
    # Tokens each `prefix_blocks` id stands for (Mooncake: 512; a synthesised workload: its sessions' block_tokens;
    # a generic trace: its `block_tokens` option); None: DEFAULT_PREFIX_BLOCK_TOKENS. The replay plan and the
    # simulator both read it through `Workload.prefix_block_tokens`.
    prefix_block_tokens: int | None = None
    # Transforms applied since loading, in order, as human-readable strings.
    transforms: list[str] = field(default_factory=list)
    # Anything else a loader wants to keep (e.g. counts of rows it dropped or sorted).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "WorkloadMeta":
        """The metadata a workload file stores; ValueError (json_text.BadJSON among them) naming what is wrong."""
        from burststudio import json_text

        data = json_text.loads(text, finite=False)  # a generator spec may hold inf (a window to the end)
        if not isinstance(data, dict):
            raise ValueError("its metadata is not a JSON object")
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            kind = next(k for word, k in _META_TYPES.items() if f.type.startswith(word))
            ok = (value is None and "None" in f.type) or (isinstance(value, kind) and not isinstance(value, bool))
            if ok and isinstance(value, float) and not math.isfinite(value):
                ok = False
            if not ok:
                raise ValueError(f"its metadata's {f.name} is {type(value).__name__}, not {f.type}")
            values[f.name] = value
        return cls(**values)

    def derive(self, transform: str | None = None, **changes: Any) -> "WorkloadMeta":
        """A copy with some fields changed and, optionally, one more transform recorded."""
        new = dataclasses.replace(self, transforms=list(self.transforms), extra=dict(self.extra), **changes)
        if transform:
            new.transforms.append(transform)
        return new


def _schema_for(names: list[str]) -> pa.Schema:
    return pa.schema([pa.field(n, COLUMNS[n]) for n in COLUMNS if n in names])


class Workload:
    """An immutable table of requests sorted by `arrival_s` (seconds from the first request)."""

    __slots__ = ("table", "meta")

    def __init__(self, table: pa.Table, meta: WorkloadMeta | None = None, *, _checked: bool = False):
        if not _checked:
            table = _normalise(table)
        self.table = table
        self.meta = meta or WorkloadMeta()

    # Construction -----------------------------------------------------------------------------------------------
    @classmethod
    def from_columns(
        cls,
        arrival_s: Any,
        prompt_tokens: Any,
        output_tokens: Any,
        meta: WorkloadMeta | None = None,
        *,
        rebase: bool = False,
        **optional: Any,
    ) -> "Workload":
        """Build from arrays; sorts by arrival (stable) and, with `rebase`, shifts the first arrival to 0."""
        cols: dict[str, Any] = {
            "arrival_s": np.asarray(arrival_s, dtype=np.float64),
            "prompt_tokens": np.asarray(prompt_tokens, dtype=np.int64),
            "output_tokens": np.asarray(output_tokens, dtype=np.int64),
        }
        for name, values in optional.items():
            if name not in OPTIONAL_COLUMNS:
                raise ValueError(f"unknown workload column {name!r}")
            if values is not None:
                cols[name] = values
        arrivals = cols["arrival_s"]
        if rebase and len(arrivals):
            cols["arrival_s"] = arrivals - arrivals.min()
        table = pa.table({n: pa.array(v, type=COLUMNS[n]) if not isinstance(v, (pa.Array, pa.ChunkedArray)) else v
                          for n, v in cols.items()})
        return cls(table, meta)

    # Access ------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        return f"Workload({self.meta.name!r}, {len(self)} requests, {self.duration_s:.1f} s, columns={self.columns})"

    @property
    def columns(self) -> list[str]:
        return self.table.column_names

    def has(self, name: str) -> bool:
        return name in self.table.column_names

    def numpy(self, name: str) -> np.ndarray:
        """A numeric column as a numpy array (zero-copy where arrow allows)."""
        return self.table.column(name).to_numpy()

    @property
    def arrival_s(self) -> np.ndarray:
        return self.numpy("arrival_s")

    @property
    def prompt_tokens(self) -> np.ndarray:
        return self.numpy("prompt_tokens")

    @property
    def output_tokens(self) -> np.ndarray:
        return self.numpy("output_tokens")

    @property
    def failed(self) -> np.ndarray:
        """Boolean mask of rows the trace recorded as failed (all False where the trace has no such column)."""
        if not self.has("failed"):
            return np.zeros(len(self), dtype=bool)
        return self.table.column("failed").fill_null(False).to_numpy(zero_copy_only=False)

    @property
    def prefix_block_tokens(self) -> int:
        """Tokens per `prefix_blocks` id."""
        return int(self.meta.prefix_block_tokens or DEFAULT_PREFIX_BLOCK_TOKENS)

    @property
    def duration_s(self) -> float:
        if len(self) == 0:
            return 0.0
        a = self.arrival_s
        return float(a[-1] - a[0])

    def to_pandas(self):
        return self.table.to_pandas()

    # Derivation --------------------------------------------------------------------------------------------------
    def with_table(self, table: pa.Table, transform: str | None = None, **meta_changes: Any) -> "Workload":
        """A new workload from a table derived from this one (re-sorted and checked)."""
        return Workload(table, self.meta.derive(transform, **meta_changes))

    def take(self, indices: Any, transform: str | None = None) -> "Workload":
        """Rows at `indices` (kept in arrival order)."""
        idx = np.sort(np.asarray(indices, dtype=np.int64))
        return Workload(self.table.take(pa.array(idx)), self.meta.derive(transform), _checked=True)

    def mask(self, keep: np.ndarray, transform: str | None = None) -> "Workload":
        return Workload(self.table.filter(pa.array(np.asarray(keep, dtype=bool))), self.meta.derive(transform),
                        _checked=True)

    # Files -------------------------------------------------------------------------------------------------------
    def to_parquet(self, path: str | Path) -> None:
        import pyarrow.parquet as pq

        meta = dict(self.table.schema.metadata or {})
        meta[_META_KEY] = self.meta.to_json().encode()
        pq.write_table(self.table.replace_schema_metadata(meta), str(path), compression="zstd")

    @classmethod
    def from_parquet(cls, path: str | Path) -> "Workload":
        """Read a file written by `to_parquet`."""
        import pyarrow.parquet as pq

        table = pq.read_table(str(path))
        raw = (table.schema.metadata or {}).get(_META_KEY)
        meta = WorkloadMeta.from_json(raw) if raw else WorkloadMeta(name=Path(path).stem, origin_path=str(path))
        return cls(table.replace_schema_metadata(None), meta)

    def equals(self, other: "Workload") -> bool:
        return self.table.equals(other.table) and self.meta == other.meta


def _normalise(table: pa.Table) -> pa.Table:
    """Check columns and types, cast where lossless, order columns canonically and sort by arrival (stable)."""
    names = table.column_names
    for req in REQUIRED_COLUMNS:
        if req not in names:
            raise ValueError(f"workload table lacks the column {req!r}")
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown workload columns: {', '.join(unknown)}")
    schema = _schema_for(names)
    table = table.select([f.name for f in schema])
    if not table.schema.equals(schema, check_metadata=False):
        table = table.cast(schema)
    for req in REQUIRED_COLUMNS:
        if table.column(req).null_count:
            raise ValueError(f"workload column {req!r} has missing values")
    if table.num_rows > 1:
        a = table.column("arrival_s").to_numpy()
        if np.any(a[1:] < a[:-1]):
            order = np.argsort(a, kind="stable")
            table = table.take(pa.array(order))
    return table.combine_chunks() if table.num_rows and any(c.num_chunks > 1 for c in table.columns) else table


def concat(workloads: list[Workload], meta: WorkloadMeta) -> Workload:
    """Rows of several workloads in one, sorted by arrival (columns missing from some become nulls)."""
    tables = [w.table for w in workloads]
    names = [n for n in COLUMNS if any(n in t.column_names for t in tables)]
    filled = []
    for t in tables:
        cols = {n: (t.column(n) if n in t.column_names else pa.nulls(t.num_rows, COLUMNS[n])) for n in names}
        filled.append(pa.table(cols, schema=_schema_for(names)))
    return Workload(pa.concat_tables(filled), meta)

