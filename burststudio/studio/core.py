"""The studio's one door into the workload core, the presets and the fit: listing sources, building a workload from
the form's values, fitting, saving presets.

Nothing here computes a statistic, a synthesis or a fit itself: it calls burststudio.workload.{formats, transform,
synth, fit} and burststudio.presets, and turns their errors into (field, message) pairs the form shows beside a field.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACE_SUFFIXES = (".csv", ".gz", ".zst", ".zstd", ".jsonl", ".json", ".parquet", ".tsv")


class FieldError(Exception):
    """A value the form holds cannot be used; `field` is the form path at fault (None: the source as a whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class ParamSpec:
    """One field of the parameter form."""

    path: str  # dotted key in the spec, e.g. "arrivals.rate"
    label: str
    kind: str = "float"  # float | int | str | bool | choice
    default: Any = None
    doc: str = ""
    choices: list[str] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    group: str = ""
    # Shown only when another field has one of these values: {"arrivals.process": ["gamma"]}.
    when: dict[str, list[str]] = field(default_factory=dict)


# Transforms a trace (or any workload) takes in the form; they map to burststudio.workload.transform.
TRANSFORM_FIELDS: list[ParamSpec] = [
    ParamSpec("window.start_s", "window start s", "float", 0.0, "Keep requests from this second on.", min=0.0,
              group="transforms"),
    ParamSpec("window.end_s", "window end s", "float", 0.0, "Keep requests before this second; 0: to the end.",
              min=0.0, group="transforms"),
    ParamSpec("time_scale", "time scale", "float", 1.0, "Stretch (>1) or compress (<1) time.", min=1e-6,
              group="transforms"),
    ParamSpec("rate_scale", "rate scale", "float", 1.0, "Thin (<1) or replicate (>1) arrivals, keeping bursts.",
              min=1e-6, group="transforms"),
]


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# Sources ----------------------------------------------------------------------------------------------------------
def list_traces(traces_dir: Path) -> list[Path]:
    if not traces_dir.is_dir():
        return []
    return sorted(p for p in traces_dir.iterdir()
                  if p.is_file() and p.name.lower().endswith(TRACE_SUFFIXES) and not p.name.startswith("."))


def list_presets(presets_dir: Path) -> list[Path]:
    if not presets_dir.is_dir():
        return []
    return sorted(p for p in presets_dir.glob("*.toml") if p.is_file())


def load_trace(path: str | Path):
    """A trace file as a Workload (formats.load); a bad file raises the core's InputFileError (one line)."""
    from burststudio.workload import formats

    return formats.load(str(path))


def apply_transforms(workload, values: dict[str, Any], seed: int = 0):
    """The form's transform fields applied in a fixed order: window, time scale, rate scale."""
    from burststudio.errors import UserError
    from burststudio.workload import transform

    start = float(values.get("window.start_s") or 0.0)
    end = float(values.get("window.end_s") or 0.0)
    try:
        if start > 0 or end > 0:
            if end and not end > start:
                raise FieldError("must be after the window start", "window.end_s")
            workload = transform.window(workload, start or None, end or None)
    except UserError as exc:
        raise FieldError(str(exc), "window.start_s") from None
    for key, fn in (("time_scale", lambda w, f: transform.time_scale(w, f)),
                    ("rate_scale", lambda w, f: transform.rate_scale(w, f, seed=seed))):
        factor = values.get(key, 1.0)
        if factor is None or float(factor) == 1.0:
            continue
        try:
            workload = fn(workload, float(factor))
        except UserError as exc:
            raise FieldError(str(exc), key) from None
    return workload


# Generators (burststudio.workload.synth) --------------------------------------------------------------------------
def synth_available() -> bool:
    synth = _module("burststudio.workload.synth")
    return synth is not None and hasattr(synth, "synthesize")


# The kinds the form offers: those whose parameters are plain numbers (windows tables and trace paths stay in TOML).
FORM_KINDS = {
    "arrivals": ("poisson", "gamma", "weibull", "onoff", "flash"),
    "lengths": ("lognormal", "zipf", "uniform", "fixed", "bimodal"),
    "modulation": ("sinusoid",),
}
NONE_KIND = "none"
# What a fresh generator form holds: bursty Gamma arrivals and chat-like lengths a small engine keeps up with.
GENERATOR_START: dict[str, Any] = {
    "requests": 100_000,
    "arrivals.process": "gamma", "arrivals.rate": 5.0, "arrivals.cv": 2.0,
    "arrivals.modulation.kind": NONE_KIND,
    "prompt.dist": "lognormal", "prompt.median": 200.0, "prompt.sigma": 0.8,
    "output.dist": "lognormal", "output.median": 64.0, "output.sigma": 0.6,
}


def _family_fields(fam: dict[str, Any], prefix: str, group: str, kinds: tuple[str, ...], optional: bool,
                   when: dict[str, list[str]] | None = None) -> list[ParamSpec]:
    key_path = f"{prefix}.{fam['key']}"
    choices = ([NONE_KIND] if optional else []) + [k for k in kinds if k in fam["kinds"]]
    out = [ParamSpec(key_path, fam["key"], "choice", choices[0], fam["doc"], choices, group=group, when=dict(when or {}))]
    seen: dict[str, ParamSpec] = {}
    for kind in choices:
        if kind == NONE_KIND:
            continue
        for p in fam["kinds"][kind]["params"]:
            if p["type"] not in ("float", "int", "bool", "str") or p["name"] == "format":
                continue
            path = f"{prefix}.{p['name']}"
            if path in seen:
                seen[path].when[key_path].append(kind)
                continue
            cond = {**(when or {}), key_path: [kind]}
            spec = ParamSpec(path, p["name"].replace("_", " "), "choice" if p["choices"] else p["type"],
                             p["default"], p["doc"], list(p["choices"] or []),
                             p["min"] if not p["min_open"] else None, p["max"] if not p["max_open"] else None,
                             group, cond)
            seen[path] = spec
            out.append(spec)
    return out


def generator_fields() -> list[ParamSpec]:
    """The generator form, built from synth's parameter registry (kinds with plain-number parameters)."""
    try:
        from burststudio.workload.synth.spec import registry
    except ImportError:
        return []
    reg = registry()
    fams = reg["families"]
    fields: list[ParamSpec] = []
    for p in reg["workload"]["params"]:
        if p["name"] in ("requests", "duration_s"):
            fields.append(ParamSpec(p["name"], p["name"].replace("_", " "), p["type"], None, p["doc"],
                                    min=p["min"] if not p["min_open"] else None, group="size"))
    fields += _family_fields(fams["arrivals"], "arrivals", "arrivals", FORM_KINDS["arrivals"], False)
    fields += _family_fields(fams["modulation"], "arrivals.modulation", "modulation", FORM_KINDS["modulation"], True)
    fields += _family_fields(fams["lengths"], "prompt", "prompt tokens", FORM_KINDS["lengths"], False)
    fields += _family_fields(fams["lengths"], "output", "output tokens", FORM_KINDS["lengths"], False)
    return fields


def spec_from_values(values: dict[str, Any]) -> dict[str, Any]:
    """Dotted form paths -> the nested [workload] table synth reads."""
    spec: dict[str, Any] = {}
    for path, value in values.items():
        if value is None or value == "" or value == NONE_KIND:
            continue
        node = spec
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return spec


def values_from_spec(spec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in spec.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(values_from_spec(v, path + "."))
        else:
            out[path] = v
    return out


def synthesize(spec: dict[str, Any], seed: int, base_dir: Path, requests: int | None = None):
    """Validate and synthesise; a validation error names the field (synth's SpecError path)."""
    synth = _module("burststudio.workload.synth")
    if synth is None or not hasattr(synth, "synthesize"):
        raise FieldError("the generators (burststudio.workload.synth) are not installed")
    spec = dict(spec)
    if requests is not None and "requests" not in spec and "duration_s" not in spec:
        spec["requests"] = requests
    validate = getattr(synth, "validate", None)
    spec_error = getattr(synth, "SpecError", None)
    try:
        if validate is not None:
            validate(spec)
        return synth.synthesize(spec, seed=seed, base_dir=base_dir)
    except Exception as exc:
        if spec_error is not None and isinstance(exc, spec_error):
            path = getattr(exc, "path", None)
            if isinstance(path, (list, tuple)):
                path = ".".join(map(str, path))
            return _raise_field(exc, path)
        from burststudio.errors import UserError

        if isinstance(exc, UserError):
            raise FieldError(str(exc)) from None
        raise


def _raise_field(exc: Exception, path: str | None):
    message = getattr(exc, "message", None) or str(exc)
    raise FieldError(str(message), path) from None


# Fits (burststudio.workload.fit) ----------------------------------------------------------------------------------
def fit_interarrival(gaps):
    """The best-fitting inter-arrival distribution as a frozen scipy distribution, and its label."""
    fit = _module("burststudio.workload.fit")
    if fit is None:
        return None, ""
    for name in ("fit_interarrivals", "fit_interarrival", "fit_gaps"):
        fn = getattr(fit, name, None)
        if fn is not None:
            result = fn(gaps)
            break
    else:
        return None, ""
    best = getattr(result, "best", result)
    if isinstance(best, (list, tuple)):
        best = best[0]
    frozen = getattr(best, "frozen", None) or getattr(best, "dist", None)
    if callable(frozen) and not hasattr(frozen, "pdf"):
        frozen = frozen()
    label = str(getattr(best, "name", "") or getattr(best, "family", "") or "fit")
    return (frozen, label) if hasattr(frozen, "pdf") else (None, "")


def fit_to_generator(workload) -> dict[str, Any]:
    """Generator parameters fitted to `workload` (fit module's spec), as form values."""
    fit = _module("burststudio.workload.fit")
    if fit is None:
        raise FieldError("fitting (burststudio.workload.fit) is not installed")
    for name in ("fit_spec", "fit_workload_spec", "to_spec", "fit_generator"):
        fn = getattr(fit, name, None)
        if fn is not None:
            spec = fn(workload)
            break
    else:
        raise FieldError("the fit module offers no generator spec")
    spec = getattr(spec, "workload_spec", spec)
    if not isinstance(spec, dict):
        spec = dict(spec)
    return values_from_spec(spec.get("generator", spec) if "generator" in spec and isinstance(spec["generator"], dict)
                            else spec)


# Presets (burststudio.presets) ------------------------------------------------------------------------------------
def load_preset(path: Path):
    presets = _module("burststudio.presets")
    if presets is None:
        raise FieldError("presets (burststudio.presets) are not installed")
    return presets.load_preset(path)


def save_preset(path: Path, workload_spec: dict[str, Any], target: dict[str, Any],
                replay: dict[str, Any] | None = None) -> Path:
    """Validate the experiment with the presets module and write it with its writer (paths relative to the file)."""
    from burststudio.presets import preset_from_dict

    doc: dict[str, Any] = {"workload": workload_spec, "target": target}
    if replay:
        doc["replay"] = replay
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    preset = preset_from_dict(doc, path=path, base_dir=path.parent)
    return preset.save(path, header=f"{preset.name}: saved from the studio.")
