"""Preset validation: the one-line PresetError, value checks, and the `[target]`/`[replay]` settings tables.

A check raises `Invalid(path, message)` at a key path inside the preset; `presets.preset_from_dict` turns it into
`FILE:LINE: key.path: what is wrong`, the line found by burststudio.toml_key_lines.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from typing import Any

from burststudio.errors import UserError
from burststudio.schema import PYTHON_TYPES, Param, int_text, number_problem, settings_params


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


# Nesting -------------------------------------------------------------------------------------------------------
# The deepest a preset nests: [workload.arrivals] windows rows are 4 levels; 16 leaves room and keeps every walk
# over a preset (validation, repr, the TOML writer) far from the interpreter's recursion limit.
MAX_DEPTH = 16


def check_depth(data: Any) -> None:
    """Invalid at the first value nested deeper than MAX_DEPTH tables and arrays (walked without recursion)."""
    stack: list[tuple[tuple, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, (dict, list)):
            if len(path) > MAX_DEPTH:
                raise Invalid(path[:MAX_DEPTH + 1], f"nested deeper than {MAX_DEPTH} levels of tables and arrays")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((path + (k,), v) for k, v in items)


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
    if isinstance(value, int):
        return int_text(value)
    return str(value)


TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "an array",
               dict: "a table"}


def _coerce(path: tuple, value: Any, kind: type) -> Any:
    """`value` as `kind`; an int is accepted for a float, a bool is never a number."""
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer beyond any float
                raise Invalid(path, "must be a finite number, got an integer too large for a float") from None
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, kind):
        return value
    raise Invalid(path, f"must be {TYPE_WORDS.get(kind, kind.__name__)}, got {show_value(value)}")


def _check_bounds(path: tuple, value: Any, param: Param) -> None:
    if param.choices is not None and value not in param.choices:
        raise Invalid(path, f"must be one of {', '.join(map(str, param.choices))}; got {show_value(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        problem = number_problem(param, value)
        if problem:
            raise Invalid(path, problem)


def check_value(path: tuple, value: Any, param: Param, kind: type | None = None) -> Any:
    """`value` checked as a preset's value of `param` is (its type, finiteness, bounds, choices and own check);
    raises Invalid. `kind`: the Python type, where the annotation says more than `param.type`. Numbers a server
    tells (targets/answers.py) go through here too: they are believed no more than a user's."""
    value = _coerce(path, value, kind or PYTHON_TYPES[param.type])
    if isinstance(value, list):
        check_array(path, value, param)
    else:
        _check_bounds(path, value, param)
    return param.check(path, value) if param.check is not None else value


def check_array(path: tuple, value: list, param: Param) -> None:
    """An array in settings: of numbers, each in the key's bounds, where it has bounds (`percentiles`); else of
    strings, flags passed on as they are (`extra_args`). Flat either way."""
    bounded = param.min is not None or param.max is not None
    for i, item in enumerate(value):
        if not bounded:
            if not isinstance(item, str):
                raise Invalid(path + (i,), f"must be a string, got {show_value(item)}")
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            raise Invalid(path, f"item {i + 1} must be a number, got {show_value(item)}")
        else:
            _check_bounds(path, item, param)


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
        values[key] = check_value(kpath, value, param, PYTHON_TYPES.get(param.type) or typing.get_origin(kind) or kind)
    return cls(**values)


def settings_to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)

