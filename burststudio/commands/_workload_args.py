"""Arguments and loading shared by the commands that read a workload file (`inspect`, `convert`, ...).

Only argparse at import time: the loaders (pyarrow, numpy) are imported when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from burststudio.errors import UserError

# Mirrors burststudio.workload.formats.FORMATS (a test keeps them equal); listed here so that building the
# parser imports no heavy package.
FORMAT_NAMES: tuple[str, ...] = ("burstgpt", "azure", "mooncake", "csv", "jsonl", "parquet", "workload")


def add_workload_arguments(parser: argparse.ArgumentParser, *, file_help: str | None = None) -> None:
    """FILE, --format, --columns and --block-tokens."""
    parser.add_argument(
        "file", metavar="FILE",
        help=file_help or "trace or workload file (CSV, JSON lines or Parquet; gzip or zstd compressed too)",
    )
    parser.add_argument(
        "--format", metavar="F", default=None,
        help=f"read FILE as this format instead of detecting it: {', '.join(FORMAT_NAMES)}",
    )
    parser.add_argument(
        "--columns", metavar="MAP", default=None,
        help="for csv, jsonl and parquet files: workload column = file column pairs, e.g. "
        "arrival_s=ts,prompt_tokens=in,output_tokens=out (arrival may be seconds or date-times)",
    )
    parser.add_argument(
        "--block-tokens", metavar="N", default=None,
        help="for jsonl and parquet files with a prefix_blocks column: the tokens each id stands for (default 512)",
    )
    from burststudio.commands._preset_args import add_limit_argument

    add_limit_argument(parser)


def parse_columns(text: str | None) -> dict[str, str] | None:
    """`a=b,c=d` -> {"a": "b", "c": "d"}; None for no mapping."""
    if text is None or not text.strip():
        return None
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UserError(f"--columns: {pair.strip()!r} is not workload_column=file_column")
        if key in mapping:
            raise UserError(f"--columns: {key!r} is given twice")
        mapping[key] = value
    return mapping


def resolve_and_load(args: argparse.Namespace) -> tuple[Any, str]:
    """(Workload, format name) for args.file; anything the loader fixed on its own is printed as one line each."""
    import warnings

    from burststudio.workload.formats import load, resolve_format
    from burststudio.workload.formats.checks import TraceWarning

    from burststudio.commands._number_args import check_number_flags

    check_number_flags(args, {"block_tokens": ("workload", "block_tokens")})
    columns = parse_columns(getattr(args, "columns", None))
    fmt = resolve_format(args.file, getattr(args, "format", None), columns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TraceWarning)
        workload = load(args.file, fmt, columns, getattr(args, "block_tokens", None))
    command = getattr(args, "command", None) or "burststudio"
    for w in caught:
        if issubclass(w.category, TraceWarning):
            print(f"burststudio {command}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return workload, fmt


def load_workload(args: argparse.Namespace):
    """The Workload of args.file (see `resolve_and_load`)."""
    return resolve_and_load(args)[0]
