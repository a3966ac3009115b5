"""The generator registry: every arrival process, modulation, length distribution and session setting, as tables
of schema.Params.

`spec.resolve` walks a spec with these tables, the docs are rendered from them and the studio's form is built from
them. A Table is one process or distribution (or a plain table such as `[workload.sessions]`); a Family is a table
whose keys depend on one discriminating key (`process`, `dist`, `kind`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from burststudio.schema import REQUIRED, SCALE_MAX, Param


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

# No server takes a billion requests a second; above it a rate is a slip, and a trace scaled to it would be
# replicated past int64.
RATE_MAX = 1e9


def _rate(doc: str = "mean arrival rate", default: Any = REQUIRED) -> Param:
    return Param("rate", "float", doc + " (requests/s)", default, min=0, min_open=True, max=RATE_MAX)


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
                Param("windows_file", "path", "CSV file of the windows, one row each, with the columns "
                      "duration_s, rate and cv (what `burststudio fit --to-preset` writes beside a preset when "
                      "the windows are many)"),
                Param("trace", "path", "trace file to fit the windows from (rate and gap CV per window)"),
                Param("window_s", "float", "window length when fitting from a trace (s)", 1200.0,
                      min=0, min_open=True),
                _TRACE_FORMAT,
            ),
            one_of=(OneOf((("windows",), ("windows_file",), ("trace",))),),
            needs=(("window_s", "trace"), ("format", "trace")),
        ),
        "trace": Table(
            "trace",
            "The arrival times of a real trace, time-scaled to the asked rate; repeated end to end when the run is "
            "longer than the trace.",
            (
                Param("trace", "path", "trace file whose arrivals are used", REQUIRED),
                _rate("mean rate to scale the trace to", default=None),
                Param("rate_scale", "float", "multiply the trace's rate by this factor", min=0, min_open=True,
                      max=SCALE_MAX),
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
