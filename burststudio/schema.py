"""One description of a parameter a user sets: name, type, default, bounds, choices and meaning.

Every place that takes a value from a user reads this one shape rather than keeping its own: the `[target]` and
`[replay]` settings dataclasses carry a Param on each field (`burststudio.settings.setting`), the trace keys of
`[workload]` are Params (`burststudio.preset_workload`), the generator registry is built of them
(`burststudio.workload.synth.tables`), the studio's form fields wrap them (`burststudio.studio.workload_actions.ParamSpec`),
and the preset reference (`burststudio.preset_doc`) renders them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Callable


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


# The default of a key that must be given.
REQUIRED: Any = _Required()

# Types a parameter can have, as written in TOML. A key that takes either of two is written "str|array".
TYPES = ("float", "int", "str", "bool", "path", "floats", "windows", "array", "table")
PYTHON_TYPES: dict[str, type] = {"float": float, "int": int, "str": str, "bool": bool, "path": str, "floats": list,
                                 "windows": list, "array": list, "table": dict}
_WORD_OF_TYPE = {float: "float", int: "int", str: "str", bool: "bool", list: "array", dict: "table"}


@dataclass(frozen=True)
class Param:
    """One key: its type, default (REQUIRED, None for "optional, no default", or a value), bounds, choices, doc."""

    name: str
    type: str
    doc: str
    default: Any = field(default=None, hash=False)
    min: float | None = None
    max: float | None = None
    # True: the bound itself is not allowed (rate > 0 rather than rate >= 0).
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] | None = None
    # For "windows": the keys of each row.
    fields: tuple["Param", ...] = ()
    # A check beyond type and bounds, `check(path, value) -> value`, raising the caller's error type.
    check: Callable[[tuple, Any], Any] | None = field(default=None, compare=False, hash=False)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self.type.split("|"))

    def python_types(self) -> tuple[type, ...]:
        return tuple(PYTHON_TYPES[t] for t in self.types)

    def bounds_text(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {number_text(self.min)}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_open else '<='} {number_text(self.max)}")
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": None if self.required else self.default,
            "min": self.min,
            "max": self.max,
            "min_open": self.min_open,
            "max_open": self.max_open,
            "choices": list(self.choices) if self.choices else None,
            "doc": self.doc,
        }
        if self.fields:
            d["fields"] = [f.as_dict() for f in self.fields]
        return d


# Integers a key takes fit a signed 64-bit integer: numpy, pyarrow and JSON readers elsewhere hold them in one.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# The largest factor a time or rate scale takes: a million times the rows or the span of a trace is past any
# experiment, and keeps a replicated row count (and a stretched span in nanoseconds) inside int64.
SCALE_MAX = 1e6
# The smallest positive value a float key with an open lower bound of 0 takes: below it a rate, a scale or a
# shape is a typing slip (1e-300), and draws from it overflow to infinite gaps instead of failing where it is set.
SMALLEST_POSITIVE = 1e-9


def number_problem(param: Param, value: int | float) -> str | None:
    """What is wrong with `value` (an int or float, not a bool) as `param`, or None.

    The one check of a number from a user, wherever it enters (a preset, `--set`, a command-line flag, a number a
    server tells): finite, within the bounds, and an integer that fits int64. A positive value under a bound that
    reads "> 0" is called too small (1e-300 is > 0, so "must be > 0, got 1e-300" would read as wrong); an integer
    past the key's own bound is told that bound, which says more than the width of int64."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    lo, hi = param.min, param.max
    if lo is not None:
        floor = max(lo, SMALLEST_POSITIVE) if lo == 0 and param.min_open and isinstance(value, float) else lo
        if value < floor or (param.min_open and value == lo):
            # A tiny closed bound (1e-6) stands for "above 0"; a positive value under it is too small, not "not > 0".
            above_zero = param.min_open and lo == 0 or 0 < lo <= 1e-6
            if above_zero and value > 0:
                return f"too small: {value:g} (the smallest allowed is {number_text(floor)})"
            bound = "> 0" if above_zero else f"{'>' if param.min_open else '>='} {number_text(lo)}"
            return f"must be {bound}, got {_shown(value)}"
    if hi is not None and (value > hi or (param.max_open and value == hi)):
        return f"must be {'<' if param.max_open else '<='} {number_text(hi)}, got {_shown(value)}"
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return f"too large: {int_text(value)} (integers fit 64 bits: at most {INT_MAX})"
    return None


def int_text(value: int) -> str:
    # str() of an int over 4,300 digits raises; the count comes from its bits.
    if value.bit_length() <= 256:
        return str(value)
    sign = "a negative" if value < 0 else "a"
    return f"{sign} number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"


def _shown(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else int_text(value)


def number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def type_word(annotation: Any) -> str:
    """The TYPES word of a Python annotation (`list[str]` -> "array"); "table" for a nested dataclass."""
    if dataclasses.is_dataclass(annotation):
        return "table"
    kind = typing.get_origin(annotation) or annotation
    return _WORD_OF_TYPE.get(kind, getattr(kind, "__name__", str(kind)))


def field_param(f: dataclasses.Field, annotation: Any) -> Param:
    """The Param a settings dataclass field carries, with its name and type filled from the field.

    A field made with plain `dataclasses.field(metadata={"doc": ...})` (a nested table) gets one from that doc."""
    param = f.metadata.get("param")
    if param is None:
        default = f.default if f.default is not dataclasses.MISSING else None
        param = Param(f.name, type_word(annotation), f.metadata.get("doc", ""), default)
    live = f.metadata.get("choices")
    if live is not None:
        param = dataclasses.replace(param, choices=tuple(live))
    return dataclasses.replace(param, name=f.name, type=type_word(annotation))


def settings_params(cls: type) -> list[tuple[Param, Any]]:
    """(Param, annotation) of each field of a settings dataclass, in order."""
    hints = typing.get_type_hints(cls)
    return [(field_param(f, hints[f.name]), hints[f.name]) for f in dataclasses.fields(cls)]
