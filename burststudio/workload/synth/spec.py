"""The generator spec: validation against the parameter registry (burststudio.workload.synth.tables), with its
defaults filled in.

`validate` walks a spec with the registry, `resolve` fills its defaults; `registry()` gives the tables as plain,
JSON-ready data. A spec is the `[workload]` table of a preset as a plain dict.
"""

from __future__ import annotations

import math
from typing import Any

from burststudio.errors import UserError
from burststudio.schema import REQUIRED, TYPES, Param, int_text, number_problem
from burststudio.workload.synth.tables import (ARRIVALS, FAMILIES, LENGTHS, MODULATION, SESSIONS, THINK_TIME, TURNS,
                                               WORKLOAD, Family, OneOf, Sub, Table)

__all__ = ["ARRIVALS", "FAMILIES", "LENGTHS", "MODULATION", "REQUIRED", "SESSIONS", "THINK_TIME", "TURNS", "TYPES",
           "WORKLOAD", "Family", "KeyPath", "OneOf", "Param", "SpecError", "Sub", "Table", "format_path", "registry",
           "resolve", "validate"]

KeyPath = tuple  # of str keys and int indices (an element of an array of tables)


class SpecError(UserError):
    """A generator spec that cannot be used; `path` is the exact key path inside `[workload]`."""

    def __init__(self, path: KeyPath, message: str):
        self.path = tuple(path)
        self.message = message
        super().__init__(message, where=format_path(self.path))


def format_path(path: KeyPath) -> str:
    """("arrivals", "windows", 2, "cv") -> "workload.arrivals.windows[2].cv"."""
    out = "workload"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def registry() -> dict[str, Any]:
    """Every table, process and distribution with its parameters, as plain JSON-ready data."""
    return {
        "workload": {**WORKLOAD.as_dict(), "subtables": {s.name: s.schema.name for s in WORKLOAD.subtables}},
        "sessions": {**SESSIONS.as_dict(), "subtables": {s.name: s.schema.name for s in SESSIONS.subtables}},
        "families": {name: fam.as_dict() for name, fam in FAMILIES.items()},
        "types": dict(_TYPE_WORDS),
    }


# Validation -------------------------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "float": "a number", "int": "a whole number", "str": "a string", "bool": "true or false",
    "path": "a file path (string)", "floats": "an array of numbers", "windows": "an array of tables",
}


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _repr(value: Any) -> str:
    return int_text(value) if isinstance(value, int) and not isinstance(value, bool) else repr(value)[:80]


def _check_number(p: Param, value: Any, path: KeyPath) -> float | int:
    if p.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value, ok = int(value), True
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise SpecError(path, f"must be {_TYPE_WORDS[p.type]}, not {_type_name(value)} ({_repr(value)})")
    try:
        value = float(value) if p.type == "float" else value
    except OverflowError:
        raise SpecError(path, "must be a finite number, got an integer too large for a float") from None
    problem = number_problem(p, value)
    if problem:
        raise SpecError(path, problem)
    return value


def _check_value(p: Param, value: Any, path: KeyPath) -> Any:
    if p.type in ("float", "int"):
        return _check_number(p, value, path)
    if p.type == "bool":
        if not isinstance(value, bool):
            raise SpecError(path, f"must be true or false, not {_type_name(value)} ({_repr(value)})")
        return value
    if p.type in ("str", "path"):
        if not isinstance(value, str):
            raise SpecError(path, f"must be {_TYPE_WORDS[p.type]}, not {_type_name(value)} ({_repr(value)})")
        if not value.strip():
            raise SpecError(path, "must not be empty")
        if p.choices and value not in p.choices:
            raise SpecError(path, f"unknown value {value!r}; one of: {', '.join(p.choices)}")
        return value
    if p.type == "floats":
        if not isinstance(value, list):
            raise SpecError(path, f"must be an array of numbers, not {_type_name(value)}")
        if not value:
            raise SpecError(path, "must not be empty")
        elem = Param(p.name, "float", p.doc, min=p.min, max=p.max, min_open=p.min_open, max_open=p.max_open)
        out = [_check_number(elem, v, (*path, i)) for i, v in enumerate(value)]
        if sum(out) <= 0:
            raise SpecError(path, "must have at least one value above 0")
        return out
    if p.type == "windows":
        if not isinstance(value, list):
            raise SpecError(path, f"must be an array of tables ([[...]]), not {_type_name(value)}")
        if not value:
            raise SpecError(path, "must have at least one window")
        row_table = Table(p.name, p.doc, p.fields)
        out = [_check_table(row_table, row, (*path, i), ()) for i, row in enumerate(value)]
        if not any(r["rate"] > 0 for r in out):
            raise SpecError(path, "at least one window must have a rate above 0")
        return out
    raise AssertionError(p.type)


