"""The `[workload]` table of a preset: the keys of a trace, and the glue to the generator registry (synth).

The trace keys come in the order the transforms apply; the generator form is checked by
burststudio.workload.synth.spec, and the paths both forms name resolve from the preset's folder.
"""

from __future__ import annotations

import math
import os
import typing
from pathlib import Path
from typing import Any

from burststudio.preset_validate import TYPE_WORDS, Invalid, show_value, unknown_key
from burststudio.schema import SCALE_MAX, Param, number_problem


# The [workload] table of a trace ----------------------------------------------------------------------------------
def _str_or_list(path: tuple, value: Any) -> Any:
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) for v in value):
            raise Invalid(path, "must be a string or a non-empty array of strings")
    return value


def _window(path: tuple, value: Any) -> list[float]:
    if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise Invalid(path, f"must be [start, end] in seconds, got {show_value(value)}")
    try:
        start, end = float(value[0]), float(value[1])
    except OverflowError:
        raise Invalid(path, "must be [start, end] in seconds, got an integer too large for a number") from None
    if math.isnan(end):
        raise Invalid(path, "end must be a number of seconds (or inf: to the end), got nan")
    if not (math.isfinite(start) and start >= 0):
        raise Invalid(path, f"start must be >= 0 seconds, got {start:g}")
    if not end > start:
        raise Invalid(path, f"end ({end:g}) must be after start ({start:g})")
    return [start, end]


def _sample(path: tuple, value: Any) -> Any:
    if isinstance(value, int):
        if value < 1:
            raise Invalid(path, f"a row count must be >= 1, got {value}")
    elif not 0 < value <= 1:
        raise Invalid(path, f"a fraction must be in (0, 1], got {value:g}")
    return value


def _failed(path: tuple, value: Any) -> str:
    if value not in ("keep", "drop", "only"):
        raise Invalid(path, f"must be one of keep, drop, only; got {show_value(value)}")
    return value


def _columns(path: tuple, value: Any) -> dict[str, str]:
    for k, v in value.items():
        if not isinstance(v, str):
            raise Invalid(path + (k,), f"must be a string (the file's column name), got {show_value(v)}")
    return value


LIMIT_KEY = "max_requests"

# Preset-level keys of [workload], whichever form it takes. A default of None is not written in resolved presets.
COMMON_KEYS: tuple[Param, ...] = (
    Param("name", "str", "Workload name (default: the preset file's name)."),
    Param("seed", "int", "Seed of every random choice in building the workload; `synth --seed` overrides it.", 0,
          min=0),
    # Kept out of the generator spec (Preset.max_requests): it says how much may be built, not what.
    Param(LIMIT_KEY, "int", "The most requests building this workload may make, with 1 kB of memory each; a "
          "larger one is refused before it is built. `--max-requests` overrides it.", min=1),
)

# The trace form, in the order the transforms apply (as `burststudio convert` applies them).
TRACE_KEYS: tuple[Param, ...] = (
    Param("trace", "path", "Trace file, relative to the preset's folder (required for this form)."),
    Param("format", "str", "File format; auto detects it from the header or first line.", "auto"),
    Param("columns", "table", "Column mapping for generic CSV/JSONL/Parquet files: workload column -> file column.",
          {}, check=_columns),
    Param("block_tokens", "int", "Tokens each id of a prefix_blocks column stands for, in a generic JSONL/Parquet "
          "trace; none: 512 (Mooncake files are 512 by definition).", None, min=1),
    Param("model", "str|array", 'Keep only rows of this model (or any of an array of models); "": all.', "",
          check=_str_or_list),
    Param("source", "str|array", 'Keep only rows of this source, e.g. a log type (or any of an array); "": all.', "",
          check=_str_or_list),
    Param("failed", "str", "Rows the trace recorded as failed: keep, drop or only.", "keep",
          choices=("keep", "drop", "only"), check=_failed),
    Param("window_s", "array", "[start, end]: keep requests in this span (seconds from the first request), re-based "
          "to 0.", [0.0, math.inf], check=_window),
    # A closed bound of 1e-6 reads as "> 0" (schema.number_problem): 1e-300 is too small, not "not > 0".
    Param("time_scale", "float", "Multiply arrival times (2: half the rate, same requests).", 1.0, min=1e-6,
          max=SCALE_MAX),
    Param("rate_scale", "float", "Thin (<1) or replicate (>1) arrivals, keeping the burst shape.", 1.0, min=1e-6,
          max=SCALE_MAX),
    Param("sample", "int|float", "Random subset: a row count (integer) or a fraction in (0, 1] (number).", 1.0,
          check=_sample),
    Param("head", "int", "Keep only the first N requests; 0: all.", 0, min=0),
)
TRACE_KEY_NAMES = {k.name for k in TRACE_KEYS} | {k.name for k in COMMON_KEYS}


