"""Reading chosen CSV columns by header name with pyarrow, and pointing at the line when a file is bad.

The fast path is one multithreaded pyarrow read. pyarrow's own errors name no line when it reads in parallel, so
only when that read fails (or a later check finds a bad value) a second, serial pass reads the same columns as
text: its invalid-row handler gives the line of a row with the wrong number of fields, and a bisection of casts
finds the first value that does not convert, without a Python loop over rows.
"""

from __future__ import annotations

import csv
import io as _io
from pathlib import Path
from typing import Callable

from burststudio.errors import InputFileError
from burststudio.workload.formats.io import first_line, open_stream, read_head

# pyarrow's read block; bigger blocks mean fewer chunks to combine for multi-million-row files.
BLOCK_SIZE = 8 << 20


def header_names(path: str | Path, head: bytes | None = None) -> list[str]:
    """The column names of the header line; raises for an empty file."""
    head = read_head(path) if head is None else head
    line = first_line(head)
    if not line:
        raise InputFileError(str(path), "empty file")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError(str(path), "not a text file (unknown format)", line=1) from None
    return [name.strip() for name in next(csv.reader(_io.StringIO(text)))]


def require_columns(path: str | Path, header: list[str], required: list[str]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise InputFileError(str(path), f"missing column {names} (the header has: {', '.join(header)})", line=1)


def read_columns(path: str | Path, header: list[str], types: dict, *, required: list[str]):
    """A pyarrow Table of the columns of `types` (file column -> arrow type) that the header has.

    `required` columns must be in the header. Blank cells become nulls; the caller decides whether a null is allowed.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    require_columns(path, header, required)
    include = [c for c in types if c in header]
    column_types = {c: types[c] for c in include}
    convert = pacsv.ConvertOptions(
        include_columns=include,
        column_types=column_types,
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    with open_stream(path) as stream:
        try:
            table = pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(use_threads=True, block_size=BLOCK_SIZE),
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            raise locate_error(path, include, column_types, str(exc)) from None
        except (OSError, pa.ArrowException) as exc:
            raise InputFileError(str(path), f"cannot be read ({exc})") from None
    if table.num_rows == 0:
        raise InputFileError(str(path), "has a header but no data rows", line=2)
    return contiguous(table)


def contiguous(table):
    """The table with each column in one chunk, combined one column at a time.

    `Table.combine_chunks` would hold two full copies of a multi-million-row file at once; releasing each chunked
    column as soon as its combined copy exists keeps the peak at one copy plus one column.
    """
    import pyarrow as pa

    names = table.column_names
    columns = [table.column(i) for i in range(len(names))]
    del table
    pool = pa.default_memory_pool()
    for i, col in enumerate(columns):
        if isinstance(col, pa.ChunkedArray):
            columns[i] = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            del col
            # The freed chunks are small; hand them back so that they do not add to the peak (about -150 MB on
            # a 5.3M-row file).
            pool.release_unused()
    return pa.Table.from_arrays(columns, names=names)


def _text_pass(path: str | Path, include: list[str]):
    """Serial read of `include` as text, blank lines kept as all-null rows; returns (table, bad rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad: list[tuple[int, str, int, int]] = []

    def on_invalid(row) -> str:
        bad.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    with open_stream(path) as stream:
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=include,
                column_types={c: pa.string() for c in include},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    return table, bad


def first_unconvertible(values, to_type) -> int | None:
    """Index of the first value of a string array that does not cast to `to_type`, or None.

    Bisection over slices: only the failing half is split again, so the work is about twice one cast.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    def fails(lo: int, hi: int) -> bool:
        try:
            pc.cast(values.slice(lo, hi - lo), to_type)
            return False
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return True

    lo, hi = 0, len(values)
    if hi == 0 or not fails(lo, hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(lo, mid):
            hi = mid
        else:
            lo = mid
    return lo


def _describe(to_type) -> str:
    import pyarrow as pa

    if pa.types.is_integer(to_type):
        return "not a whole number"
    if pa.types.is_floating(to_type):
        return "not a number"
    if pa.types.is_timestamp(to_type):
        return "not a date-time"
    return f"not a {to_type}"


def locate_error(path: str | Path, include: list[str], column_types: dict, arrow_message: str) -> InputFileError:
    """The InputFileError for a read that pyarrow refused, naming the line where the second pass finds it."""
    import pyarrow as pa

    try:
        table, bad = _text_pass(path, include)
    except pa.ArrowException:  # the text pass fails alike (e.g. a header without a line end and no rows)
        message = arrow_message.replace("\n", " ").strip()
        return InputFileError(str(path), f"cannot be read as CSV ({message})")
    if bad:
        number, text, expected, actual = bad[0]
        snippet = text if len(text) <= 60 else text[:57] + "..."
        return InputFileError(
            str(path), f"truncated or malformed row: {actual} fields where the header has {expected} ({snippet!r})",
            line=number if number > 0 else None,
        )
    for name in include:
        to_type = column_types.get(name)
        if to_type is None:
            continue
        col = table.column(name).combine_chunks()
        idx = first_unconvertible(col, to_type)
        if idx is not None:
            # The text pass keeps blank lines as rows and has no header row: line = index + 2.
            return InputFileError(str(path), f"{_describe(to_type)} in column {name!r}: {col[idx].as_py()!r}",
                                  line=idx + 2)
    message = arrow_message.replace("\n", " ").strip()
    return InputFileError(str(path), f"cannot be read as CSV ({message})")


def row_locator(path: str | Path, include: list[str]) -> Callable[[int], int | None]:
    """Row index of the fast read (blank lines skipped) -> 1-based line in the file, computed only when asked."""

    def locate(row: int) -> int | None:
        import numpy as np
        import pyarrow.compute as pc

        table, bad = _text_pass(path, include)
        if bad or table.num_rows == 0:
            return None
        blank = None
        for name in include:
            isnull = table.column(name).is_null()
            blank = isnull if blank is None else pc.and_(blank, isnull)
        nonblank = np.flatnonzero(~blank.to_numpy(zero_copy_only=False))
        if row >= len(nonblank):
            return None
        return int(nonblank[row]) + 2

    return locate
