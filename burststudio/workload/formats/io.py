"""Opening trace files: plain, gzip and zstd alike.

Compression is recognised by the file's magic bytes, not only by its suffix, so a BurstGPT file that was compressed
and renamed (or a `.csv` that is really gzip) still opens. pyarrow decompresses while it reads, so readers see one
byte stream whatever the file holds.
"""

from __future__ import annotations

import os
from pathlib import Path

from burststudio import limits
from burststudio.errors import InputFileError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"
# Suffixes that name a compression, stripped before a file's own suffix is read (`x.csv.gz` -> `.csv`).
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# Enough of the decompressed start of a file to read a header and a first data line.
HEAD_BYTES = 64 * 1024


def _raw_start(path: Path, n: int = 8) -> bytes:
    # Every reader comes here first: a FIFO or a device is refused before anything opens it (an open of a FIFO
    # waits for a writer, and each pass over a file opens it again).
    problem = limits.file_problem(path)
    if problem:
        raise InputFileError(str(path), problem)
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except FileNotFoundError:
        raise InputFileError(str(path), "no such file") from None
    except IsADirectoryError:
        raise InputFileError(str(path), "is a directory, not a file") from None
    except OSError as exc:
        raise InputFileError(str(path), f"cannot be read ({exc.strerror or exc})") from None


def compression_of(path: str | Path) -> str | None:
    """'gzip', 'zstd' or None (plain), from the magic bytes."""
    start = _raw_start(Path(path))
    if start.startswith(GZIP_MAGIC):
        return "gzip"
    if start.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def plain_suffix(path: str | Path) -> str:
    """The file's suffix once a compression suffix is taken off, lower-case (`trace.CSV.gz` -> `.csv`)."""
    p = Path(path)
    if p.suffix.lower() in COMPRESSION_SUFFIXES:
        p = p.with_suffix("")
    return p.suffix.lower()


def is_parquet(path: str | Path) -> bool:
    return _raw_start(Path(path), 4) == PARQUET_MAGIC


# (path, mtime, size, limit) of files already counted within the limit: a load opens its file several times.
_COUNTED: set[tuple] = set()
COUNT_CHUNK = 8 << 20


def check_stream_size(path: str | Path, compression: str | None) -> None:
    """Refuse a file whose decompressed stream holds more lines than the request limit allows rows (or more bytes
    than its budget), counted in one pass before any reader parses it, so that a small gzip that expands to
    gigabytes stops at the limit instead of filling memory. Lines bound rows from above (a row is at least a line),
    so no file within the limit is refused. A plain file too small to hold that many lines is not read. (Counting
    inside the reader's own stream instead left pyarrow's read-ahead threads hanging the exit after a refusal.)"""
    import pyarrow as pa

    limit = limits.current()
    max_lines, max_bytes = limit[0] + 1, limit[0] * limits.BYTES_PER_REQUEST
    st = os.stat(path)
    if compression is None and st.st_size <= max_bytes and st.st_size // 2 + 1 <= max_lines:
        return
    key = (str(path), st.st_mtime_ns, st.st_size, limit[0])
    if key in _COUNTED:
        return
    lines = nbytes = 0
    try:
        with pa.input_stream(str(path), compression=compression) as stream:
            while True:
                chunk = stream.read(COUNT_CHUNK)
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                nbytes += len(chunk)
                if lines > max_lines or nbytes > max_bytes:
                    limits.check(lines - 1, nbytes, what="the trace (counted while decompressing it)",
                                 keys=[str(path)], at_least=True, limit=limit)
    except (OSError, pa.ArrowException):
        return  # a damaged stream: the reader names what is wrong with it, at its line
    _COUNTED.add(key)


def open_stream(path: str | Path):
    """A pyarrow input stream of the file's decompressed bytes, once its size passed `check_stream_size`."""
    import pyarrow as pa

    compression = compression_of(path)
    check_stream_size(path, compression)
    try:
        return pa.input_stream(str(path), compression=compression)
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(str(path), f"cannot be opened ({exc})") from None


def check_parquet_size(path: str | Path) -> None:
    """A Parquet file says its rows and their decompressed bytes in its footer: refuse one over the limit before
    reading a column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(str(path))
    except (OSError, pa.ArrowException):
        return  # the reader names what is wrong with the file
    nbytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    limits.check(meta.num_rows, nbytes, what="the table", keys=[str(path)])


def read_head(path: str | Path, n: int = HEAD_BYTES) -> bytes:
    """The first `n` decompressed bytes (fewer if the file is shorter)."""
    import pyarrow as pa

    with open_stream(path) as stream:
        try:
            return stream.read(n)
        except (OSError, pa.ArrowException) as exc:
            raise InputFileError(str(path), f"cannot be decompressed ({exc})") from None


def first_line(head: bytes) -> bytes:
    """The first non-blank line of `head` (without its line ending); a UTF-8 byte-order mark is dropped."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    for line in head.splitlines():
        if line.strip():
            return line.strip()
    return b""
