"""Generic tables: CSV, JSON lines or Parquet with a column mapping, and Parquet files written by BurstStudio.

The mapping is {workload column -> file column}, e.g. `arrival_s=ts,prompt_tokens=in,output_tokens=out`. Without
one, file columns already named like workload columns are taken as they are. The arrival column may hold seconds
(numbers) or date-times (ISO 8601, naive or with a zone); either way the workload starts at 0.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from burststudio import json_text
from burststudio.errors import InputFileError, UserError
from burststudio.workload.formats import checks, csvfile, jsonfile
from burststudio.workload.formats.build import assemble, looks_numeric, timestamp_type
from burststudio.workload.formats.io import check_parquet_size, first_line, read_head
from burststudio.workload.model import COLUMNS, REQUIRED_COLUMNS, Workload

WORKLOAD_META_KEY = b"burststudio.workload"
# Arrow type each workload column is read as from text (counts as float64, checked whole later).
TEXT_TYPES: dict[str, pa.DataType] = {
    "prompt_tokens": pa.float64(),
    "output_tokens": pa.float64(),
    "num_images": pa.float64(),
    "recorded_latency_s": pa.float64(),
    "model": pa.string(),
    "source": pa.string(),
    "session_id": pa.string(),
    "failed": pa.bool_(),
}
JSON_KINDS = {"prompt_tokens": "integer", "output_tokens": "integer", "num_images": "integer",
              "recorded_latency_s": "number", "model": "string", "source": "string", "session_id": "string",
              "failed": "bool", "prefix_blocks": "integer list", "arrival_s": "number or date-time"}


def check_mapping(columns: dict[str, str]) -> None:
    unknown = [k for k in columns if k not in COLUMNS]
    if unknown:
        raise UserError(f"unknown workload column {unknown[0]!r} in the column mapping "
                        f"(known: {', '.join(COLUMNS)})")


def resolve_mapping(path: str | Path, available: list[str], columns: dict[str, str] | None, *,
                    line: int | None = 1) -> dict[str, str]:
    """{workload column -> file column} for the columns to read; raises naming what is missing."""
    if columns:
        check_mapping(columns)
        mapping = dict(columns)
        # Unmapped workload columns that the file names as they are come along too.
        for name in COLUMNS:
            if name not in mapping and name in available and name not in mapping.values():
                mapping[name] = name
    else:
        mapping = {name: name for name in COLUMNS if name in available}
    for wanted, file_col in mapping.items():
        if file_col not in available:
            raise InputFileError(str(path), f"missing column {file_col!r} (for {wanted}; the file has: "
                                 f"{', '.join(available)})", line=line)
    for req in REQUIRED_COLUMNS:
        if req not in mapping:
            raise InputFileError(
                str(path), f"no column for {req!r}: give --columns {req}=<column> (the file has: "
                f"{', '.join(available)})", line=line)
    return mapping


def load_csv(path: str | Path, columns: dict[str, str] | None = None) -> Workload:
    head = read_head(path)
    header = csvfile.header_names(path, head)
    mapping = resolve_mapping(path, header, columns)
    if "prefix_blocks" in mapping:
        raise InputFileError(str(path), "prefix_blocks needs a JSON-lines or Parquet file, not CSV", line=1)
    from burststudio.workload.formats.azure import first_value

    sample = first_value(head, header, mapping["arrival_s"])
    types = {mapping["arrival_s"]: pa.float64() if looks_numeric(sample) or not sample else timestamp_type(sample)}
    for name, file_col in mapping.items():
        if name != "arrival_s":
            types[file_col] = TEXT_TYPES[name]
    table = csvfile.read_columns(path, header, types, required=list(types))
    include = [c for c in types if c in header]
    cols = {name: table.column(file_col) for name, file_col in mapping.items()}
    return assemble(path, "csv", cols, csvfile.row_locator(path, include), file_names=mapping)


def load_jsonl(path: str | Path, columns: dict[str, str] | None = None) -> Workload:
    head = read_head(path)
    line = first_line(head)
    if not line:
        raise InputFileError(str(path), "empty file")
    try:
        first = json_text.loads(line, finite=False)
    except json_text.BadJSON as exc:
        raise InputFileError(str(path), exc.message, line=1) from None
    if not isinstance(first, dict):
        raise InputFileError(str(path), "not a JSON object", line=1)
    mapping = resolve_mapping(path, list(first), columns)
    arrival_sample = first.get(mapping["arrival_s"])
    arrival_type = timestamp_type(arrival_sample) if isinstance(arrival_sample, str) else pa.float64()
    fields = [pa.field(mapping["arrival_s"], arrival_type)]
    for name, file_col in mapping.items():
        if name != "arrival_s":
            fields.append(pa.field(file_col, COLUMNS[name] if name == "prefix_blocks" else TEXT_TYPES[name]))
    kinds = {file_col: JSON_KINDS[name] for name, file_col in mapping.items()}
    table = jsonfile.read_jsonl(path, pa.schema(fields), kinds)
    cols = {name: table.column(file_col) for name, file_col in mapping.items()}
    return assemble(path, "jsonl", cols, jsonfile.row_locator(path), file_names=mapping)


def _parquet_schema(path: str | Path):
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(str(path))
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(str(path), f"not a readable Parquet file ({exc})") from None


def is_workload_parquet(path: str | Path) -> bool:
    return WORKLOAD_META_KEY in (_parquet_schema(path).metadata or {})


def load_parquet(path: str | Path, columns: dict[str, str] | None = None) -> Workload:
    import pyarrow.parquet as pq

    schema = _parquet_schema(path)
    mapping = resolve_mapping(path, schema.names, columns, line=None)
    check_parquet_size(path)
    try:
        table = pq.read_table(str(path), columns=list(dict.fromkeys(mapping.values())))
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(str(path), f"cannot be read ({exc})") from None
    cols = {name: table.column(file_col) for name, file_col in mapping.items()}
    arrival = cols["arrival_s"]
    if not (pa.types.is_timestamp(arrival.type) or pa.types.is_integer(arrival.type)
            or pa.types.is_floating(arrival.type)):
        raise InputFileError(str(path), f"column {mapping['arrival_s']!r} holds {arrival.type}, "
                             "neither seconds nor date-times")
    if pa.types.is_timestamp(arrival.type) and arrival.type.unit != "ns":
        cols["arrival_s"] = arrival.cast(pa.timestamp("ns", tz=arrival.type.tz))
    # Parquet rows have no lines; errors name the row (1-based).
    return assemble(path, "parquet", cols, lambda row: None, file_names=mapping)


def load_workload(path: str | Path) -> Workload:
    """A file written by `Workload.to_parquet`, metadata (generator, seed, transforms) included; its values are
    checked as any trace's are (the file may have been written by another program)."""
    check_parquet_size(path)
    try:
        w = Workload.from_parquet(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(str(path), f"not a readable workload file ({exc})") from None
    except ValueError as exc:
        raise InputFileError(str(path), f"not a valid workload file ({exc})") from None
    no_line = lambda row: None  # noqa: E731 - Parquet rows have no lines: errors name the row
    checks.seconds(path, w.arrival_s, "arrival_s", no_line)
    for name in ("prompt_tokens", "output_tokens", "num_images"):
        if w.has(name):
            checks.counts(path, w.table.column(name).fill_null(0).to_numpy(), name, no_line)
    if w.has("recorded_latency_s"):
        checks.seconds(path, w.table.column("recorded_latency_s").fill_null(0.0).to_numpy(), "recorded_latency_s",
                       no_line)
    return w
