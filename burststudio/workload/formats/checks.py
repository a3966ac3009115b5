"""Checks every loader applies to the values it read, vectorised, with the line of the first bad value."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from burststudio.errors import InputFileError
from burststudio.workload.model import MAX_COUNT, MAX_SECONDS

Locator = Callable[[int], "int | None"]


class TraceWarning(UserWarning):
    """Something a loader fixed on its own (e.g. sorted out-of-order rows); the command line prints it as one line."""


def shown(value) -> str:
    """A value as the file most likely wrote it (`-5`, not `-5.0`)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _error(path: str | Path, message: str, row: int, locate: Locator) -> InputFileError:
    line = locate(row)
    if line is None:
        return InputFileError(str(path), message, row=row + 1)
    return InputFileError(str(path), message, line=line)


def no_nulls(path: str | Path, column, name: str, locate: Locator) -> None:
    """Every row has a value in `column` (a pyarrow array)."""
    if column.null_count:
        row = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
        raise _error(path, f"missing value in column {name!r}", row, locate)


def non_negative(path: str | Path, values: np.ndarray, name: str, locate: Locator, most: float | None = None,
                 unit: str = "") -> None:
    """Finite, >= 0 and (given `most`) at most that; raises naming the first offending row's line."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise _error(path, f"not a finite number in column {name!r}: {shown(values[row])}", row, locate)
    neg = values < 0
    if neg.any():
        row = int(np.argmax(neg))
        raise _error(path, f"negative value in column {name!r}: {shown(values[row])}", row, locate)
    if most is not None:
        over = values > most
        if over.any():
            row = int(np.argmax(over))
            raise _error(path, f"value too large in column {name!r}: {shown(values[row])} (at most {most:.3g}{unit})",
                         row, locate)


def counts(path: str | Path, values: np.ndarray, name: str, locate: Locator) -> None:
    """Token or image counts: finite, >= 0, at most MAX_COUNT (checked before any cast to int64, which would wrap)."""
    non_negative(path, values, name, locate, MAX_COUNT)


def seconds(path: str | Path, values: np.ndarray, name: str, locate: Locator) -> None:
    """Times in seconds: finite, >= 0, at most MAX_SECONDS."""
    hint = " s; a column of milliseconds or finer needs its unit converted"
    non_negative(path, values, name, locate, MAX_SECONDS, hint)


def sort_order(path: str | Path, times: np.ndarray) -> np.ndarray | None:
    """A stable order that sorts `times`, with one TraceWarning, or None when they are already sorted."""
    if times.size < 2:
        return None
    backwards = times[1:] < times[:-1]
    if not backwards.any():
        return None
    count = int(backwards.sum())
    first = int(np.argmax(backwards)) + 1
    warnings.warn(
        TraceWarning(f"{path}: timestamps not in order ({count} step(s) back, first at row {first + 1}); "
                     "rows sorted by time"),
        stacklevel=3,
    )
    return np.argsort(times, kind="stable")


def time_of_day(seconds: float) -> float:
    return float(seconds % 86400.0)