def _check_table(table: Table, value: Any, path: KeyPath, extra_keys: tuple[str, ...],
                 kind_label: str = "") -> dict[str, Any]:
    """Checks `value` against `table`; returns a copy with defaults filled (sub-tables not included)."""
    if not isinstance(value, dict):
        raise SpecError(path, f"must be a table, not {_type_name(value)}")
    known = {p.name for p in table.params}
    subs = {s.name for s in table.subtables}
    for key in value:
        if not isinstance(key, str) or (key not in known and key not in subs and key not in extra_keys):
            names = sorted(known | subs | set(extra_keys))
            raise SpecError((*path, key), f"unknown key {key!r}{kind_label}; known keys: {', '.join(names)}")
    out: dict[str, Any] = {}
    in_groups = {k for o in table.one_of for g in o.groups for k in g}
    needs = dict(table.needs)
    for p in table.params:
        if p.name in value:
            out[p.name] = _check_value(p, value[p.name], (*path, p.name))
        elif p.required:
            raise SpecError((*path, p.name), f"missing: {p.name} is required{kind_label}")
        elif p.name not in in_groups and p.default is not None:
            # A default that applies only with another key is filled only when that key is there, so that a
            # resolved spec validates again as it is.
            if p.name not in needs or needs[p.name] in value:
                out[p.name] = p.default
    for o in table.one_of:
        given = [g for g in o.groups if any(k in value for k in g)]
        if len(given) > 1:
            second = next(k for k in given[1] if k in value)
            raise SpecError((*path, second), f"give {_groups_text(o.groups)}, not several{kind_label}")
        if given:
            for k in given[0]:
                if k not in value:
                    others = " and ".join(x for x in given[0] if x != k)
                    raise SpecError((*path, k), f"missing: {k} is required with {others}{kind_label}")
        elif o.default is not None:
            out.update(o.default)
        else:
            raise SpecError((*path, o.groups[0][0]), f"missing: give {_groups_text(o.groups)}{kind_label}")
    for key, other in table.needs:
        if key in value and other not in value:
            raise SpecError((*path, key), f"{key} applies only with {other}{kind_label}")
    for lo, hi in table.ordered:
        if lo in out and hi in out and out[lo] > out[hi]:
            raise SpecError((*path, lo), f"{lo} ({out[lo]}) is greater than {hi} ({out[hi]})")
    return out


def _groups_text(groups: tuple[tuple[str, ...], ...]) -> str:
    words = [" and ".join(g) for g in groups]
    return "either " + ", or ".join(words) if len(words) > 1 else words[0]


def _check_family(fam: Family, value: Any, path: KeyPath) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(path, f"must be a table, not {_type_name(value)}")
    kind = value.get(fam.key, fam.default_kind)
    if kind is None:
        raise SpecError((*path, fam.key), f"missing: {fam.key} is required; one of: {', '.join(fam.kinds)}")
    if not isinstance(kind, str) or kind not in fam.kinds:
        raise SpecError((*path, fam.key), f"unknown {fam.key} {kind!r}; one of: {', '.join(fam.kinds)}")
    table = fam.kinds[kind]
    extra = (fam.key, *(s.name for s in fam.subtables))
    out = _check_table(table, value, path, extra, kind_label=f" for {fam.key} {kind!r}")
    out[fam.key] = kind
    out.update(_check_subtables(fam.subtables, value, path))
    return out


def _check_subtables(subs: tuple[Sub, ...], value: dict[str, Any], path: KeyPath) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sub in subs:
        if sub.name in value:
            v = value[sub.name]
        elif sub.required:
            raise SpecError((*path, sub.name), f"missing: the [{format_path((*path, sub.name))}] table is required")
        elif sub.default is not None:
            v = dict(sub.default)
        else:
            continue
        if isinstance(sub.schema, Family):
            out[sub.name] = _check_family(sub.schema, v, (*path, sub.name))
        else:
            checked = _check_table(sub.schema, v, (*path, sub.name), tuple(s.name for s in sub.schema.subtables))
            checked.update(_check_subtables(sub.schema.subtables, v, (*path, sub.name)))
            out[sub.name] = checked
    return out


def resolve(spec: Any) -> dict[str, Any]:
    """The spec checked and with every default filled in; raises SpecError naming the exact key path."""
    if not isinstance(spec, dict):
        raise SpecError((), f"must be a table, not {_type_name(spec)}")
    # `output` may be left out when `prompt` draws paired rows: check that before the generic walk asks for it.
    prompt = spec.get("prompt")
    paired = isinstance(prompt, dict) and prompt.get("dist") == "empirical" and prompt.get("pair") is True
    subs = WORKLOAD.subtables
    if paired and "output" not in spec:
        subs = tuple(s for s in subs if s.name != "output")
    out = _check_table(WORKLOAD, spec, (), ())
    out.update(_check_subtables(subs, spec, ()))
    _check_pairing(out)
    return out


def _check_pairing(out: dict[str, Any]) -> None:
    prompt, output = out["prompt"], out.get("output")
    if prompt.get("dist") != "empirical" or not prompt.get("pair"):
        if output is not None and output.get("dist") == "empirical" and output.get("pair"):
            raise SpecError(("output", "pair"), "set pair = true in [workload.prompt], where the rows are drawn")
        return
    if output is None:
        out["output"] = {"dist": "empirical", "trace": prompt["trace"], "pair": True,
                         "skip_failed": prompt["skip_failed"], **({"format": prompt["format"]}
                                                                  if "format" in prompt else {})}
        return
    if output["dist"] != "empirical":
        raise SpecError(("output", "dist"), "must be \"empirical\" when the prompt draws paired rows (pair = true)")
    if output["trace"] != prompt["trace"]:
        raise SpecError(("output", "trace"), "must be the prompt's trace when the prompt draws paired rows")


def validate(spec: Any) -> None:
    """Raise SpecError(path, message) for the first problem in a `[workload]` generator spec; None when it is fine."""
    resolve(spec)
