"""Numbers given as command-line flags (`--duration`, `--seed`, `--time-scale`, ...), checked as the preset key they
stand for: the key's schema.Param judges them (finite, fits int64, within bounds), and an error names the flag, not
a line of the preset. A flag that sets no key (`--repeat`, `--request-rate`) is judged by a Param of its own the
same way.

The flags are read by argparse as text (a `type=float` takes `nan` and `inf`, and its own error prints the usage
block); `check_number_flags` turns them into numbers when the command runs. Only argparse and the standard library
at import time.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from burststudio.errors import UserError

if TYPE_CHECKING:
    from burststudio.schema import Param

_INTEGER = re.compile(r"[+-]?\d+")


def param_at(key: tuple[str, ...] | Param):
    """(schema.Param, Python type) of the preset key at the path `key`: a `[replay]` / `[target]` setting, or a
    `[workload]` key common to both forms or of the trace form (`seed`, `max_requests`, `time_scale`, `head`); or
    of `key` itself, a Param."""
    from burststudio.preset_workload import COMMON_KEYS, TRACE_KEYS
    from burststudio.schema import PYTHON_TYPES, Param, settings_params
    from burststudio.settings import ReplaySettings, TargetSettings

    if isinstance(key, Param):
        return key, PYTHON_TYPES[key.types[-1]]
    section, *rest = key
    if section == "workload":
        (name,) = rest
        param = next(p for p in COMMON_KEYS + TRACE_KEYS if p.name == name)
        return param, PYTHON_TYPES[param.types[-1]]
    cls: Any = {"replay": ReplaySettings, "target": TargetSettings}[section]
    for n, name in enumerate(rest):
        param, kind = next((p, k) for p, k in settings_params(cls) if p.name == name)
        if n < len(rest) - 1:
            cls = kind
    return param, kind


def number_value(flag: str, text: Any, key: tuple[str, ...] | Param) -> int | float:
    """`text` (a flag's value) as the number `key` (param_at) takes, or a UserError `FLAG: what is wrong`."""
    from burststudio.schema import number_problem

    param, kind = param_at(key)
    raw = str(text).strip()
    if kind is int:
        if not _INTEGER.fullmatch(raw):
            raise UserError(f"{flag}: must be a whole number, got {_shown(raw)}")
        digits = raw.lstrip("+-")
        # int() refuses over 4,300 digits; a number of the same length tells the check how large it is.
        value: int | float = int(raw) if len(digits) <= 4000 else 10 ** (len(digits) - 1)
    else:
        try:
            value = float(raw)
        except ValueError:
            raise UserError(f"{flag}: must be a number, got {_shown(raw)}") from None
    problem = number_problem(param, value)
    if problem:
        raise UserError(f"{flag}: {problem}")
    return value


def check_number_flags(args: argparse.Namespace, flags: dict[str, tuple[str, ...] | Param]) -> None:
    """Each flag given (argparse dest -> the preset key path it sets, or its own Param) parsed and checked, set back
    on `args`."""
    for dest, key in flags.items():
        text = getattr(args, dest, None)
        if text is not None and not isinstance(text, (int, float)):
            setattr(args, dest, number_value("--" + dest.replace("_", "-"), text, key))


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
