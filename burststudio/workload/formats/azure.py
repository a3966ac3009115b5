"""Azure LLM inference traces (Patel et al., ISCA 2024, and the 2024 / 2025 releases of Azure/AzurePublicDataset).

- 2023: `TIMESTAMP,ContextTokens,GeneratedTokens`, naive date-times with 100 ns digits (`2023-11-16 18:17:03.9799600`).
- 2024: the same columns; UTC with an offset, the fractional part sometimes missing (`2024-05-10 00:00:01+00:00`).
- 2025 multimodal: `TIMESTAMP,NumImages,ContextTokens,GeneratedTokens`, ISO 8601 with `Z`.
The zone (or its absence) is taken from the first data row; pyarrow parses every row natively.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path

import pyarrow as pa

from burststudio.workload.formats import csvfile
from burststudio.workload.formats.build import assemble, timestamp_type
from burststudio.workload.formats.io import read_head
from burststudio.workload.model import Workload

NAME = "azure"
SIGNATURE = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
# File column -> workload column.
MAPPING = {"TIMESTAMP": "arrival_s", "ContextTokens": "prompt_tokens", "GeneratedTokens": "output_tokens",
           "NumImages": "num_images"}


def matches(header: list[str]) -> bool:
    """`TIMESTAMP` and one of the token columns (the loader then names any missing column)."""
    return "TIMESTAMP" in header and any(name in header for name in ("ContextTokens", "GeneratedTokens"))


def first_value(head: bytes, header: list[str], column: str) -> str:
    """`column`'s value in the first data row of `head` ('' when there is none)."""
    rows = csv.reader(_io.StringIO(head.decode("utf-8", errors="replace"), newline=""))
    try:
        for row in rows:
            if row and [c.strip() for c in row] != header and any(c.strip() for c in row):
                try:
                    return row[header.index(column)]
                except (IndexError, ValueError):  # a short row, or a header without the column (named later)
                    return ""
    except csv.Error:
        return ""  # the full read names the bad line
    return ""


def load(path: str | Path, header: list[str] | None = None) -> Workload:
    head = read_head(path)
    header = csvfile.header_names(path, head) if header is None else header
    types = {
        "TIMESTAMP": timestamp_type(first_value(head, header, "TIMESTAMP")),
        "ContextTokens": pa.float64(),
        "GeneratedTokens": pa.float64(),
        "NumImages": pa.float64(),
    }
    table = csvfile.read_columns(path, header, types, required=list(SIGNATURE))
    include = [c for c in types if c in header]
    columns = {MAPPING[c]: table.column(c) for c in include}
    names = {MAPPING[c]: c for c in include}
    return assemble(path, NAME, columns, csvfile.row_locator(path, include), file_names=names)
