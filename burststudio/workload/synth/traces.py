"""Trace files a generator draws on (empirical lengths, real arrivals, hourly profiles, fitted windows)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from burststudio.errors import InputFileError, UserError
from burststudio.workload.model import Workload
from burststudio.workload.synth.spec import KeyPath, SpecError


def resolve_path(value: str, base_dir: Path | None) -> Path:
    p = Path(value).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def load_trace(value: str, fmt: str | None, base_dir: Path | None, path: KeyPath) -> Workload:
    """The workload of the trace named at key `path`; a missing file is a SpecError at that key."""
    p = resolve_path(value, base_dir)
    if not p.is_file():
        raise SpecError(path, f"no such trace file: {p}")
    st = p.stat()
    try:
        # Several keys often name the same trace (prompt, output, profile): read it once per content version.
        return _load(str(p.resolve()), st.st_mtime_ns, st.st_size, fmt)
    except InputFileError:
        raise  # names the file and its line: more use than the key
    except UserError as exc:  # e.g. an unknown format name
        raise SpecError((*path[:-1], "format"), str(exc)) from None


@lru_cache(maxsize=8)
def _load(path: str, _mtime_ns: int, _size: int, fmt: str | None) -> Workload:
    from burststudio.workload.formats import load

    w = load(path, format=fmt)
    if len(w) == 0:
        raise InputFileError(path, "the trace has no requests")
    return w


# The columns of a windows file (`windowed_gamma` with `windows_file`), as the inline windows table names them.
WINDOW_COLUMNS = ("duration_s", "rate", "cv")


def load_windows(value: str, base_dir: Path | None, path: KeyPath) -> list[dict[str, float]]:
    """The windows table a `windows_file` holds (CSV: duration_s, rate, cv); a missing file, a missing column or a
    bad value is a SpecError at that key, naming the line."""
    p = resolve_path(value, base_dir)
    if not p.is_file():
        raise SpecError(path, f"no such windows file: {p}")
    st = p.stat()
    rows = _load_windows(str(p.resolve()), st.st_mtime_ns, st.st_size)
    if isinstance(rows, str):
        raise SpecError(path, f"{p.name}: {rows}")
    return rows


@lru_cache(maxsize=8)
def _load_windows(path: str, _mtime_ns: int, _size: int) -> list[dict[str, float]] | str:
    """The rows, or the message of what is wrong (cached either way: the file is read once per version)."""
    import math

    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types={c: pa.float64() for c in WINDOW_COLUMNS}))
    except (pa.ArrowInvalid, OSError) as exc:
        return str(exc).strip().splitlines()[0]
    missing = [c for c in WINDOW_COLUMNS[:2] if c not in table.column_names]
    if missing:
        return f"needs the columns {', '.join(WINDOW_COLUMNS)} (missing: {', '.join(missing)})"
    if table.num_rows == 0:
        return "has no windows"
    dur = table.column("duration_s").to_pylist()
    rate = table.column("rate").to_pylist()
    cv = table.column("cv").to_pylist() if "cv" in table.column_names else [1.0] * len(dur)
    rows = []
    for i, (d, r, c) in enumerate(zip(dur, rate, cv)):
        line = i + 2  # the header is line 1
        if d is None or not math.isfinite(d) or d <= 0:
            return f"line {line}: duration_s must be a number above 0, not {d!r}"
        if r is None or not math.isfinite(r) or r < 0:
            return f"line {line}: rate must be a number of at least 0, not {r!r}"
        c = 1.0 if c is None else c
        if not math.isfinite(c) or c <= 0:
            return f"line {line}: cv must be a number above 0, not {c!r}"
        rows.append({"duration_s": float(d), "rate": float(r), "cv": float(c)})
    if not any(r["rate"] > 0 for r in rows):
        return "at least one window must have a rate above 0"
    return rows


def write_windows(windows: list[dict[str, float]], path: Path) -> None:
    """Write a windows table as the CSV `load_windows` reads."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({c: pa.array([float(w.get(c, 1.0)) for w in windows], pa.float64()) for c in WINDOW_COLUMNS})
    pacsv.write_csv(table, str(path))
