"""Loaders that turn trace files into Workloads, one module per format, and the detection that picks one.

`load(path)` detects the format from the file's first bytes (Parquet magic, a JSON object or a CSV header) after
undoing gzip/zstd compression; `format=` overrides it. `columns` maps workload columns to file columns for the
generic formats (csv, jsonl, parquet). Every problem with the file raises `InputFileError` naming the file and,
where it can, the line.
"""

from __future__ import annotations

from pathlib import Path

from burststudio import json_text, limits
from burststudio.errors import InputFileError, UserError
from burststudio.workload.formats import io

# Format names, in the order `--format` lists them.
FORMATS: tuple[str, ...] = ("burstgpt", "azure", "mooncake", "csv", "jsonl", "parquet", "workload")
# The formats whose columns the user describes (a column mapping, a prefix block length).
GENERIC: tuple[str, ...] = ("csv", "jsonl", "parquet")


def _check_format(format: str) -> str:
    name = format.strip().lower()
    if name not in FORMATS:
        raise UserError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
    return name


def detect_format(path: str | Path) -> str:
    """The format name of a file, from its first bytes (compression undone); raises InputFileError if none fits."""
    from burststudio.workload.formats import azure, burstgpt, csvfile, mooncake

    path = Path(path)
    if io.is_parquet(path):
        from burststudio.workload.formats.table import is_workload_parquet

        return "workload" if is_workload_parquet(path) else "parquet"
    head = io.read_head(path)
    line = io.first_line(head)
    if not line:
        raise InputFileError(str(path), "empty file")
    if line.startswith(b"{"):
        try:
            first = json_text.loads(line, finite=False)
        except json_text.BadJSON as exc:
            raise InputFileError(str(path), "unknown format: the first line starts like JSON but cannot be read "
                                 f"({exc.message})", line=1) from None
        return "mooncake" if isinstance(first, dict) and mooncake.matches(first) else "jsonl"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(str(path), "unknown format: not text, JSON lines or Parquet") from None
    if b"," not in line:
        raise InputFileError(str(path), "unknown format: the first line is neither a CSV header nor a JSON object "
                             f"({line[:60].decode('utf-8', 'replace')!r})", line=1)
    header = csvfile.header_names(path, head)
    if burstgpt.matches(header):
        return "burstgpt"
    if azure.matches(header):
        return "azure"
    return "csv"


def _container(path: Path) -> str:
    """csv, jsonl or parquet: the generic reader for a file whose columns the user describes."""
    if io.is_parquet(path):
        return "parquet"
    line = io.first_line(io.read_head(path))
    return "jsonl" if line.startswith(b"{") else "csv"


def resolve_format(path: str | Path, format: str | None = None, columns: dict[str, str] | None = None) -> str:
    """The format `load` will read `path` as: `format` if given, else detected.

    With a column mapping and no `format`, the generic reader of the file's kind (csv, jsonl, parquet) is used:
    the mapping says what the columns mean.
    """
    from burststudio.workload.formats import csvfile

    path = Path(path)
    if format is not None:
        fmt = _check_format(format)
    elif columns:
        fmt = _container(path)
    else:
        fmt = detect_format(path)
        if fmt == "csv":
            # A CSV that matches no known trace is usable only if its columns are named like workload columns.
            header = csvfile.header_names(path)
            if not all(name in header for name in ("arrival_s", "prompt_tokens", "output_tokens")):
                raise InputFileError(
                    str(path), f"unknown format: the header matches no known trace ({', '.join(header)}); give "
                    "--format and --columns, e.g. --columns arrival_s=ts,prompt_tokens=in,output_tokens=out", line=1)
    if columns and fmt not in GENERIC:
        raise UserError(f"a column mapping applies to the csv, jsonl and parquet formats, not to {fmt}")
    return fmt


def load(path: str | Path, format: str | None = None, columns: dict[str, str] | None = None,
         block_tokens: int | None = None):
    """A Workload from a trace file. `format` overrides detection; `columns` ({workload column -> file column})
    applies to csv, jsonl and parquet (see `resolve_format`), and so does `block_tokens`: the tokens each id of a
    `prefix_blocks` column stands for (default DEFAULT_PREFIX_BLOCK_TOKENS; Mooncake's are 512 by definition). A
    file of more rows than the request limit (burststudio.limits) is refused while it is read."""
    path = Path(path)
    fmt = resolve_format(path, format, columns)
    if block_tokens is not None:
        if isinstance(block_tokens, bool) or not isinstance(block_tokens, int) or block_tokens < 1:
            raise UserError(f"block_tokens must be a whole number of tokens >= 1, got {block_tokens!r}")
        if fmt not in GENERIC:
            raise UserError(f"block_tokens applies to the csv, jsonl and parquet formats, not to {fmt} "
                            "(its own files say how long a prefix block is)")
    with limits.building(f"the workload of {path}"):
        return _load(path, fmt, columns, block_tokens)


def _load(path: Path, fmt: str, columns: dict[str, str] | None, block_tokens: int | None):
    from burststudio.workload.formats import azure, burstgpt, mooncake, table

    if fmt == "burstgpt":
        return burstgpt.load(path)
    if fmt == "azure":
        return azure.load(path)
    if fmt == "mooncake":
        return mooncake.load(path)
    if fmt == "csv":
        w = table.load_csv(path, columns)
    elif fmt == "jsonl":
        w = table.load_jsonl(path, columns)
    elif fmt == "parquet":
        w = table.load_parquet(path, columns)
    else:
        return table.load_workload(path)
    if block_tokens is not None:
        w.meta.prefix_block_tokens = int(block_tokens)
    return w


__all__ = ["FORMATS", "detect_format", "load", "resolve_format"]
