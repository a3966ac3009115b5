"""Opening trace files: plain, gzip and zstd alike.

Compression is recognised by the file's magic bytes, not only by its suffix, so a BurstGPT file that was compressed
and renamed (or a `.csv` that is really gzip) still opens. pyarrow decompresses while it reads, so readers see one
byte stream whatever the file holds.
"""

from __future__ import annotations

from pathlib import Path

from burststudio.errors import InputFileError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARQUET_MAGIC = b"PAR1"
# Suffixes that name a compression, stripped before a file's own suffix is read (`x.csv.gz` -> `.csv`).
COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# Enough of the decompressed start of a file to read a header and a first data line.
HEAD_BYTES = 64 * 1024


def _raw_start(path: Path, n: int = 8) -> bytes:
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


def open_stream(path: str | Path):
    """A pyarrow input stream of the file's decompressed bytes."""
    import pyarrow as pa

    compression = compression_of(path)
    try:
        return pa.input_stream(str(path), compression=compression)
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(str(path), f"cannot be opened ({exc})") from None


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
