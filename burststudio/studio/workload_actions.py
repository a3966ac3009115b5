"""The studio's one door into the workload core, the presets and the fit: listing sources, building a workload from
the form's values, fitting, saving presets.

Nothing here computes a statistic, a synthesis or a fit itself: it calls burststudio.workload.{formats, transform,
synth, fit} and burststudio.presets, and turns their errors into (field, message) pairs the form shows beside a field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from burststudio.schema import Param

if TYPE_CHECKING:
    from burststudio.workload.synth.tables import Family

TRACE_SUFFIXES = (".csv", ".gz", ".zst", ".zstd", ".jsonl", ".json", ".parquet", ".tsv")


def one_line(exc: BaseException) -> str:
    """An error as the one line a notification shows, whatever raised it."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class FieldError(Exception):
    """A value the form holds cannot be used; `field` is the form path at fault (None: the source as a whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class ParamSpec:
    """One field of the parameter form: where its value goes, and the schema.Param that describes it."""

    path: str  # dotted key in the spec, e.g. "arrivals.rate"
    label: str
    param: Param
    group: str = ""
    # Shown only when another field has one of these values: {"arrivals.process": ["gamma"]}.
    when: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """float | int | str | bool | choice"""
        return "choice" if self.param.choices else ("str" if self.param.type == "path" else self.param.type)

    @property
    def default(self) -> Any:
        return None if self.param.required else self.param.default

    @property
    def doc(self) -> str:
        return self.param.doc

    @property
    def choices(self) -> list[str]:
        return list(self.param.choices or ())

    # The form checks closed bounds as it parses; an open one (rate > 0) is left to the validator behind it.
    @property
    def min(self) -> float | None:
        return None if self.param.min_open else self.param.min

    @property
    def max(self) -> float | None:
        return None if self.param.max_open else self.param.max

    def with_choice(self, choice: str) -> "ParamSpec":
        return ParamSpec(self.path, self.label, replace(self.param, choices=(*self.choices, choice)), self.group,
                         dict(self.when))


def _trace_key(name: str) -> Param:
    from burststudio.preset_workload import TRACE_KEYS

    return next(k for k in TRACE_KEYS if k.name == name)


# Transforms a trace (or any workload) takes in the form; they map to burststudio.workload.transform.
TRANSFORM_FIELDS: list[ParamSpec] = [
    ParamSpec("window.start_s", "window start s",
              Param("start_s", "float", "Keep requests from this second on.", 0.0, min=0.0), group="transforms"),
    ParamSpec("window.end_s", "window end s",
              Param("end_s", "float", "Keep requests before this second; 0: to the end.", 0.0, min=0.0),
              group="transforms"),
    ParamSpec("time_scale", "time scale", _trace_key("time_scale"), group="transforms"),
    ParamSpec("rate_scale", "rate scale", _trace_key("rate_scale"), group="transforms"),
]


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


# Form fields of each TransformSpec key, for errors shown beside the field at fault.
TRANSFORM_KEY_FIELDS = {"window_s": "window.start_s", "time_scale": "time_scale", "rate_scale": "rate_scale"}


def form_transforms(values: dict[str, Any], preset_spec: dict[str, Any] | None = None):
    """The TransformSpec the form describes: a trace preset's own transforms (filters, sampling, head) with the
    window and the scales the form shows now."""
    import dataclasses
    import math

    from burststudio.workload.transform_spec import TransformSpec

    start = float(values.get("window.start_s") or 0.0)
    end = float(values.get("window.end_s") or 0.0)
    if end and not end > start:
        raise FieldError("must be after the window start", "window.end_s")
    return dataclasses.replace(
        TransformSpec.from_preset(preset_spec or {}),
        window_s=(start, end or math.inf) if start > 0 or end > 0 else None,
        time_scale=float(values.get("time_scale") or 1.0), rate_scale=float(values.get("rate_scale") or 1.0))


def apply_transforms(workload, values: dict[str, Any], seed: int = 0, preset_spec: dict[str, Any] | None = None):
    """The workload after the form's transforms (TransformSpec.apply, its one order)."""
    from burststudio.workload.transform_spec import TransformError

    try:
        return form_transforms(values, preset_spec).apply(workload, seed)
    except TransformError as exc:
        raise FieldError(str(exc), TRANSFORM_KEY_FIELDS.get(exc.key)) from None


