"""Presets: one TOML file that fully describes an experiment (workload, target, replay).

```toml
[workload]            # a trace with transforms, or a generator spec (burststudio.workload.synth)
trace = "../traces/azure_llm_2023_code.csv"
rate_scale = 0.05

[target]              # burststudio.settings.TargetSettings; [target.vllm], [target.sim] are its sub-tables
kind = "url"

[replay]              # burststudio.settings.ReplaySettings; [replay.timeouts], [replay.limits]
time_scale = 1.0
```

Every error a user can make in the file becomes one PresetError line, `FILE:LINE: key.path: what is wrong`.
tomllib reports no positions, so the line comes from burststudio.preset_lines, which scans the text.
Relative paths resolve from the preset's folder. `resolved_toml()` writes the same experiment back with every
default filled and every path absolute; the replay engine stores it in each run directory and can re-run it.

`python -m burststudio.presets --doc` prints the reference part of docs/presets.md (its tables come from the settings
dataclasses and the generator registry, so the document cannot drift from the code; a test compares them).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from burststudio.errors import UserError
from burststudio.preset_lines import key_lines, line_of
from burststudio.settings import ReplaySettings, TargetSettings

if typing.TYPE_CHECKING:
    from burststudio.workload.model import Workload

SECTIONS = ("workload", "target", "replay")
SECTION_CLASSES: dict[str, type] = {"target": TargetSettings, "replay": ReplaySettings}

# Settings fields that may name a file: a relative value that exists beside the preset becomes an absolute path.
PATH_SETTINGS: tuple[tuple[str, ...], ...] = (("target", "vllm", "model"), ("target", "sim", "profile"))


class PresetError(UserError):
    """A preset that cannot be used as written: `FILE:LINE: key.path: what is wrong`."""

    def __init__(self, file: str, line: int | None, key: str, message: str):
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{key}: {message}" if key else message, where=where)
        self.file = file
        self.line = line
        self.key = key
        self.reason = message


class _Invalid(Exception):
    """A validation failure at a key path inside the preset; turned into a PresetError with file and line."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


def _key_name(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"')
    return out


# Values -----------------------------------------------------------------------------------------------------------
def _show(value: Any) -> str:
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


_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "an array",
               dict: "a table"}


def _coerce(path: tuple, value: Any, kind: type) -> Any:
    """`value` as `kind`; an int is accepted for a float, a bool is never a number."""
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = float(value)
            if math.isnan(value):
                raise _Invalid(path, "must be a number, got nan")
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, kind):
        return value
    raise _Invalid(path, f"must be {_TYPE_WORDS.get(kind, kind.__name__)}, got {_show(value)}")


def _check_bounds(path: tuple, value: Any, meta: typing.Mapping[str, Any]) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise _Invalid(path, f"must be one of {', '.join(map(str, choices))}; got {_show(value)}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo:
        bound = "> 0" if lo > 0 and lo <= 1e-6 else f">= {lo:g}"
        raise _Invalid(path, f"must be {bound}, got {_show(value)}")
    if hi is not None and value > hi:
        raise _Invalid(path, f"must be <= {hi:g}, got {_show(value)}")


def _unknown(path: tuple, known: typing.Iterable[str], what: str = "key") -> _Invalid:
    name = path[-1]
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
    return _Invalid(path, f"unknown {what}{hint}")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def settings_from_table(cls: type, data: Any, path: tuple) -> Any:
    """An instance of the settings dataclass `cls` from a TOML table, validated from the fields' metadata."""
    if not isinstance(data, dict):
        raise _Invalid(path, f"must be a table, got {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for key, value in data.items():
        kpath = path + (key,)
        if key not in fields:
            raise _unknown(kpath, fields, "section" if isinstance(value, dict) else "key")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = settings_from_table(kind, value, kpath)
            continue
        kind = typing.get_origin(kind) or kind
        value = _coerce(kpath, value, kind)
        _check_bounds(kpath, value, fields[key].metadata)
        values[key] = value
    return cls(**values)


def settings_to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


# The [workload] table of a trace ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """One key of the trace form of `[workload]`: TOML type, default written in resolved presets, meaning."""

    name: str
    types: tuple[type, ...]
    default: Any
    doc: str
    check: Callable[[tuple, Any], Any] | None = None


def _str_or_list(path: tuple, value: Any) -> Any:
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) for v in value):
            raise _Invalid(path, "must be a string or a non-empty array of strings")
    return value