def _validate_keys(spec: dict, keys: typing.Iterable[Param], path: tuple) -> dict:
    """Check the given keys of `spec` (present ones only); returns the checked values."""
    out = {}
    for key in keys:
        if key.name not in spec:
            continue
        kpath = path + (key.name,)
        value = spec[key.name]
        types = key.python_types()
        if not any(isinstance(value, t) and not (isinstance(value, bool) and t is not bool) for t in types) \
                and not (float in types and isinstance(value, int) and not isinstance(value, bool)):
            words = " or ".join(TYPE_WORDS[t] for t in types)
            raise Invalid(kpath, f"must be {words}, got {show_value(value)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value) if types == (float,) else value
            except OverflowError:
                raise Invalid(kpath, "must be a finite number, got an integer too large for a float") from None
            problem = number_problem(key, value)
            if problem:
                raise Invalid(kpath, problem)
        out[key.name] = key.check(kpath, value) if key.check else value
    return out


def _resolve(base_dir: Path, value: str) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base_dir / p).resolve())


# Generator specs (burststudio.workload.synth) --------------------------------------------------------------------
def is_trace_spec(spec: dict) -> bool:
    return "trace" in spec


def _validate_generator(spec: dict, base_dir: Path) -> dict:
    """The generator form, checked by the synth package; returns it with its paths made absolute."""
    filled_generator(spec)
    spec = _resolve_spec_paths(spec, base_dir)
    _check_files(spec, ("workload",), path_keys())
    return spec


def _check_files(spec: Any, path: tuple, keys: typing.Container[str]) -> None:
    """Every file the spec names exists (so a typo points at its line now, not at build time)."""
    items = spec.items() if isinstance(spec, dict) else enumerate(spec) if isinstance(spec, list) else ()
    for k, v in items:
        if k in keys and isinstance(v, str):
            if not Path(v).exists():
                raise Invalid(path + (k,), f"no such file: {v}")
        else:
            _check_files(v, path + (k,), keys)


def filled_generator(spec: dict) -> dict:
    """The spec with every default filled (the synth registry's `resolve`), or an Invalid naming the key path."""
    from burststudio.workload.synth import spec as registry

    try:
        return registry.resolve(spec)
    except registry.SpecError as exc:
        raise Invalid(("workload",) + tuple(exc.path), exc.message) from None


def path_keys() -> frozenset[str]:
    """Keys of a generator spec whose value names a file, as the synth registry types them ("path")."""
    from burststudio.workload.synth import spec as registry

    names: set[str] = set()

    def walk(table: Any) -> None:
        for p in getattr(table, "params", ()):
            if p.type == "path":
                names.add(p.name)
            for f in p.fields:
                if f.type == "path":
                    names.add(f.name)
        for kind in getattr(table, "kinds", {}).values():
            walk(kind)
        for sub in getattr(table, "subtables", ()):
            walk(sub.schema)

    walk(registry.WORKLOAD)
    return frozenset(names)


def _resolve_spec_paths(spec: Any, base_dir: Path, keys: frozenset[str] | None = None) -> Any:
    keys = path_keys() if keys is None else keys
    if isinstance(spec, dict):
        return {k: (_resolve(base_dir, v) if k in keys and isinstance(v, str)
                    else _resolve_spec_paths(v, base_dir, keys)) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_resolve_spec_paths(v, base_dir, keys) for v in spec]
    return spec


def relative_spec_paths(spec: Any, base_dir: Path, keys: frozenset[str]) -> Any:
    if isinstance(spec, dict):
        return {k: (_relative(base_dir, v) if k in keys and isinstance(v, str)
                    else relative_spec_paths(v, base_dir, keys)) for k, v in spec.items()}
    if isinstance(spec, list):
        return [relative_spec_paths(v, base_dir, keys) for v in spec]
    return spec


def _relative(base_dir: Path, value: str) -> str:
    try:
        return os.path.relpath(value, base_dir)
    except ValueError:  # another drive
        return value


def validate_workload(data: Any, base_dir: Path) -> dict:
    if not isinstance(data, dict):
        raise Invalid(("workload",), f"must be a table, got {show_value(data)}")
    common = _validate_keys(data, COMMON_KEYS, ("workload",))
    if not is_trace_spec(data):
        spec = _validate_generator({k: v for k, v in data.items() if k != LIMIT_KEY}, base_dir)
        spec.update(common)
        return spec
    for key in data:
        if key not in TRACE_KEY_NAMES:
            raise unknown_key(("workload", key), [k.name for k in TRACE_KEYS], "key for a trace workload")
    spec = _validate_keys(data, TRACE_KEYS, ("workload",))
    spec.update(common)
    spec["trace"] = _resolve(base_dir, spec["trace"])
    _check_files(spec, ("workload",), ("trace",))
    if "format" in spec:
        _check_format(spec["format"])
    return spec


def _check_format(name: str) -> None:
    if name == "auto":
        return
    try:
        from burststudio.workload import formats
    except ImportError:
        return
    known = getattr(formats, "FORMATS", None) or getattr(formats, "NAMES", None)
    if known and name not in known:
        raise Invalid(("workload", "format"), f"must be auto or one of {', '.join(sorted(known))}; got {show_value(name)}")


def filled_trace_spec(spec: dict, name: str) -> dict:
    out: dict[str, Any] = {"name": name}
    for key in COMMON_KEYS + TRACE_KEYS:
        if key.name in spec:
            out[key.name] = spec[key.name]
        elif key.default is not None:
            out[key.name] = key.default
    return out

