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
tomllib reports no positions, so the line comes from burststudio.toml_key_lines, which scans the text.
Relative paths resolve from the preset's folder. `resolved_toml()` writes the same experiment back with every
default filled and every path absolute; the replay engine stores it in each run directory and can re-run it.

The checks live in burststudio.preset_validate (errors, values, settings tables) and burststudio.preset_workload
(the `[workload]` table); `python -m burststudio.presets --doc` prints the reference part of docs/presets.md,
rendered by burststudio.preset_doc.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burststudio import limits
from burststudio.preset_doc import SECTION_CLASSES, render_doc, update_doc
from burststudio.preset_validate import (MAX_DEPTH, Invalid, PresetError, check_depth, key_name,
                                         settings_from_table, settings_to_dict, show_value, unknown_key)
from burststudio.preset_workload import (COMMON_KEYS, LIMIT_KEY, TRACE_KEYS, filled_generator, filled_trace_spec, is_trace_spec,
                                         path_keys, relative_spec_paths, validate_workload)
from burststudio.settings import BODY_FIELDS, ReplaySettings, TargetSettings
from burststudio.targets import registry as target_kinds
from burststudio.toml_key_lines import key_lines, line_of

if typing.TYPE_CHECKING:
    from burststudio.workload.model import Workload

SECTIONS = ("workload", "target", "replay", "sweep")


def _settings_paths(target: TargetSettings, base_dir: Path) -> TargetSettings:
    # Fields that may name a file: a relative value that exists beside the preset becomes an absolute path.
    for path in target_kinds.path_settings():
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
    # `KEY.PATH=VALUE` changes applied on the command line (`with_sets`), in order.
    sets: list[str] = field(default_factory=list)
    # `[sweep] set`: what `burststudio sweep` sweeps when the command line names nothing ("KEY.PATH=V1,V2,...").
    sweep_sets: list[str] = field(default_factory=list)
    # `[workload] max_requests`: the request limit building this workload raises to (burststudio.limits).
    max_requests: int | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def is_trace(self) -> bool:
        return is_trace_spec(self.workload_spec)

    @property
    def seed(self) -> int:
        return int(self.workload_spec.get("seed", 0))

    # Building ----------------------------------------------------------------------------------------------------
    def build_workload(self, seed: int | None = None) -> "Workload":
        """The workload this preset describes; `seed` overrides `[workload] seed`."""
        seed = self.seed if seed is None else int(seed)
        where = str(self.path) if self.path else "<preset>"
        with limits.preset_limit(self.max_requests), limits.building(f"the workload of {where}"):
            try:
                w = self._build(seed)
            except limits.SizeError as exc:
                if exc.where is not None or not self.path:  # a trace file names itself
                    raise
                raise limits.SizeError(str(exc), where=where) from None
        return w.with_table(w.table, None, name=self.name) if w.meta.name != self.name else w

    def _build(self, seed: int) -> "Workload":
        if self.is_trace:
            return _build_trace(self.workload_spec, seed)
        from burststudio.workload import synth
        from burststudio.workload.synth.spec import SpecError

        spec = {**self.workload_spec, "name": self.name, "seed": seed}
        try:
            return synth.synthesize(spec, seed=seed, base_dir=self.base_dir)
        except SpecError as exc:
            raise self._error(("workload",) + tuple(exc.path), exc.message) from None

    def _error(self, path: tuple, message: str) -> PresetError:
        line = line_of(key_lines(self.text), path) if self.text else None
        return PresetError(str(self.path) if self.path else "<preset>", line, key_name(path), message)

    # Writing -----------------------------------------------------------------------------------------------------
    def resolved_dict(self) -> dict[str, Any]:
        """Every section with every default filled and every path absolute."""
        if self.is_trace:
            workload = filled_trace_spec(self.workload_spec, self.name)
        else:
            workload = {**filled_generator({**self.workload_spec, "name": self.name, "seed": self.seed})}
        out = {"workload": workload, "target": settings_to_dict(self.target),
               "replay": settings_to_dict(self.replay)}
        if self.max_requests is not None:
            workload[LIMIT_KEY] = self.max_requests
        if self.sweep_sets:
            out["sweep"] = {"set": list(self.sweep_sets)}
        return out

    def resolved_toml(self) -> str:
        """A complete preset (defaults filled, paths absolute) that loads back into the same experiment."""
        import tomli_w

        origin = f" from {self.path}" if self.path else ""
        header = f"# Resolved preset {self.name!r}{origin}: every default filled, every path absolute.\n"
        if self.sets:
            header += "# Changed by " + " ".join(f"--set {_quoted(item)}" for item in self.sets) + "\n"
        return header + tomli_w.dumps(self.resolved_dict())

    def to_toml(self, base_dir: str | Path | None = None, header: str | None = None, like: str = "") -> str:
        """A preset file for "save as preset": only what differs from the defaults, paths relative to `base_dir`.
        `like` is the text of the preset file this one was loaded from: a key it writes stays, even where it holds
        the default (a shipped preset says `time_scale = 1.0` on purpose)."""
        import tomli_w

        try:
            kept = tomllib.loads(like) if like else {}
        except tomllib.TOMLDecodeError:
            kept = {}
        workload = dict(self.workload_spec)
        if base_dir is not None:
            keys = frozenset({"trace"}) if self.is_trace else path_keys()
            workload = relative_spec_paths(workload, Path(base_dir).resolve(), keys)
        if self.is_trace:
            defaults = {k.name: k.default for k in TRACE_KEYS + COMMON_KEYS}
            written = kept.get("workload") if isinstance(kept.get("workload"), dict) else {}
            workload = {k: v for k, v in workload.items() if k == "trace" or k in written or defaults.get(k) != v}
        workload["name"] = self.name
        if self.max_requests is not None:
            workload[LIMIT_KEY] = self.max_requests
        data: dict[str, Any] = {"workload": workload}
        for section, cls in SECTION_CLASSES.items():
            diff = _diff(settings_to_dict(getattr(self, section)), settings_to_dict(cls()), kept.get(section))
            if diff:
                data[section] = diff
        if self.sweep_sets:
            data["sweep"] = {"set": list(self.sweep_sets)}
        text = tomli_w.dumps(data)
        if header:
            text = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) + "\n" + text
        return text

    def save(self, path: str | Path, header: str | None = None, like: str = "") -> Path:
        """Write `to_toml()` to `path` (relative paths from its folder) and return the path."""
        path = Path(path)
        path.write_text(self.to_toml(path.parent, header, like))
        return path