def _window(path: tuple, value: Any) -> list[float]:
    if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise _Invalid(path, f"must be [start, end] in seconds, got {_show(value)}")
    start, end = float(value[0]), float(value[1])
    if not (math.isfinite(start) and start >= 0):
        raise _Invalid(path, f"start must be >= 0 seconds, got {start:g}")
    if not end > start:
        raise _Invalid(path, f"end ({end:g}) must be after start ({start:g})")
    return [start, end]


def _positive(path: tuple, value: Any) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise _Invalid(path, f"must be > 0, got {value:g}")
    return value


def _sample(path: tuple, value: Any) -> Any:
    if isinstance(value, int):
        if value < 1:
            raise _Invalid(path, f"a row count must be >= 1, got {value}")
    elif not 0 < value <= 1:
        raise _Invalid(path, f"a fraction must be in (0, 1], got {value:g}")
    return value


def _non_negative_int(path: tuple, value: Any) -> int:
    if value < 0:
        raise _Invalid(path, f"must be >= 0, got {value}")
    return value


def _failed(path: tuple, value: Any) -> str:
    if value not in ("keep", "drop", "only"):
        raise _Invalid(path, f"must be one of keep, drop, only; got {_show(value)}")
    return value


def _columns(path: tuple, value: Any) -> dict[str, str]:
    for k, v in value.items():
        if not isinstance(v, str):
            raise _Invalid(path + (k,), f"must be a string (the file's column name), got {_show(v)}")
    return value


# Preset-level keys of [workload], whichever form it takes.
COMMON_KEYS: tuple[Key, ...] = (
    Key("name", (str,), None, "Workload name (default: the preset file's name)."),
    Key("seed", (int,), 0, "Seed of every random choice in building the workload; `synth --seed` overrides it.",
        _non_negative_int),
)

# The trace form, in the order the transforms apply (as `burststudio convert` applies them).
TRACE_KEYS: tuple[Key, ...] = (
    Key("trace", (str,), None, "Trace file, relative to the preset's folder (required for this form)."),
    Key("format", (str,), "auto", "File format; auto detects it from the header or first line."),
    Key("columns", (dict,), {}, "Column mapping for generic CSV/JSONL/Parquet files: workload column -> file column.",
        _columns),
    Key("model", (str, list), "", 'Keep only rows of this model (or any of an array of models); "": all.',
        _str_or_list),
    Key("source", (str, list), "", 'Keep only rows of this source, e.g. a log type (or any of an array); "": all.',
        _str_or_list),
    Key("failed", (str,), "keep", "Rows the trace recorded as failed: keep, drop or only.", _failed),
    Key("window_s", (list,), [0.0, math.inf], "[start, end]: keep requests in this span (seconds from the first "
        "request), re-based to 0.", _window),
    Key("time_scale", (float,), 1.0, "Multiply arrival times (2: half the rate, same requests).", _positive),
    Key("rate_scale", (float,), 1.0, "Thin (<1) or replicate (>1) arrivals, keeping the burst shape.", _positive),
    Key("sample", (int, float), 1.0, "Random subset: a row count (integer) or a fraction in (0, 1] (number).",
        _sample),
    Key("head", (int,), 0, "Keep only the first N requests; 0: all.", _non_negative_int),
)
TRACE_KEY_NAMES = {k.name for k in TRACE_KEYS} | {k.name for k in COMMON_KEYS}


def _validate_keys(spec: dict, keys: typing.Iterable[Key], path: tuple) -> dict:
    """Check the given keys of `spec` (present ones only); returns the checked values."""
    out = {}
    for key in keys:
        if key.name not in spec:
            continue
        kpath = path + (key.name,)
        value = spec[key.name]
        if not any(isinstance(value, t) and not (isinstance(value, bool) and t is not bool) for t in key.types) \
                and not (float in key.types and isinstance(value, int) and not isinstance(value, bool)):
            words = " or ".join(_TYPE_WORDS[t] for t in key.types)
            raise _Invalid(kpath, f"must be {words}, got {_show(value)}")
        if key.types == (float,):
            value = float(value)
        out[key.name] = key.check(kpath, value) if key.check else value
    return out


def _resolve(base_dir: Path, value: str) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base_dir / p).resolve())


# Generator specs (burststudio.workload.synth) --------------------------------------------------------------------
def _synth():
    from burststudio.workload import synth

    return synth


def _is_trace_spec(spec: dict) -> bool:
    return "trace" in spec


