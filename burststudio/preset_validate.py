"""Preset validation: the one-line PresetError, value checks, and the `[target]`/`[replay]` settings tables.

A check raises `Invalid(path, message)` at a key path inside the preset; `presets.preset_from_dict` turns it into
`FILE:LINE: key.path: what is wrong`, the line found by burststudio.toml_key_lines.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from typing import Any

from burststudio.errors import UserError
from burststudio.schema import PYTHON_TYPES, Param, settings_params


class PresetError(UserError):
    """A preset that cannot be used as written: `FILE:LINE: key.path: what is wrong`."""

    def __init__(self, file: str, line: int | None, key: str, message: str):
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{key}: {message}" if key else message, where=where)
        self.file = file
        self.line = line
        self.key = key
        self.reason = message


class Invalid(Exception):
    """A validation failure at a key path inside the preset; turned into a PresetError with file and line."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


def key_name(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"')
    return out


# Values -----------------------------------------------------------------------------------------------------------
def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "an array",
               dict: "a table"}


def _coerce(path: tuple, value: Any, kind: type) -> Any:
    """`value` as `kind`; an int is accepted for a float, a bool is never a number."""
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if math.isnan(value):
                raise Invalid(path, "must be a number, got nan")
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, kind):
        return value
    raise Invalid(path, f"must be {TYPE_WORDS.get(kind, kind.__name__)}, got {show_value(value)}")


def _check_bounds(path: tuple, value: Any, param: Param) -> None:
    if isinstance(value, list):
        if param.min is not None or param.max is not None:
            # An array of numbers in bounds: each item is checked as a value of its own would be.
            for k, item in enumerate(value):
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    raise Invalid(path, f"item {k + 1} must be a number, got {show_value(item)}")
                _check_bounds(path, item, param)
        return
    if param.choices is not None and value not in param.choices:
        raise Invalid(path, f"must be one of {', '.join(map(str, param.choices))}; got {show_value(value)}")
    lo, hi = param.min, param.max
    if lo is not None and value < lo:
        bound = "> 0" if lo > 0 and lo <= 1e-6 else f">= {lo:g}"
        raise Invalid(path, f"must be {bound}, got {show_value(value)}")
    if hi is not None and value > hi:
        bound = str(hi) if isinstance(hi, int) else f"{hi:g}"  # 1000000000, not 1e+09
        raise Invalid(path, f"must be <= {bound}, got {show_value(value)}")


def check_value(path: tuple, value: Any, param: Param) -> Any:
    """`value` checked as a preset's value of `param` is (its type, bounds and choices); raises Invalid. Numbers a
    server tells (targets/answers.py) go through here too: they are believed no more than a user's."""
    value = _coerce(path, value, PYTHON_TYPES[param.type])
    _check_bounds(path, value, param)
    return value


def unknown_key(path: tuple, known: typing.Iterable[str], what: str = "key") -> Invalid:
    name = path[-1]
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
    return Invalid(path, f"unknown {what}{hint}")


def settings_from_table(cls: type, data: Any, path: tuple) -> Any:
    """An instance of the settings dataclass `cls` from a TOML table, validated from the Param each field carries."""
    if not isinstance(data, dict):
        raise Invalid(path, f"must be a table, got {show_value(data)}")
    params = {p.name: (p, kind) for p, kind in settings_params(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        kpath = path + (key,)
        if key not in params:
            raise unknown_key(kpath, params, "section" if isinstance(value, dict) else "key")
        param, kind = params[key]
        if dataclasses.is_dataclass(kind):
            values[key] = settings_from_table(kind, value, kpath)
            continue
        # An annotation outside schema.TYPES keeps being checked as the Python type it names.
        value = _coerce(kpath, value, PYTHON_TYPES.get(param.type) or typing.get_origin(kind) or kind)
        _check_bounds(kpath, value, param)
        values[key] = value
    return cls(**values)


def settings_to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)

