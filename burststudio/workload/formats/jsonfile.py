"""Reading JSON-lines files with pyarrow, and pointing at the line when one is bad.

pyarrow's JSON errors count rows within a block, so on failure a second pass parses the lines one by one with the
standard library to name the file's line. That pass runs only when the file is already known to be bad.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from burststudio import json_text
from burststudio.errors import InputFileError
from burststudio.workload.formats.io import open_stream

BLOCK_SIZE = 16 << 20


def _lines(path: str | Path):
    """(line number, text) of each non-blank line of the decompressed file."""
    with open_stream(path) as stream:
        number = 0
        rest = b""
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            parts = (rest + chunk).split(b"\n")
            rest = parts.pop()
            for raw in parts:
                number += 1
                if raw.strip():
                    yield number, raw
        if rest.strip():
            yield number + 1, rest


def _kind_ok(value, kind: str) -> bool:
    if value is None:
        return True
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "integer list":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if kind == "number or date-time":
        return isinstance(value, (int, float, str)) and not isinstance(value, bool)
    return True


def locate_error(path: str | Path, kinds: dict[str, str], arrow_message: str) -> InputFileError:
    """The InputFileError for a file pyarrow refused: the first line that is not an object of the right kinds."""
    for number, raw in _lines(path):
        try:
            obj = json_text.loads(raw, finite=False)
        except json_text.BadJSON as exc:
            return InputFileError(str(path), exc.message, line=number)
        if not isinstance(obj, dict):
            return InputFileError(str(path), "not a JSON object", line=number)
        for key, kind in kinds.items():
            if key in obj and not _kind_ok(obj[key], kind):
                article = "an" if kind[0] in "aeiou" else "a"
                return InputFileError(str(path), f"{key!r} is not {article} {kind}: {repr(obj[key])[:60]}", line=number)
    message = arrow_message.replace("\n", " ").strip()
    return InputFileError(str(path), f"cannot be read as JSON lines ({message})")


def read_jsonl(path: str | Path, schema, kinds: dict[str, str]):
    """A pyarrow Table of the fields of `schema` (others ignored). `kinds` describes fields for error messages."""
    import pyarrow as pa
    import pyarrow.json as pajson

    with open_stream(path) as stream:
        try:
            table = pajson.read_json(
                stream,
                read_options=pajson.ReadOptions(use_threads=True, block_size=BLOCK_SIZE),
                parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
            )
        except pa.ArrowInvalid as exc:
            raise locate_error(path, kinds, str(exc)) from None
        except (OSError, pa.ArrowException) as exc:
            raise InputFileError(str(path), f"cannot be read ({exc})") from None
    if table.num_rows == 0:
        raise InputFileError(str(path), "empty file")
    return table


def row_locator(path: str | Path) -> Callable[[int], int | None]:
    """Row index (blank lines skipped) -> 1-based line, by a pass over the lines when asked."""

    def locate(row: int) -> int | None:
        for i, (number, _raw) in enumerate(_lines(path)):
            if i == row:
                return number
        return None

    return locate