def _validate_generator(spec: dict, base_dir: Path) -> dict:
    """The generator form, checked by the synth package; returns it with its paths made absolute."""
    _filled_generator(spec)
    spec = _resolve_spec_paths(spec, base_dir)
    _check_files(spec, ("workload",), _path_keys())
    return spec


def _check_files(spec: Any, path: tuple, keys: typing.Container[str]) -> None:
    """Every file the spec names exists (so a typo points at its line now, not at build time)."""
    items = spec.items() if isinstance(spec, dict) else enumerate(spec) if isinstance(spec, list) else ()
    for k, v in items:
        if k in keys and isinstance(v, str):
            if not Path(v).exists():
                raise _Invalid(path + (k,), f"no such file: {v}")
        else:
            _check_files(v, path + (k,), keys)


def _filled_generator(spec: dict) -> dict:
    """The spec with every default filled (the synth registry's `resolve`), or an _Invalid naming the key path."""
    from burststudio.workload.synth import spec as registry

    try:
        return registry.resolve(spec)
    except registry.SpecError as exc:
        raise _Invalid(("workload",) + tuple(exc.path), exc.message) from None


def _path_keys() -> frozenset[str]:
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
    keys = _path_keys() if keys is None else keys
    if isinstance(spec, dict):
        return {k: (_resolve(base_dir, v) if k in keys and isinstance(v, str)
                    else _resolve_spec_paths(v, base_dir, keys)) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_resolve_spec_paths(v, base_dir, keys) for v in spec]
    return spec


def _relative_spec_paths(spec: Any, base_dir: Path, keys: frozenset[str]) -> Any:
    if isinstance(spec, dict):
        return {k: (_relative(base_dir, v) if k in keys and isinstance(v, str)
                    else _relative_spec_paths(v, base_dir, keys)) for k, v in spec.items()}
    if isinstance(spec, list):
        return [_relative_spec_paths(v, base_dir, keys) for v in spec]
    return spec


def _relative(base_dir: Path, value: str) -> str:
    try:
        return os.path.relpath(value, base_dir)
    except ValueError:  # another drive
        return value


# The preset ------------------------------------------------------------------------------------------------------
def _validate_workload(data: Any, base_dir: Path) -> dict:
    if not isinstance(data, dict):
        raise _Invalid(("workload",), f"must be a table, got {_show(data)}")
    common = _validate_keys(data, COMMON_KEYS, ("workload",))
    if not _is_trace_spec(data):
        spec = _validate_generator(data, base_dir)
        spec.update(common)
        return spec
    for key in data:
        if key not in TRACE_KEY_NAMES:
            raise _unknown(("workload", key), [k.name for k in TRACE_KEYS], "key for a trace workload")
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
        raise _Invalid(("workload", "format"), f"must be auto or one of {', '.join(sorted(known))}; got {_show(name)}")


def _filled_trace_spec(spec: dict, name: str) -> dict:
    out: dict[str, Any] = {"name": name}
    for key in COMMON_KEYS + TRACE_KEYS:
        if key.name in spec:
            out[key.name] = spec[key.name]
        elif key.default is not None:
            out[key.name] = key.default
    return out


def _settings_paths(target: TargetSettings, base_dir: Path) -> TargetSettings:
    for path in PATH_SETTINGS:
        obj: Any = target
        for part in path[1:-1]:
            obj = getattr(obj, part)
        value = getattr(obj, path[-1])
        if value and not os.path.isabs(value) and (base_dir / value).exists():
            setattr(obj, path[-1], str((base_dir / value).resolve()))
    return target