def header_comment(text: str) -> str | None:
    """The comment block a preset file starts with, without its `#` marks (what `to_toml(header=...)` writes back);
    None when the file starts with no comment."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        lines.append(stripped[1:][1:] if stripped[1:].startswith(" ") else stripped[1:])
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) if lines else None


def _diff(values: dict, defaults: dict, kept: Any = None) -> dict:
    """What differs from the defaults, and what `kept` (the same table as a file wrote it) names."""
    kept = kept if isinstance(kept, dict) else {}
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            sub = _diff(value, defaults[key], kept.get(key))
            if sub:
                out[key] = sub
        elif value != defaults[key] or key in kept:
            out[key] = value
    return out


def load_trace(spec: dict) -> "Workload":
    """A trace preset's file as read with its format, columns and block length, before any transform."""
    from burststudio.workload import formats

    fmt = spec.get("format", "auto")
    return formats.load(spec["trace"], format=None if fmt == "auto" else fmt, columns=spec.get("columns") or None,
                        block_tokens=spec.get("block_tokens"))


def _build_trace(spec: dict, seed: int) -> "Workload":
    from burststudio.workload.transform_spec import TransformSpec

    return TransformSpec.from_preset(spec).apply(load_trace(spec), seed)


def preset_from_dict(data: dict, *, path: str | Path | None = None, text: str = "",
                     base_dir: str | Path | None = None) -> Preset:
    """Validate a parsed preset. Errors name `path` (and the line, when `text` holds the source)."""
    file = str(path) if path is not None else "<preset>"
    base = Path(base_dir) if base_dir is not None else (Path(path).resolve().parent if path else Path.cwd())
    try:
        if not isinstance(data, dict):
            raise Invalid((), "a preset must be a TOML table")
        for key, value in data.items():
            if key not in SECTIONS:
                raise unknown_key((key,), SECTIONS, "section" if isinstance(value, dict) else "key")
        check_depth(data)
        if "workload" not in data:
            raise Invalid(("workload",), "missing section: say what to send (a trace or a generator)")
        workload = validate_workload(data["workload"], base)
        max_requests = workload.pop(LIMIT_KEY, None)
        target = settings_from_table(TargetSettings, data.get("target", {}), ("target",))
        replay = settings_from_table(ReplaySettings, data.get("replay", {}), ("replay",))
        sweep_sets = _sweep_table(data.get("sweep", {}))
        for name, value in target.headers.items():
            if not isinstance(value, str) or any(c in value + name for c in "\r\n") or not name.strip():
                raise Invalid(("target", "headers", name), f"must be a one-line string, got {show_value(value)}")
        taken = sorted(BODY_FIELDS & set(replay.extra_body))
        if taken:
            raise Invalid(("replay", "extra_body", taken[0]), "is set by BurstStudio for every request (the "
                          "workload's lengths, streaming, the model) and cannot be replaced")
    except Invalid as exc:
        line = line_of(key_lines(text), exc.path) if text else None
        raise PresetError(file, line, key_name(exc.path), exc.message) from None
    target = _settings_paths(target, base)
    for key in ("tokenizer", "dataset"):  # files beside the preset, as the workload's trace is
        value = getattr(replay, key)
        if value and not os.path.isabs(value) and (base / value).exists():
            setattr(replay, key, str((base / value).resolve()))
    name = workload.get("name") or (Path(path).stem if path else "preset")
    return Preset(path=Path(path).resolve() if path else None, name=name, text=text, workload_spec=workload,
                  target=target, replay=replay, sweep_sets=sweep_sets, max_requests=max_requests)


