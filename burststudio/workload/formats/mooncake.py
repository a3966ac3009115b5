"""Mooncake traces (Qin et al., FAST 2025): one JSON object a line.

`timestamp` is milliseconds from the start of the trace, `input_length` / `output_length` are tokens, `hash_ids`
holds one id per 512-token prefix block (equal ids = a shared prefix) and becomes `prefix_blocks`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from burststudio.workload.formats import jsonfile
from burststudio.workload.formats.build import assemble
from burststudio.workload.model import Workload

NAME = "mooncake"
SIGNATURE = ("timestamp", "input_length", "output_length")
SCHEMA = pa.schema([
    ("timestamp", pa.float64()),
    ("input_length", pa.float64()),
    ("output_length", pa.float64()),
    ("hash_ids", pa.list_(pa.int64())),
])
KINDS = {"timestamp": "number", "input_length": "integer", "output_length": "integer", "hash_ids": "integer list"}
BLOCK_TOKENS = 512  # tokens per hash_ids entry, as the trace defines them
MAPPING = {"timestamp": "arrival_s", "input_length": "prompt_tokens", "output_length": "output_tokens",
           "hash_ids": "prefix_blocks"}


def matches(first: dict) -> bool:
    """`timestamp` and one of Mooncake's length fields (the loader then names any missing one)."""
    return "timestamp" in first and any(key in first for key in ("input_length", "output_length", "hash_ids"))


def load(path: str | Path) -> Workload:
    table = jsonfile.read_jsonl(path, SCHEMA, KINDS)
    columns = {MAPPING[c]: table.column(c) for c in MAPPING}
    if columns["prefix_blocks"].null_count == len(table):
        del columns["prefix_blocks"]
    return assemble(path, NAME, columns, jsonfile.row_locator(path), file_names={v: k for k, v in MAPPING.items()},
                    arrival_per_s=1000.0, block_tokens=BLOCK_TOKENS)