@dataclass
class Preset:
    """A validated experiment: what to send (`workload_spec`), where (`target`) and how (`replay`)."""

    path: Path | None
    name: str
    text: str
    workload_spec: dict
    target: TargetSettings = field(default_factory=TargetSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def is_trace(self) -> bool:
        return _is_trace_spec(self.workload_spec)

    @property
    def seed(self) -> int:
        return int(self.workload_spec.get("seed", 0))

    # Building ----------------------------------------------------------------------------------------------------
    def build_workload(self, seed: int | None = None) -> "Workload":
        """The workload this preset describes; `seed` overrides `[workload] seed`."""
        seed = self.seed if seed is None else int(seed)
        if self.is_trace:
            w = _build_trace(self.workload_spec, seed)
        else:
            from burststudio.workload.synth.spec import SpecError

            spec = {**self.workload_spec, "name": self.name, "seed": seed}
            try:
                w = _synth().synthesize(spec, seed=seed, base_dir=self.base_dir)
            except SpecError as exc:
                raise self._error(("workload",) + tuple(exc.path), exc.message) from None
        return w.with_table(w.table, None, name=self.name) if w.meta.name != self.name else w

    def _error(self, path: tuple, message: str) -> PresetError:
        line = line_of(key_lines(self.text), path) if self.text else None
        return PresetError(str(self.path) if self.path else "<preset>", line, _key_name(path), message)

    # Writing -----------------------------------------------------------------------------------------------------
    def resolved_dict(self) -> dict[str, Any]:
        """Every section with every default filled and every path absolute."""
        if self.is_trace:
            workload = _filled_trace_spec(self.workload_spec, self.name)
        else:
            workload = {**_filled_generator({**self.workload_spec, "name": self.name, "seed": self.seed})}
        return {"workload": workload, "target": settings_to_dict(self.target),
                "replay": settings_to_dict(self.replay)}

    def resolved_toml(self) -> str:
        """A complete preset (defaults filled, paths absolute) that loads back into the same experiment."""
        import tomli_w

        origin = f" from {self.path}" if self.path else ""
        header = f"# Resolved preset {self.name!r}{origin}: every default filled, every path absolute.\n"
        return header + tomli_w.dumps(self.resolved_dict())

    def to_toml(self, base_dir: str | Path | None = None, header: str | None = None) -> str:
        """A preset file for "save as preset": only what differs from the defaults, paths relative to `base_dir`."""
        import tomli_w

        workload = dict(self.workload_spec)
        if base_dir is not None:
            keys = frozenset({"trace"}) if self.is_trace else _path_keys()
            workload = _relative_spec_paths(workload, Path(base_dir).resolve(), keys)
        if self.is_trace:
            defaults = {k.name: k.default for k in TRACE_KEYS + COMMON_KEYS}
            workload = {k: v for k, v in workload.items() if k == "trace" or defaults.get(k) != v}
        workload["name"] = self.name
        data: dict[str, Any] = {"workload": workload}
        for section, cls in SECTION_CLASSES.items():
            diff = _diff(settings_to_dict(getattr(self, section)), settings_to_dict(cls()))
            if diff:
                data[section] = diff
        text = tomli_w.dumps(data)
        if header:
            text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + "\n" + text
        return text

    def save(self, path: str | Path, header: str | None = None) -> Path:
        """Write `to_toml()` to `path` (relative paths from its folder) and return the path."""
        path = Path(path)
        path.write_text(self.to_toml(path.parent, header))
        return path


def _diff(values: dict, defaults: dict) -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            sub = _diff(value, defaults[key])
            if sub:
                out[key] = sub
        elif value != defaults[key]:
            out[key] = value
    return out


def _build_trace(spec: dict, seed: int) -> "Workload":
    from burststudio.workload import formats
    from burststudio.workload.transform_spec import TransformSpec

    fmt = spec.get("format", "auto")
    w = formats.load(spec["trace"], format=None if fmt == "auto" else fmt, columns=spec.get("columns") or None)
    return TransformSpec.from_preset(spec).apply(w, seed)


def preset_from_dict(data: dict, *, path: str | Path | None = None, text: str = "",
                     base_dir: str | Path | None = None) -> Preset:
    """Validate a parsed preset. Errors name `path` (and the line, when `text` holds the source)."""
    file = str(path) if path is not None else "<preset>"
    base = Path(base_dir) if base_dir is not None else (Path(path).resolve().parent if path else Path.cwd())
    try:
        if not isinstance(data, dict):
            raise _Invalid((), "a preset must be a TOML table")
        for key, value in data.items():
            if key not in SECTIONS:
                raise _unknown((key,), SECTIONS, "section" if isinstance(value, dict) else "key")
        if "workload" not in data:
            raise _Invalid(("workload",), "missing section: say what to send (a trace or a generator)")
        workload = _validate_workload(data["workload"], base)
        target = settings_from_table(TargetSettings, data.get("target", {}), ("target",))
        replay = settings_from_table(ReplaySettings, data.get("replay", {}), ("replay",))
    except _Invalid as exc:
        line = line_of(key_lines(text), exc.path) if text else None
        raise PresetError(file, line, _key_name(exc.path), exc.message) from None
    target = _settings_paths(target, base)
    name = workload.get("name") or (Path(path).stem if path else "preset")
    return Preset(path=Path(path).resolve() if path else None, name=name, text=text, workload_spec=workload,
                  target=target, replay=replay)


def _syntax_error(file: str, exc: tomllib.TOMLDecodeError) -> PresetError:
    message = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", message) or re.search(r"at line (\d+)", message)
    line = int(m.group(1)) if m else None
    return PresetError(file, line, "", f"invalid TOML: {message}")


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset file (PresetError, one line, on any problem)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(file, None, "", "no such preset file") from None
    except IsADirectoryError:
        raise PresetError(file, None, "", "is a folder, not a preset file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(file, None, "", f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(file, exc) from None
    return preset_from_dict(data, path=path, text=text)


def preset_from_trace(path: str | Path, format: str | None = None) -> Preset:
    """A preset around a trace file with default target and replay settings (for `burststudio replay TRACE`)."""
    import tomli_w

    trace = Path(path)
    spec: dict[str, Any] = {"trace": str(trace.resolve()), "name": trace.name.split(".")[0] or trace.name}
    if format:
        spec["format"] = format
    data = {"workload": spec}
    return preset_from_dict(data, path=None, text=tomli_w.dumps(data), base_dir=trace.resolve().parent)


# Documentation ---------------------------------------------------------------------------------------------------
DOC_BEGIN = "<!-- BEGIN GENERATED by `python -m burststudio.presets --write docs/presets.md`; do not edit by hand -->"
DOC_END = "<!-- END GENERATED -->"
_DOC_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "table"}


def _literal(value: Any) -> str:
    """A value as it is written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_literal(v)}" for k, v in value.items()) + "}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _settings_doc(cls: type, path: str, out: list[str]) -> None:
    """One table per settings dataclass, then its nested dataclasses as their own sub-tables."""
    doc = (cls.__doc__ or "").strip().splitlines()[0]
    out += [f"### `[{path}]`", "", doc, "", _row("key", "type", "default", "allowed", "meaning"),
            "|---|---|---|---|---|"]
    nested = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            nested.append((kind, f"{path}.{f.name}"))
            out.append(_row(f"`{f.name}`", "table", f"see `[{path}.{f.name}]`", "", f.metadata.get("doc", "")))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        allowed = []
        if f.metadata.get("choices"):
            allowed.append(", ".join(f"`{c}`" for c in f.metadata["choices"]))
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if lo is not None:
            allowed.append("> 0" if 0 < lo <= 1e-6 else f">= {lo:g}")
        if hi is not None:
            allowed.append(f"<= {hi:g}")
        kind = typing.get_origin(kind) or kind
        out.append(_row(f"`{f.name}`", _DOC_TYPES.get(kind, str(kind)), f"`{_literal(default)}`", "; ".join(allowed),
                        f.metadata.get("doc", "")))
    out.append("")
    for kind, sub in nested:
        _settings_doc(kind, sub, out)


def _keys_doc(keys: typing.Iterable[Key], out: list[str]) -> None:
    out += [_row("key", "type", "default", "meaning"), "|---|---|---|---|"]
    for k in keys:
        types = " or ".join(_DOC_TYPES[t] for t in k.types)
        default = "the file's name" if k.name == "name" else ("required" if k.default is None
                                                              else f"`{_literal(k.default)}`")
        out.append(_row(f"`{k.name}`", types, default, k.doc))
    out.append("")


_SPEC_TYPES = {"float": "number", "int": "integer", "str": "string", "bool": "boolean", "path": "string (path)",
               "floats": "array of numbers", "windows": "array of tables"}


def _param_rows(params: typing.Iterable[Any], out: list[str], skip: typing.Container[str] = ()) -> None:
    out += [_row("key", "type", "default", "allowed", "meaning"), "|---|---|---|---|---|"]
    for p in params:
        if p.name in skip:
            continue
        default = "required" if p.required else ("none" if p.default is None else f"`{_literal(p.default)}`")
        out.append(_row(f"`{p.name}`", _SPEC_TYPES.get(p.type, p.type), default, p.bounds_text(), p.doc))
    out.append("")


def _table_rules(table: Any) -> list[str]:
    rules = []
    for o in table.one_of:
        groups = [" and ".join(f"`{k}`" for k in g) for g in o.groups]
        text = "Give " + (" or ".join(groups) if len(groups) > 1 else groups[0])
        if o.default:
            text += " (neither: " + ", ".join(f"`{k} = {_literal(v)}`" for k, v in o.default.items()) + ")"
        rules.append(text + ".")
    for key, other in table.needs:
        rules.append(f"`{key}` applies only with `{other}`.")
    for lo, hi in table.ordered:
        rules.append(f"`{lo}` <= `{hi}`.")
    return rules


def _spec_table_doc(table: Any, title: str, out: list[str], skip: typing.Container[str] = (),
                    note: str = "") -> None:
    out += [title, "", table.doc + (f" {note}" if note else ""), ""]
    params = [p for p in table.params if p.name not in skip]
    if params:
        _param_rows(params, out)
    rules = _table_rules(table)
    out += [f"- {rule}" for rule in rules] + ([""] if rules else [])
    for p in params:
        if p.fields:
            out += [f"Each `{p.name}` row:", ""]
            _param_rows(p.fields, out)


def _family_doc(fam: Any, path: str, out: list[str], level: str, note: str, seen: dict[int, str]) -> None:
    default = f"default `{fam.default_kind}`" if fam.default_kind else "required"
    if id(fam) in seen:
        out += [f"{level} `[{path}]`", "", f"{note} The same choices as `[{seen[id(fam)]}]`.", ""]
        return
    seen[id(fam)] = path
    out += [f"{level} `[{path}]`", "", f"{fam.doc} {note} Chosen by `{fam.key}` ({default}):", ""]
    for name, table in fam.kinds.items():
        _spec_table_doc(table, f"{level}# `{fam.key} = \"{name}\"`", out)
    for sub in fam.subtables:
        _sub_doc(sub, f"{path}.{sub.name}", out, level, seen)


def _sub_doc(sub: Any, path: str, out: list[str], level: str, seen: dict[int, str]) -> None:
    from burststudio.workload.synth.spec import Family

    if sub.required:
        note = "This table is required."
    elif sub.default is not None:
        note = f"When absent: `{_literal(sub.default)}`."
    else:
        note = "Optional; absent means not used."
    if isinstance(sub.schema, Family):
        _family_doc(sub.schema, path, out, level, note, seen)
    else:
        _spec_table_doc(sub.schema, f"{level} `[{path}]`", out, note=note)
        for inner in sub.schema.subtables:
            _sub_doc(inner, f"{path}.{inner.name}", out, level, seen)


def render_doc() -> str:
    """The reference part of docs/presets.md, made from the settings classes and the generator registry."""
    from burststudio.workload.synth import spec as registry

    out = ["## `[workload]`", "",
           "Either a trace (the table has a `trace` key) or a generator. Two keys apply to both:", ""]
    _keys_doc(COMMON_KEYS, out)
    out += ["### A trace", "",
            "The transforms apply in this order (as `burststudio convert` applies them): filter by `model`, "
            "`source` and `failed`, then `window_s`, `time_scale`, `rate_scale`, `sample`, `head`.", ""]
    _keys_doc(TRACE_KEYS, out)
    out += ["### A generator", "",
            "Every other `[workload]` table is a generator spec, checked and built by `burststudio.workload.synth`.",
            ""]
    _spec_table_doc(registry.WORKLOAD, "#### `[workload]`", out, skip=("name", "seed"))
    seen: dict[int, str] = {}
    for sub in registry.WORKLOAD.subtables:
        _sub_doc(sub, f"workload.{sub.name}", out, "####", seen)
    out += ["## `[target]` and `[replay]`", "",
            "Sub-tables such as `[target.vllm]` or `[replay.timeouts]` may also be written as inline tables "
            "(`timeouts = { total_s = 60 }`) or dotted keys (`timeouts.total_s = 60`).", ""]
    for section, cls in SECTION_CLASSES.items():
        _settings_doc(cls, section, out)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def update_doc(text: str) -> str:
    """`text` (docs/presets.md) with the part between the markers replaced by `render_doc()`."""
    if DOC_BEGIN not in text or DOC_END not in text:
        raise UserError(f"the document lacks the markers {DOC_BEGIN!r} and {DOC_END!r}")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    return f"{head}{DOC_BEGIN}\n\n{render_doc()}\n{DOC_END}{tail}"


__all__ = ["Preset", "PresetError", "load_preset", "preset_from_trace", "preset_from_dict", "render_doc",
           "update_doc", "settings_from_table"]


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m burststudio.presets",
                                     description="Print or update the generated parts of docs/presets.md.")
    parser.add_argument("--doc", action="store_true", help="print the reference tables as Markdown")
    parser.add_argument("--write", metavar="FILE", help="rewrite the generated sections of FILE in place")
    args = parser.parse_args(argv)
    if args.write:
        Path(args.write).write_text(update_doc(Path(args.write).read_text()))
        return 0
    sys.stdout.write(render_doc())
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