def _sweep_table(table: Any) -> list[str]:
    """`[sweep] set = ["KEY.PATH=V1,V2,..."]`: the dimensions of `burststudio sweep` (each value is checked by the
    sweep, as a line of the preset, before its first run)."""
    if not isinstance(table, dict):
        raise Invalid(("sweep",), "must be a table")
    for key in table:
        if key != "set":
            raise unknown_key(("sweep", key), ("set",), "key")
    items = table.get("set", [])
    if not isinstance(items, list) or not all(isinstance(x, str) and "=" in x for x in items):
        raise Invalid(("sweep", "set"), 'must be a list of "KEY.PATH=V1,V2,..." strings')
    for item in items:
        try:
            parse_set(item)
        except PresetError as exc:
            raise Invalid(("sweep", "set"), f"{item!r}: {exc.reason}") from None
    return list(items)


def _syntax_error(file: str, exc: tomllib.TOMLDecodeError) -> PresetError:
    message = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", message) or re.search(r"at line (\d+)", message)
    line = int(m.group(1)) if m else None
    return PresetError(file, line, "", f"invalid TOML: {message}")


def parse_toml(text: str, file: str) -> dict:
    """tomllib.loads, with what it raises besides TOMLDecodeError as one PresetError line: an integer of over
    4,300 digits (ValueError) and arrays or tables nested past the interpreter's recursion limit."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(file, exc) from None
    except ValueError:
        raise PresetError(file, None, "", "invalid TOML: an integer of more than 4,300 digits") from None
    except RecursionError:
        raise PresetError(file, None, "", f"invalid TOML: arrays or tables nested deeper than "
                          f"{MAX_DEPTH} levels") from None


def load_preset(path: str | Path) -> Preset:
    """Read and validate a preset file (PresetError, one line, on any problem)."""
    file = str(path)
    problem = limits.file_problem(path, limits.PRESET_MAX_BYTES, "preset")
    if problem:
        raise PresetError(file, None, "", problem)
    try:
        with open(path, "rb") as fh:  # at most one byte past the limit, should the file grow after the check
            raw = fh.read(limits.PRESET_MAX_BYTES + 1)
        if len(raw) > limits.PRESET_MAX_BYTES:
            raise PresetError(file, None, "", f"is more than the {limits.size_text(limits.PRESET_MAX_BYTES)} a "
                              "preset may hold")
        # As a text-mode read gives it (universal newlines): the line numbers of errors count the same lines.
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except FileNotFoundError:
        raise PresetError(file, None, "", "no such preset file") from None
    except IsADirectoryError:
        raise PresetError(file, None, "", "is a folder, not a preset file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(file, None, "", f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return preset_from_dict(parse_toml(text, file), path=path, text=text)


def preset_from_trace(path: str | Path, format: str | None = None) -> Preset:
    """A preset around a trace file with default target and replay settings (for `burststudio replay TRACE`)."""
    import tomli_w

    trace = Path(path)
    spec: dict[str, Any] = {"trace": str(trace.resolve()), "name": trace.name.split(".")[0] or trace.name}
    if format:
        spec["format"] = format
    data = {"workload": spec}
    return preset_from_dict(data, path=None, text=tomli_w.dumps(data), base_dir=trace.resolve().parent)


# Command-line changes --------------------------------------------------------------------------------------------
def parse_set(item: str) -> tuple[tuple[str, ...], Any]:
    """`KEY.PATH=VALUE` -> (key path, value). The value is read as a TOML value; a bare word is a string."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise PresetError(f"--set {item}", None, "", "expected KEY.PATH=VALUE, e.g. workload.arrivals.cv=3")
    try:
        table = tomllib.loads(f"{key.strip()} = 0")
    except tomllib.TOMLDecodeError:
        raise PresetError(f"--set {item}", None, "", f"not a key path: {key.strip()}") from None
    path: tuple[str, ...] = ()
    while isinstance(table, dict):
        (name, table), = table.items()
        path += (name,)
    try:
        parsed = tomllib.loads(f"v = {raw.strip()}")
        value = parsed["v"] if list(parsed) == ["v"] else raw.strip()
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except (ValueError, RecursionError):  # an integer of over 4,300 digits, or nesting past the recursion limit
        raise PresetError(f"--set {_shown_item(item)}", None, ".".join(path), "a value too long or nested too deep "
                          "to read as TOML") from None
    return path, value