def bounded_transforms(workload, values: dict[str, Any], limit: int, seed: int = 0,
                       preset_spec: dict[str, Any] | None = None):
    """`apply_transforms`, bounded for the preview: (workload, None) when the result stays within `limit` requests;
    else (the transforms of the first rows, about `limit` requests, the estimate of the whole). A rate scale so large
    that even two rows make more than twice `limit` is a FieldError beside it, said before any memory is asked for.

    The estimate needs no allocation: the rows left after the filters and the window (rate scale 1) times the rate
    scale, capped by a head."""
    import dataclasses

    from burststudio.workload import transform
    from burststudio.workload.transform_spec import TransformError, TransformSpec

    full = form_transforms(values, preset_spec)
    if full.rate_scale <= 1:
        return apply_transforms(workload, values, seed, preset_spec), None
    before = dataclasses.replace(full, rate_scale=1.0, sample=None, head=None, duration_s=0.0)
    after = TransformSpec(rate_scale=full.rate_scale, sample=full.sample, head=full.head, duration_s=full.duration_s)
    try:
        unscaled = before.apply(workload, seed)
        estimate = len(unscaled) * full.rate_scale
        if full.head is not None:
            estimate = min(estimate, full.head)
        if estimate <= limit:
            return after.apply(unscaled, seed), None
        rows = max(2, int(limit // full.rate_scale))
        if rows * full.rate_scale > 2 * limit:
            raise FieldError(f"makes about {estimate:.3g} requests; the preview computes at most {limit:,}",
                             "rate_scale")
        return after.apply(transform.head(unscaled, rows), seed), estimate
    except TransformError as exc:
        raise FieldError(str(exc), TRANSFORM_KEY_FIELDS.get(exc.key)) from None


# Generators (burststudio.workload.synth) --------------------------------------------------------------------------
# The kinds the form offers: those whose parameters are plain numbers (windows tables and trace paths stay in TOML).
FORM_KINDS = {
    "arrivals": ("poisson", "gamma", "weibull", "onoff", "flash"),
    "lengths": ("lognormal", "zipf", "uniform", "fixed", "bimodal"),
    "modulation": ("sinusoid",),
}
NONE_KIND = "none"
# Keys whose value picks a family kind: changing one replaces the whole table under it (see merge_spec).
KIND_KEYS = ("arrivals.process", "arrivals.modulation.kind", "prompt.dist", "output.dist")
# What a fresh generator form holds: bursty Gamma arrivals and chat-like lengths a small engine keeps up with.
GENERATOR_START: dict[str, Any] = {
    "requests": 100_000,
    "arrivals.process": "gamma", "arrivals.rate": 5.0, "arrivals.cv": 2.0,
    "arrivals.modulation.kind": NONE_KIND,
    "prompt.dist": "lognormal", "prompt.median": 200.0, "prompt.sigma": 0.8,
    "output.dist": "lognormal", "output.median": 64.0, "output.sigma": 0.6,
}


def _family_fields(fam: Family, prefix: str, group: str, kinds: tuple[str, ...], optional: bool,
                   when: dict[str, list[str]] | None = None) -> list[ParamSpec]:
    key_path = f"{prefix}.{fam.key}"
    choices = ([NONE_KIND] if optional else []) + [k for k in kinds if k in fam.kinds]
    out = [ParamSpec(key_path, fam.key, Param(fam.key, "str", fam.doc, choices[0], choices=tuple(choices)),
                     group=group, when=dict(when or {}))]
    seen: dict[str, ParamSpec] = {}
    for kind in choices:
        if kind == NONE_KIND:
            continue
        for p in fam.kinds[kind].params:
            if p.type not in ("float", "int", "bool", "str") or p.name == "format":
                continue
            path = f"{prefix}.{p.name}"
            if path in seen:
                seen[path].when[key_path].append(kind)
                continue
            spec = ParamSpec(path, p.name.replace("_", " "), p, group, {**(when or {}), key_path: [kind]})
            seen[path] = spec
            out.append(spec)
    return out


def generator_fields() -> list[ParamSpec]:
    """The generator form, built from synth's parameter registry (kinds with plain-number parameters)."""
    from burststudio.workload.synth.tables import FAMILIES, WORKLOAD

    fields: list[ParamSpec] = []
    for p in WORKLOAD.params:
        if p.name in ("requests", "duration_s"):
            fields.append(ParamSpec(p.name, p.name.replace("_", " "), p, group="size"))
    fields += _family_fields(FAMILIES["arrivals"], "arrivals", "arrivals", FORM_KINDS["arrivals"], False)
    fields += _family_fields(FAMILIES["modulation"], "arrivals.modulation", "modulation", FORM_KINDS["modulation"],
                             True)
    fields += _family_fields(FAMILIES["lengths"], "prompt", "prompt tokens", FORM_KINDS["lengths"], False)
    fields += _family_fields(FAMILIES["lengths"], "output", "output tokens", FORM_KINDS["lengths"], False)
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


def merge_spec(original: dict[str, Any], loaded: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`original` (a preset's full [workload] table) with only the form's edits applied.

    `loaded` holds the form's values as the preset filled it, `values` the form's values now. A key the form does
    not show stays as it was; an edited key takes its new value; a field the user emptied is removed. Changing a
    family's kind (say, gamma to poisson arrivals) replaces that family's table with what the form shows, since the
    old kind's parameters mean nothing to the new one (their sub-tables, like a modulation, are kept).
    """
    import copy

    spec = copy.deepcopy(original)

    def node_of(path: str, create: bool) -> tuple[dict[str, Any] | None, str]:
        keys = path.split(".")
        node: Any = spec
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                if not create:
                    return None, keys[-1]
                node[k] = {}
            node = node[k]
        return node, keys[-1]

    changed = [p for p in set(values) | set(loaded) if values.get(p) != loaded.get(p)]
    for kind_key in KIND_KEYS:
        if kind_key not in changed:
            continue
        prefix = kind_key.rsplit(".", 1)[0]
        node, last = node_of(kind_key, values.get(kind_key) not in (None, NONE_KIND))
        if node is None:
            continue
        parent, name = node_of(prefix, False)
        if values.get(kind_key) in (None, NONE_KIND):
            if parent is not None:
                parent.pop(name, None)
            continue
        kept = {k: v for k, v in node.items() if isinstance(v, dict)}
        node.clear()
        node.update(kept)
        for path, value in values.items():
            if path.startswith(prefix + ".") and "." not in path[len(prefix) + 1:] and value not in (None, ""):
                node[path[len(prefix) + 1:]] = value
    for path in changed:
        # Parameters of a family whose kind changed were written with it above.
        if any(path.rsplit(".", 1)[0] == k.rsplit(".", 1)[0] and k in changed for k in KIND_KEYS):
            continue
        value = values.get(path)
        if value is None or value == "" or value == NONE_KIND:
            node, last = node_of(path, False)
            if node is not None:
                node.pop(last, None)
            continue
        node, last = node_of(path, True)
        node[last] = value
    # requests and duration_s are one-of: the one the form holds wins.
    if "requests" in values and values["requests"] is not None:
        spec.pop("duration_s", None)
    elif "duration_s" in values and values["duration_s"] is not None:
        spec.pop("requests", None)
    return spec


def _mean_rate(arrivals: Any) -> float | None:
    """The mean arrival rate a generator's [arrivals] table states, where it states one (None: a trace's)."""
    if not isinstance(arrivals, dict):
        return None
    if isinstance(arrivals.get("rate"), (int, float)):
        return float(arrivals["rate"])
    if arrivals.get("process") == "onoff":
        try:
            on, off = float(arrivals["mean_on_s"]), float(arrivals["mean_off_s"])
            return (float(arrivals["rate_on"]) * on + float(arrivals.get("rate_off", 0.0)) * off) / (on + off)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None
    windows = arrivals.get("windows")
    if isinstance(windows, list) and windows:
        try:
            total = sum(float(w["duration_s"]) for w in windows)
            return sum(float(w["rate"]) * float(w["duration_s"]) for w in windows) / total
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            return None
    return None


def estimated_requests(spec: dict[str, Any]) -> float | None:
    """About how many requests a generator spec makes, from its size and stated rate; None when it cannot say."""
    if isinstance(spec.get("requests"), int):
        return float(spec["requests"])
    rate = _mean_rate(spec.get("arrivals"))
    duration = spec.get("duration_s")
    if rate is None or not isinstance(duration, (int, float)):
        return None
    turns = ((spec.get("sessions") or {}).get("turns") or {}).get("mean", 1.0) if "sessions" in spec else 1.0
    return rate * float(duration) * (float(turns) if isinstance(turns, (int, float)) else 1.0)


def bounded_spec(spec: dict[str, Any], limit: int) -> tuple[dict[str, Any], float | None]:
    """A generator spec the preview can compute: itself, or (its first `limit` requests, the estimate of all)."""
    estimate = estimated_requests(spec)
    if estimate is None or estimate <= limit:
        return spec, None
    bounded = {k: v for k, v in spec.items() if k not in ("requests", "duration_s")}
    bounded["requests"] = int(limit)
    return bounded, estimate


def synthesize(spec: dict[str, Any], seed: int, base_dir: Path, requests: int | None = None):
    """Validate and synthesise; a validation error names the field (synth's SpecError path)."""
    from burststudio.errors import UserError
    from burststudio.workload import synth

    spec = dict(spec)
    if requests is not None and "requests" not in spec and "duration_s" not in spec:
        spec["requests"] = requests
    try:
        synth.validate(spec)
        return synth.synthesize(spec, seed=seed, base_dir=base_dir)
    except synth.SpecError as exc:
        raise FieldError(exc.message, ".".join(map(str, exc.path)) or None) from None
    except UserError as exc:
        raise FieldError(str(exc)) from None


# Fits (burststudio.workload.fit) ----------------------------------------------------------------------------------
def frozen_interarrival(family: str, params: dict[str, float]):
    """The scipy.stats distribution of a fitted inter-arrival family (fit.py's parameter names)."""
    from scipy import stats as st

    if family == "exponential":
        return st.expon(scale=params["scale"])
    if family == "gamma":
        return st.gamma(params["shape"], scale=params["scale"])
    if family == "weibull":
        return st.weibull_min(params["shape"], scale=params["scale"])
    if family == "lognormal":
        return st.lognorm(params["sigma"], scale=params["median"])
    raise ValueError(f"unknown inter-arrival family {family!r}")


def fit_interarrival(arrival_s, max_gaps: int | None = None):
    """The best-fitting inter-arrival distribution (fit.fit_interarrivals, ties handled by fit.positive_gaps) as a
    frozen scipy distribution, and its label; (None, "") when there are too few gaps to fit."""
    import numpy as np

    from burststudio.workload import fit

    gaps, _ = fit.positive_gaps(np.asarray(arrival_s, dtype=np.float64))
    if gaps.size < fit.MIN_GAPS:
        return None, ""
    if max_gaps is not None and gaps.size > max_gaps:
        gaps = gaps[np.linspace(0, gaps.size - 1, max_gaps).astype(np.int64)]
    selection = fit.fit_interarrivals(gaps)
    best = selection.best
    if best is None:
        return None, ""
    return frozen_interarrival(best, selection.fits[best].params), best


def fit_generator(workload, trace_ref: str | None = None, lengths_ref: str | None = None,
                  base_dir: Path | None = None, rows_path: Path | None = None, seed: int = 0):
    """The FittedGenerator that reproduces `workload` (burststudio.workload.fit_generator, the fit `burststudio fit
    --to-preset` writes too), with the check of its figures. `trace_ref` names the file the workload is unchanged
    from, if it is; `lengths_ref` the file empirical lengths may draw on; without them the workload's rows are
    written at `rows_path` for the generator to draw on (a trace after its transforms)."""
    from burststudio.workload.fit_generator import fit_generator as fit

    try:
        return fit(workload, trace_ref, base_dir=base_dir, lengths_ref=lengths_ref, rows_path=rows_path, seed=seed)
    except ValueError as exc:
        raise FieldError(str(exc)) from None


def fit_to_generator(workload, trace_ref: str | None = None, lengths_ref: str | None = None,
                     base_dir: Path | None = None) -> dict[str, Any]:
    """The generator form's values of `fit_generator` (a table the form cannot show, like a windowed Gamma's
    windows, is a value of its own that the form keeps as it is)."""
    spec = fit_generator(workload, trace_ref, lengths_ref, base_dir).spec
    return {**values_from_spec(spec), "arrivals.modulation.kind": NONE_KIND}


def rows_path(fits_dir: Path, trace: str | None, key: str) -> Path:
    """Where the fit of a transformed trace writes its rows: one file per trace and transforms (`key`)."""
    import hashlib

    stem = Path(trace).stem if trace else "workload"
    return fits_dir / f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.parquet"


# Presets (burststudio.presets) ------------------------------------------------------------------------------------
def load_preset(path: Path):
    from burststudio.presets import load_preset as load

    return load(path)


def preset_trace_base(preset):
    """A trace preset's file as read with its format and columns, before any transform: the form applies them all
    (the preset's and its own) with one TransformSpec."""
    from burststudio.presets import load_trace

    return load_trace(preset.workload_spec)


def trace_transforms(values: dict[str, Any]) -> dict[str, Any]:
    """The form's transform fields as [workload] keys of a trace preset (defaults left out)."""
    return form_transforms(values).preset_keys()


def merge_trace_spec(original: dict[str, Any], loaded: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A trace preset's [workload] table with only the transforms the user edited replaced."""
    import copy

    spec = copy.deepcopy(original)
    new = trace_transforms(values)
    edited = {"window_s": ("window.start_s", "window.end_s"), "time_scale": ("time_scale",),
              "rate_scale": ("rate_scale",)}
    for key, paths in edited.items():
        if any(values.get(p) != loaded.get(p) for p in paths):
            spec.pop(key, None)
            if key in new:
                spec[key] = new[key]
    return spec


def replay_table(preset) -> dict[str, Any] | None:
    """A loaded preset's [replay] settings, to write back unchanged; None without a preset (the defaults)."""
    if preset is None:
        return None
    from burststudio.presets import settings_to_dict

    return settings_to_dict(preset.replay)


def target_table(preset, kind: str, url: str) -> dict[str, Any]:
    """The [target] table: a loaded preset's whole target settings (vllm and sim options included) with the kind and
    URL the Replay screen shows now."""
    if preset is None:
        table: dict[str, Any] = {"kind": kind}
    else:
        from burststudio.presets import settings_to_dict

        table = settings_to_dict(preset.target)
        table["kind"] = kind
    from burststudio.targets import registry

    if kind == registry.ATTACH:
        table["url"] = url
    return table


def free_preset_name(folder: Path, stem: str) -> str:
    """`stem` with the first number suffix (-2, -3, ...) no preset in `folder` has."""
    base = stem
    head, sep, tail = stem.rpartition("-")
    if sep and tail.isdigit():
        base = head
    k = 2
    while (Path(folder) / f"{base}-{k}.toml").exists():
        k += 1
    return f"{base}-{k}"


def header_line(path: Path) -> str:
    """The first line of a preset's header comment (what it says it is), or ''."""
    from burststudio.presets import header_comment

    try:
        header = header_comment(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""
    return (header or "").splitlines()[0].strip() if header else ""


def check_preset_name(name: str) -> None:
    """A preset name is also its file's name: letters, digits, - _ . only."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise FieldError(f"preset name {name!r}: use letters, digits, - _ .", "name")


def own_files(spec: dict[str, Any], path: Path, scratch_dir: Path | None) -> dict[str, Any]:
    """A generator `spec` made to travel with its preset at `path`: a long windows table becomes a CSV beside it
    (fit_generator.externalize_windows), and rows a fit wrote in the studio's scratch folder (`scratch_dir`) are
    copied beside it as `<preset>.rows.parquet`."""
    import shutil

    from burststudio.workload.fit_generator import externalize_windows

    spec = externalize_windows(spec, path)
    if scratch_dir is None:
        return spec
    scratch = Path(scratch_dir).resolve()
    copied: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "trace" and isinstance(v, str) and Path(v).is_absolute() and Path(v).parent == scratch:
                    if v not in copied:
                        name = f"{Path(path).stem}.rows.parquet"
                        shutil.copyfile(v, Path(path).parent / name)
                        copied[v] = str((Path(path).parent / name).resolve())
                    out[k] = copied[v]
                else:
                    out[k] = walk(v)
            return out
        return node

    return walk(spec)


def save_preset(path: Path, workload_spec: dict[str, Any], target: dict[str, Any],
                replay: dict[str, Any] | None = None, *, header: str | None = None, like: str = "") -> Path:
    """Validate the experiment with the presets module and write it with its writer (paths relative to the file).
    `header` is the comment the file starts with (a loaded preset's own); `like` the text of the preset it was
    loaded from, whose keys it keeps even where they equal the defaults."""
    from burststudio.presets import preset_from_dict

    doc: dict[str, Any] = {"workload": workload_spec, "target": target}
    if replay:
        doc["replay"] = replay
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    preset = preset_from_dict(doc, path=path, base_dir=path.parent)
    return preset.save(path, header=header if header is not None else f"{preset.name}: saved from the studio.",
                       like=like)
