"""The generator spec: its parameter registry, validation against it, and defaults filled in.

The registry is the one description of every arrival process, modulation, length distribution and session setting:
`validate` walks a spec with it, `resolve` fills its defaults, the docs are checked against it and the studio's form
is built from `registry()`. A spec is the `[workload]` table of a preset as a plain dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from burststudio.errors import UserError

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


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

# Types a parameter can have, as written in TOML (and their words in error messages, below).
TYPES = ("float", "int", "str", "bool", "path", "floats", "windows")


@dataclass(frozen=True)
class Param:
    """One key of a table: its type, default (REQUIRED, None for "optional, no default", or a value), bounds, doc."""

    name: str
    type: str
    doc: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    # True: the bound itself is not allowed (rate > 0 rather than rate >= 0).
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] | None = None
    # For "windows": the keys of each row.
    fields: tuple["Param", ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def bounds_text(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_open else '>='} {_num(self.min)}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_open else '<='} {_num(self.max)}")
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


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


@dataclass(frozen=True)
class OneOf:
    """Exactly one of these groups of keys is given (all keys of the group). With `default`, none may be given and
    the default values apply."""

    groups: tuple[tuple[str, ...], ...]
    default: dict[str, Any] | None = None


@dataclass(frozen=True)
class Table:
    """A table of keys: one process or distribution, or a plain table such as `[workload.sessions]`."""

    name: str
    doc: str
    params: tuple[Param, ...] = ()
    one_of: tuple[OneOf, ...] = ()
    # (low, high) pairs of keys where low <= high must hold.
    ordered: tuple[tuple[str, str], ...] = ()
    # key -> the key it only makes sense with.
    needs: tuple[tuple[str, str], ...] = ()
    subtables: tuple["Sub", ...] = ()

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "params": [p.as_dict() for p in self.params],
            "one_of": [{"groups": [list(g) for g in o.groups], "default": o.default} for o in self.one_of],
            "ordered": [list(o) for o in self.ordered],
            "needs": [list(n) for n in self.needs],
        }


@dataclass(frozen=True)
class Family:
    """A table whose keys depend on one discriminating key (`process`, `dist`, `kind`)."""

    name: str
    doc: str
    key: str
    kinds: dict[str, Table]
    default_kind: str | None = None
    subtables: tuple["Sub", ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "key": self.key,
            "default_kind": self.default_kind,
            "kinds": {k: t.as_dict() for k, t in self.kinds.items()},
            "subtables": {s.name: s.schema.name for s in self.subtables},
        }


@dataclass(frozen=True)
class Sub:
    name: str
    schema: Table | Family
    required: bool = False
    # Used when the sub-table is absent (None: absent means "not used").
    default: dict[str, Any] | None = field(default=None, hash=False)


# The registry -----------------------------------------------------------------------------------------------------

def _rate(doc: str = "mean arrival rate", default: Any = REQUIRED) -> Param:
    return Param("rate", "float", doc + " (requests/s)", default, min=0, min_open=True)


_TRACE_FORMAT = Param("format", "str", "format of the trace file (detected from its header when not given)")

MODULATION = Family(
    "modulation",
    "A slow change of rate applied to any arrival process by time-rescaling: the process runs on a clock that goes "
    "m(t) times as fast at time t, where m has mean 1 over a period.",
    "kind",
    {
        "sinusoid": Table(
            "sinusoid",
            "m(t) = 1 + amplitude * cos(2 pi (t - peak_s) / period_s): a daily (86400 s) or weekly (604800 s) cycle, "
            "or any period.",
            (
                Param("period_s", "float", "length of one cycle (s)", 86400.0, min=0, min_open=True),
                Param("amplitude", "float", "relative swing of the rate around its mean", 0.5, min=0, max=1),
                Param("peak_s", "float", "time of the busiest moment within the cycle (s); default: half a period, "
                      "so the run starts at the quietest time"),
            ),
        ),
        "profile": Table(
            "profile",
            "m(t) is piecewise constant: the period is cut into equal bins with the given relative rates (e.g. 24 "
            "hourly values), or with the hourly profile of a real trace (its time of day where the trace has it).",
            (
                Param("values", "floats", "relative rate of each bin (normalised to mean 1)", min=0),
                Param("trace", "path", "trace file whose arrivals per bin of its day give the values"),
                Param("bins", "int", "bins per day when taken from a trace", 24, min=1, max=86400),
                Param("period_s", "float", "length of the whole profile (s); less than 86400 compresses a day",
                      86400.0, min=0, min_open=True),
                _TRACE_FORMAT,
            ),
            one_of=(OneOf((("values",), ("trace",))),),
            needs=(("bins", "trace"), ("format", "trace")),
        ),
    },
)

ARRIVALS = Family(
    "arrivals",
    "When requests (or, with sessions, conversations) arrive.",
    "process",
    {
        "poisson": Table(
            "poisson",
            "Poisson process: exponential gaps, inter-arrival CV 1, IDC 1 at every time scale.",
            (_rate(),),
        ),
        "gamma": Table(
            "gamma",
            "Gamma renewal process: gaps are Gamma(shape, scale), CV = 1/sqrt(shape); BurstGPT's default is shape 0.5, "
            "scale 2 (1 request/s, CV about 1.41).",
            (
                _rate(default=None),
                Param("cv", "float", "coefficient of variation of the gaps (1 = Poisson, above 1 = bursty)",
                      min=0, min_open=True),
                Param("shape", "float", "Gamma shape of the gaps", min=0, min_open=True),
                Param("scale", "float", "Gamma scale of the gaps (s); mean gap = shape * scale", min=0, min_open=True),
            ),
            one_of=(OneOf((("rate", "cv"), ("shape", "scale")), default={"shape": 0.5, "scale": 2.0}),),
        ),
        "weibull": Table(
            "weibull",
            "Weibull renewal process: gaps are Weibull(shape); shape below 1 is bursty, 1 is Poisson.",
            (_rate(), Param("shape", "float", "Weibull shape of the gaps", REQUIRED, min=0, min_open=True)),
        ),
        "onoff": Table(
            "onoff",
            "On-off bursts: a two-state Markov-modulated Poisson process; exponential sojourns in each state.",
            (
                Param("rate_on", "float", "rate while on (requests/s)", REQUIRED, min=0, min_open=True),
                Param("rate_off", "float", "rate while off (requests/s)", 0.0, min=0),
                Param("mean_on_s", "float", "mean length of an on period (s)", REQUIRED, min=0, min_open=True),
                Param("mean_off_s", "float", "mean length of an off period (s)", REQUIRED, min=0, min_open=True),
            ),
        ),
        "flash": Table(
            "flash",
            "Flash crowd: a Poisson baseline whose rate ramps up linearly to peak_factor times the base from start_s "
            "over rise_s, then decays back exponentially with time constant decay_s.",
            (
                _rate("baseline rate"),
                Param("start_s", "float", "when the spike starts (s)", REQUIRED, min=0),
                Param("rise_s", "float", "time from the start to the peak (s)", 5.0, min=0),
                Param("peak_factor", "float", "peak rate as a multiple of the baseline", REQUIRED, min=1),
                Param("decay_s", "float", "time constant of the decay after the peak (s)", 60.0, min=0, min_open=True),
            ),
        ),
        "windowed_gamma": Table(
            "windowed_gamma",
            "Gamma renewal process whose rate and CV change every window, as the BurstGPT reference generator does; "
            "the windows repeat when the run is longer than the table.",
            (
                Param(
                    "windows", "windows", "array of tables, one per window, in order", fields=(
                        Param("duration_s", "float", "length of the window (s)", REQUIRED, min=0, min_open=True),
                        Param("rate", "float", "mean rate in the window (requests/s); 0 = silent", REQUIRED, min=0),
                        Param("cv", "float", "CV of the gaps in the window", 1.0, min=0, min_open=True),
                    ),
                ),
                Param("trace", "path", "trace file to fit the windows from (rate and gap CV per window)"),
                Param("window_s", "float", "window length when fitting from a trace (s)", 1200.0,
                      min=0, min_open=True),
                _TRACE_FORMAT,
            ),
            one_of=(OneOf((("windows",), ("trace",))),),
            needs=(("window_s", "trace"), ("format", "trace")),
        ),
        "trace": Table(
            "trace",
            "The arrival times of a real trace, time-scaled to the asked rate; repeated end to end when the run is "
            "longer than the trace.",
            (
                Param("trace", "path", "trace file whose arrivals are used", REQUIRED),
                _rate("mean rate to scale the trace to", default=None),
                Param("rate_scale", "float", "multiply the trace's rate by this factor", min=0, min_open=True),
                _TRACE_FORMAT,
            ),
            one_of=(OneOf((("rate",), ("rate_scale",)), default={"rate_scale": 1.0}),),
        ),
    },
    subtables=(Sub("modulation", MODULATION),),
)

_MIN = Param("min", "int", "smallest value (tokens)", 1, min=1, max=10_000_000)
_MAX = Param("max", "int", "largest value (tokens)", 32768, min=1, max=10_000_000)

LENGTHS = Family(
    "lengths",
    "Token counts of prompts (`prompt`) and responses (`output`).",
    "dist",
    {
        "zipf": Table(
            "zipf",
            "Bounded Zipf: P(k) proportional to k^-theta for min <= k <= max.",
            (Param("theta", "float", "exponent (larger = more mass at min)", REQUIRED, min=0, min_open=True),
             _MIN, _MAX),
            ordered=(("min", "max"),),
        ),
        "lognormal": Table(
            "lognormal",
            "Log-normal truncated to [min, max] (drawn inside the bounds, not clipped), rounded to whole tokens.",
            (
                Param("median", "float", "median of the untruncated distribution", min=0, min_open=True),
                Param("mean", "float", "mean of the untruncated distribution", min=0, min_open=True),
                Param("sigma", "float", "standard deviation of log(value)", REQUIRED, min=0, min_open=True),
                _MIN, _MAX,
            ),
            one_of=(OneOf((("median",), ("mean",))),),
            ordered=(("min", "max"),),
        ),
        "uniform": Table(
            "uniform",
            "Uniform on the whole numbers min..max.",
            (Param("min", "int", "smallest value (tokens)", REQUIRED, min=1, max=10_000_000),
             Param("max", "int", "largest value (tokens)", REQUIRED, min=1, max=10_000_000)),
            ordered=(("min", "max"),),
        ),
        "fixed": Table(
            "fixed",
            "Always the same length.",
            (Param("value", "int", "the length (tokens)", REQUIRED, min=1, max=10_000_000),),
        ),
        "bimodal": Table(
            "bimodal",
            "Mixture of two log-normals (short and long answers), truncated to [min, max].",
            (
                Param("weight", "float", "share of the first mode", REQUIRED, min=0, max=1),
                Param("median1", "float", "median of the first mode", REQUIRED, min=0, min_open=True),
                Param("sigma1", "float", "log-sd of the first mode", 0.5, min=0, min_open=True),
                Param("median2", "float", "median of the second mode", REQUIRED, min=0, min_open=True),
                Param("sigma2", "float", "log-sd of the second mode", 0.5, min=0, min_open=True),
                _MIN, _MAX,
            ),
            ordered=(("min", "max"),),
        ),
        "empirical": Table(
            "empirical",
            "Resampled (with replacement) from a real trace; with pair = true the prompt and the output come from "
            "the same request, keeping their correlation.",
            (
                Param("trace", "path", "trace file to resample from", REQUIRED),
                Param("pair", "bool", "draw prompt and output from the same row (set in `prompt`; `output` then "
                      "may be left out)", False),
                Param("skip_failed", "bool", "leave out rows the trace records as failed", True),
                _TRACE_FORMAT,
            ),
        ),
    },
)

TURNS = Family(
    "turns",
    "Turns per conversation.",
    "dist",
    {
        "geometric": Table(
            "geometric",
            "Geometric on 1, 2, ... with the given mean, capped at max (the cap lowers the mean a little).",
            (Param("mean", "float", "mean turns per conversation", REQUIRED, min=1),
             Param("max", "int", "most turns in one conversation", 32, min=1, max=100_000)),
        ),
        "fixed": Table("fixed", "Every conversation has the same number of turns.",
                       (Param("value", "int", "turns per conversation", REQUIRED, min=1, max=100_000),)),
        "uniform": Table(
            "uniform",
            "Uniform on min..max turns.",
            (Param("min", "int", "fewest turns", 1, min=1, max=100_000),
             Param("max", "int", "most turns", REQUIRED, min=1, max=100_000)),
            ordered=(("min", "max"),),
        ),
    },
    default_kind="geometric",
)

THINK_TIME = Family(
    "think_time",
    "Time between one turn's request and the next turn's request of the same conversation (it includes the time "
    "the answer took).",
    "dist",
    {
        "exponential": Table("exponential", "Exponential with the given mean.",
                             (Param("mean_s", "float", "mean think time (s)", REQUIRED, min=0, min_open=True),)),
        "lognormal": Table(
            "lognormal",
            "Log-normal with the given median.",
            (Param("median_s", "float", "median think time (s)", REQUIRED, min=0, min_open=True),
             Param("sigma", "float", "standard deviation of log(think time)", 1.0, min=0, min_open=True)),
        ),
        "fixed": Table("fixed", "Always the same think time.",
                       (Param("value_s", "float", "think time (s)", REQUIRED, min=0),)),
        "uniform": Table(
            "uniform",
            "Uniform between min_s and max_s.",
            (Param("min_s", "float", "shortest think time (s)", REQUIRED, min=0),
             Param("max_s", "float", "longest think time (s)", REQUIRED, min=0)),
            ordered=(("min_s", "max_s"),),
        ),
    },
    default_kind="exponential",
)

SESSIONS = Table(
    "sessions",
    "Multi-turn conversations: the arrival process gives conversation starts; each turn's prompt is the whole "
    "conversation so far (shared prefix) plus a new message drawn from `prompt`; answers are drawn from `output`.",
    (
        Param("block_tokens", "int", "tokens per prefix block (one id in prefix_blocks per block)", 512,
              min=1, max=1_000_000),
        Param("shared_prefix_tokens", "int", "system prompt shared by every conversation (tokens)", 0,
              min=0, max=10_000_000),
        Param("max_context_tokens", "int", "a conversation ends before a turn whose prompt plus answer would "
              "exceed this", 32768, min=1, max=100_000_000),
    ),
    subtables=(
        Sub("turns", TURNS, default={"dist": "geometric", "mean": 4.0}),
        Sub("think_time", THINK_TIME, default={"dist": "exponential", "mean_s": 20.0}),
    ),
)

WORKLOAD = Table(
    "workload",
    "A synthesised workload: arrivals, prompt and output lengths, optional conversations.",
    (
        Param("name", "str", "name of the workload", "synthetic"),
        Param("duration_s", "float", "length of the run (s); requests arriving later are not made",
              min=0, min_open=True),
        Param("requests", "int", "number of requests to make", min=1, max=1_000_000_000),
        Param("seed", "int", "seed of the random generator (a random one is drawn and recorded when absent)",
              min=0),
    ),
    one_of=(OneOf((("duration_s",), ("requests",))),),
    subtables=(
        Sub("arrivals", ARRIVALS, required=True),
        Sub("prompt", LENGTHS, required=True),
        Sub("output", LENGTHS, required=True),
        Sub("sessions", SESSIONS),
    ),
)

FAMILIES: dict[str, Family] = {f.name: f for f in (ARRIVALS, MODULATION, LENGTHS, TURNS, THINK_TIME)}


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


def _check_number(p: Param, value: Any, path: KeyPath) -> float | int:
    if p.type == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok and isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value, ok = int(value), True
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise SpecError(path, f"must be {_TYPE_WORDS[p.type]}, not {_type_name(value)} ({value!r})")
    if not math.isfinite(value):
        raise SpecError(path, f"must be a finite number, not {value!r}")
    if p.min is not None and (value < p.min or (p.min_open and value == p.min)):
        raise SpecError(path, f"must be {'>' if p.min_open else '>='} {_num(p.min)}, not {value!r}")
    if p.max is not None and (value > p.max or (p.max_open and value == p.max)):
        raise SpecError(path, f"must be {'<' if p.max_open else '<='} {_num(p.max)}, not {value!r}")
    return float(value) if p.type == "float" else value


def _check_value(p: Param, value: Any, path: KeyPath) -> Any:
    if p.type in ("float", "int"):
        return _check_number(p, value, path)
    if p.type == "bool":
        if not isinstance(value, bool):
            raise SpecError(path, f"must be true or false, not {_type_name(value)} ({value!r})")
        return value
    if p.type in ("str", "path"):
        if not isinstance(value, str):
            raise SpecError(path, f"must be {_TYPE_WORDS[p.type]}, not {_type_name(value)} ({value!r})")
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