def _shown_item(item: str) -> str:
    return item if len(item) <= 80 else item[:77] + "..."


def with_sets(preset: Preset, items: typing.Sequence[str]) -> Preset:
    """The preset with each `KEY.PATH=VALUE` applied as a line of the file would be, and validated the same way.

    An error names the flag: `--set workload.arrivals.cv=abc: workload.arrivals.cv: must be a number, ...`."""
    if not items:
        return preset
    file = str(preset.path) if preset.path else "<preset>"
    data = parse_toml(preset.text, file) if preset.text else preset.resolved_dict()
    base = preset.base_dir
    out = preset
    for item in items:
        path, value = parse_set(item)
        try:
            _put(data, path, value)
            out = preset_from_dict(data, path=preset.path, base_dir=base)
        except Invalid as exc:
            raise PresetError(f"--set {_shown_item(item)}", None, key_name(exc.path), exc.message) from None
        except PresetError as exc:
            raise PresetError(f"--set {_shown_item(item)}", None, exc.key, exc.reason) from None
    out.text = preset.text
    out.sets = [*preset.sets, *items]
    return out


def _put(data: dict, path: tuple[str, ...], value: Any) -> None:
    node = data
    for n, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise Invalid(path[:n + 1], f"is {show_value(child)}, not a table")
        node = child
    node[path[-1]] = value


def _quoted(item: str) -> str:
    import shlex

    # The flags go in a comment line of the resolved preset: a newline in one would end the comment.
    return shlex.quote(item.encode("unicode_escape").decode("ascii"))


__all__ = ["Preset", "PresetError", "header_comment", "load_preset", "preset_from_trace", "preset_from_dict", "render_doc",
           "update_doc", "settings_from_table", "parse_set", "with_sets"]


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
