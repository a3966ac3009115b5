"""One fit of a workload to a generator, for `burststudio fit --to-preset` and the studio's Fit alike.

`fit_generator` picks the simplest generator that keeps the workload's burstiness, judged on what a replay feels:
the rate, the inter-arrival CV and the index of dispersion over 10 s, measured on trial syntheses.

1. A renewal process the studio's form can show (exponential -> `poisson`, `gamma` with its CV, `weibull` with its
   shape; the lowest AIC of the three, fitted by burststudio.workload.fit) at the workload's own rate, if its trials
   keep the workload's rate, gap CV and IDC (RENEWAL_TOLERANCE, RENEWAL_IDC_FACTOR). Bursts that come from a rate that changes
   over time (most real traces) fail here: a maximum-likelihood Gamma of Azure's code trace has gap CV 2.9 against
   the trace's 13.
2. Else a `windowed_gamma` at the shortest window whose trials land within PRESET_TOLERANCE (the rate profile
   carries the burstiness, a Gamma renewal inside each window the rest).
3. Else the trace's own arrivals (`process = "trace"`), when the caller names the file they came from unchanged;
   without one, the windowed Gamma that came closest.

Lengths: the lognormal or bounded Zipf of each column when AIC prefers one of them to the empirical distribution for
both; else both drawn together from the trace's rows (`empirical`, `pair = true`), so their quantiles and their
correlation are the trace's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from burststudio.workload.fit import MIN_GAPS, fit_interarrivals, fit_lengths, positive_gaps
from burststudio.workload.model import Workload
from burststudio.workload.stats import _num, arrival_windows, coefficient_of_variation, interarrival_times

# Window lengths tried for the windowed Gamma, shortest first; at most MAX_PRESET_WINDOWS windows are written.
PRESET_WINDOW_CANDIDATES: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 300.0, 1200.0)
MAX_PRESET_WINDOWS = 5000
# Seeds of the trial syntheses (the seeds a user picks later are other ones, so the tolerance keeps a margin).
CALIBRATION_SEEDS: tuple[int, ...] = (1001, 1002, 1003)
CALIBRATION_ROUNDS = 4
# A windowed Gamma is written only if every figure lands within this of the trace's on every trial seed.
PRESET_TOLERANCE = 0.06
TARGET_NAMES = ("rate_rps", "interarrival_cv", "idc_10s")


def arrival_targets(arrival_s: np.ndarray) -> np.ndarray:
    """(rate, inter-arrival CV, IDC at 10 s) of arrival times, NaN where undefined."""
    from burststudio.workload.stats import index_of_dispersion, rate_rps

    a = np.asarray(arrival_s, dtype=np.float64)
    vals = (rate_rps(a), coefficient_of_variation(interarrival_times(a)), index_of_dispersion(a, 10.0))
    return np.array([np.nan if v is None else v for v in vals])


def _windows_table(dur: np.ndarray, rate: np.ndarray, cv: np.ndarray) -> list[dict[str, float]]:
    return [{"duration_s": float(f"{d:.6g}"), "rate": float(f"{r:.6g}"), "cv": float(f"{c:.6g}")}
            for d, r, c in zip(dur, rate, np.clip(cv, 0.05, 50.0))]


def _synth_arrivals(arrivals: dict[str, Any], duration_s: float, seed: int, base_dir,
                    requests: int | None = None) -> np.ndarray:
    from burststudio.workload.synth import synthesize

    size = {"requests": requests} if requests else {"duration_s": duration_s}
    spec = {"name": "calibration", **size, "seed": seed, "arrivals": arrivals,
            "prompt": {"dist": "fixed", "value": 1}, "output": {"dist": "fixed", "value": 1}}
    return synthesize(spec, seed=seed, base_dir=base_dir).arrival_s


def _errors(trial: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Relative errors per figure; figures undefined for the trace are ignored (0), undefined for the trial fail."""
    with np.errstate(all="ignore"):
        err = np.abs(trial / target - 1.0)
    return np.where(np.isnan(target), 0.0, np.where(np.isnan(err), np.inf, err))


def calibrate_windowed_gamma(arrival_s: np.ndarray, window_s: float, base_dir=None
                             ) -> tuple[list[dict[str, float]], np.ndarray]:
    """A windows table at `window_s` and the worst relative error of each target figure over the trial seeds.

    The per-window rates and CVs are the trace's own (method of moments); two global factors then correct what a
    Gamma renewal per window does not carry by itself (a renewal started afresh in each window runs a little fast
    when its CV is high; gaps across window edges change the overall CV): a few rounds of trial syntheses scale
    every rate by trace rate / trial rate and every CV by trace CV / trial CV.
    """
    a = np.asarray(arrival_s, dtype=np.float64)
    target = arrival_targets(a)
    dur, rate, cv = arrival_windows(a, window_s)
    duration = float(a[-1])
    f_rate = f_cv = 1.0
    for _ in range(CALIBRATION_ROUNDS):
        spec = {"process": "windowed_gamma", "windows": _windows_table(dur, rate * f_rate, cv * f_cv)}
        trials = np.array([arrival_targets(_synth_arrivals(spec, duration, s, base_dir)) for s in CALIBRATION_SEEDS])
        mean = np.nanmean(trials, axis=0) if np.isfinite(trials).any() else trials[0]
        if np.all(_errors(trials, target).max(axis=0) <= PRESET_TOLERANCE / 2):
            break
        if np.isfinite(mean[0]) and mean[0] > 0 and np.isfinite(target[0]):
            f_rate *= target[0] / mean[0]
        if np.isfinite(mean[1]) and mean[1] > 0 and np.isfinite(target[1]):
            f_cv *= target[1] / mean[1]
    windows = _windows_table(dur, rate * f_rate, cv * f_cv)
    spec = {"process": "windowed_gamma", "windows": windows}
    trials = np.array([arrival_targets(_synth_arrivals(spec, duration, s, base_dir)) for s in CALIBRATION_SEEDS])
    return windows, _errors(trials, target).max(axis=0)


# Renewal families the studio's form can show, and the generator process each becomes.
RENEWAL_PROCESS = {"exponential": "poisson", "gamma": "gamma", "weibull": "weibull"}
PARAMETRIC_LENGTHS = ("lognormal", "zipf")
# A renewal is kept if the mean of its trials lands within RENEWAL_TOLERANCE of the trace's rate and gap CV and
# within a factor RENEWAL_IDC_FACTOR of its IDC(10 s). The IDC of a bursty renewal moves that much from seed to seed
# on a few thousand requests (a Gamma of CV 2: 3.3 to 5.3 over six seeds of 5,000), while a renewal that loses the
# burstiness misses it by a factor of ten (Azure's code trace: 6 against 72).
RENEWAL_TOLERANCE = 0.15
RENEWAL_IDC_FACTOR = 1.5


@dataclass
class FigureCheck:
    """One figure of the trace against the same figure of the fitted generator's synthesis (as the studio's preview
    measures both), and why it is off when it is off by more than FIT_TOLERANCE."""

    key: str
    label: str
    trace: float | None
    fitted: float | None
    reason: str = ""

    @property
    def error(self) -> float | None:
        if self.trace is None or self.fitted is None or self.trace == 0:
            return None
        return abs(self.fitted / self.trace - 1.0)

    @property
    def kept(self) -> bool:
        return self.trace is None or (self.error is not None and self.error <= FIT_TOLERANCE)


@dataclass
class FittedGenerator:
    """A generator [workload] table (without name and seed), a note of how its arrivals were chosen, and the check
    of its figures against the trace's."""

    spec: dict[str, Any]
    note: dict[str, Any] = field(default_factory=dict)
    checks: list[FigureCheck] = field(default_factory=list)
    # The Parquet file of the workload's rows the spec draws on, when the fit wrote one (rows_path).
    rows_file: str | None = None

    @property
    def misses(self) -> list[FigureCheck]:
        return [c for c in self.checks if not c.kept]

    def summary(self) -> str:
        """One line: what the arrivals and lengths are, and which figures the fit could not keep."""
        a = self.spec["arrivals"]
        arrivals = a["process"]
        if arrivals == "windowed_gamma" and "window_s" in self.note:
            arrivals += f" ({self.note['window_s']:g} s windows)"
        elif arrivals == "trace":
            arrivals = "the trace's own arrivals"
        lengths = self.spec["prompt"]["dist"] + " lengths"
        if not self.misses:
            kept = f"every figure within {100 * FIT_TOLERANCE:g}%"
        else:
            kept = "; ".join(f"{c.label} {_shown(c.fitted)} against {_shown(c.trace)} ({c.reason})"
                             for c in self.misses)
        return f"{arrivals}, {lengths}: {kept}"


def _rounded(x: float) -> float:
    """Four significant digits: what a form shows and a person reads, well inside the fit's own error."""
    return float(f"{float(x):.4g}")


def renewal_arrivals(arrival_s: np.ndarray) -> dict[str, Any] | None:
    """The `[workload.arrivals]` table of the best renewal the form can show, at the trace's rate; None when too few
    gaps."""
    gaps, _ = positive_gaps(np.asarray(arrival_s, dtype=np.float64))
    if gaps.size < MIN_GAPS:
        return None
    fits = [f for name, f in fit_interarrivals(gaps).fits.items() if name in RENEWAL_PROCESS and math.isfinite(f.aic)]
    if not fits:
        return None
    best = min(fits, key=lambda f: f.aic)
    table: dict[str, Any] = {"process": RENEWAL_PROCESS[best.family], "rate": _rounded(gaps.size / gaps.sum())}
    if best.family == "gamma":
        table["cv"] = _rounded(1.0 / math.sqrt(best.params["shape"]))
    elif best.family == "weibull":
        table["shape"] = _rounded(best.params["shape"])
    return table


def renewal_misses(arrivals: dict[str, Any], arrival_s: np.ndarray, base_dir) -> np.ndarray:
    """How far the mean of the renewal's trials lands from the trace: relative errors of rate and gap CV, and the
    factor by which the IDC(10 s) is off (1 = exact)."""
    a = np.asarray(arrival_s, dtype=np.float64)
    target = arrival_targets(a)
    trials = np.array([arrival_targets(_synth_arrivals(arrivals, float(a[-1]), s, base_dir, requests=a.size))
                       for s in CALIBRATION_SEEDS])
    with np.errstate(all="ignore"):
        mean = np.nanmean(trials, axis=0) if np.isfinite(trials).any() else trials[0]
    err = _errors(mean, target)
    with np.errstate(all="ignore"):
        ratio = mean[2] / target[2]
    err[2] = 1.0 if np.isnan(target[2]) else (max(ratio, 1.0 / ratio) if np.isfinite(ratio) and ratio > 0 else np.inf)
    return err


def fit_arrivals(w: Workload, trace_ref: str | None = None, format: str | None = None, base_dir=None
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `[workload.arrivals]` table (module doc, steps 1-3) and a note of what was tried."""
    a = w.arrival_s
    note: dict[str, Any] = {"tried": []}
    renewal = renewal_arrivals(a) if len(a) >= 3 and a[-1] > 0 else None
    if renewal is not None:
        miss = renewal_misses(renewal, a, base_dir)
        note["renewal"] = {**renewal, "error_rate_rps": _num(miss[0]), "error_interarrival_cv": _num(miss[1]),
                           "idc_10s_factor": _num(miss[2])}
        if max(miss[0], miss[1]) <= RENEWAL_TOLERANCE and miss[2] <= RENEWAL_IDC_FACTOR:
            note.update(process=renewal["process"], misses=miss.tolist())
            return renewal, note
    best: tuple[float, list, float] | None = None
    if len(a) >= 3 and a[-1] > 0:
        for window in PRESET_WINDOW_CANDIDATES:
            if a[-1] / window > MAX_PRESET_WINDOWS:
                continue
            windows, err = calibrate_windowed_gamma(a, window, base_dir)
            worst = float(err.max())
            note["tried"].append({"window_s": window, "worst_error": _num(worst),
                                  **{f"error_{n}": _num(e) for n, e in zip(TARGET_NAMES, err)}})
            if best is None or worst < best[0]:
                best = (worst, windows, window)
            if worst <= PRESET_TOLERANCE:
                break
    if best is not None and (best[0] <= PRESET_TOLERANCE or trace_ref is None):
        note.update(process="windowed_gamma", window_s=best[2], worst_error=best[0])
        return {"process": "windowed_gamma", "windows": best[1]}, note
    if trace_ref is None:
        if renewal is None:
            raise ValueError("too few requests at different times to fit arrivals")
        note.update(process=renewal["process"], misses=note["renewal"])
        return renewal, note
    spec: dict[str, Any] = {"process": "trace", "trace": trace_ref, "rate_scale": 1.0}
    if format:
        spec["format"] = format
    note.update(process="trace", worst_error=best[0] if best else None)
    return spec, note


def fit_length_tables(w: Workload, trace_ref: str | None = None, format: str | None = None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `[workload.prompt]` and `[workload.output]` tables (module doc: lengths)."""
    ok = ~np.asarray(w.failed, dtype=bool)
    tables: dict[str, dict[str, Any]] = {}
    parametric = True
    for col in ("prompt", "output"):
        lengths = np.asarray(getattr(w, f"{col}_tokens"))[ok]
        selection = fit_lengths(lengths)
        if selection.best not in PARAMETRIC_LENGTHS:
            parametric = False
        fits = [f for name, f in selection.fits.items() if name in PARAMETRIC_LENGTHS and math.isfinite(f.aic)]
        if not fits:
            tables[col] = {"dist": "fixed", "value": int(max(1, np.median(lengths) if lengths.size else 1))}
            continue
        best = min(fits, key=lambda f: f.aic)
        if best.family == "lognormal":
            tables[col] = {"dist": "lognormal", "median": _rounded(best.params["median"]),
                           "sigma": _rounded(best.params["sigma"])}
        else:
            tables[col] = {"dist": "zipf", "theta": _rounded(best.params["theta"]), "min": int(best.params["min"]),
                           "max": int(best.params["max"])}
    if parametric or trace_ref is None:
        return tables["prompt"], tables["output"]
    prompt: dict[str, Any] = {"dist": "empirical", "trace": trace_ref, "pair": True}
    if format:
        prompt["format"] = format
    return prompt, {k: v for k, v in prompt.items() if k != "pair"}


def fit_generator(w: Workload, trace_ref: str | None = None, format: str | None = None, base_dir=None,
                  lengths_ref: str | None = None, rows_path=None, seed: int = 0) -> FittedGenerator:
    """The generator that reproduces `w` (module doc), with the check of its figures (`check_fit`, on `seed`).

    `trace_ref` names the file `w` was read from, unchanged (it allows the trace's own arrivals as the last resort);
    `lengths_ref` the file whose rows empirical lengths draw on (default `trace_ref`). A workload that is no file
    unchanged (a trace after its transforms) can still lend its rows: with `rows_path`, they are written there as a
    Parquet table that the spec then names (absolute path; `rows_file` says so). Without any of these, lengths are
    always parametric and arrivals never the trace's own."""
    from pathlib import Path

    if len(w) < MIN_GAPS + 1:
        raise ValueError(f"the trace has {len(w)} requests: too few to fit (at least {MIN_GAPS + 1})")
    rows_file = None
    if trace_ref is None and rows_path is not None:
        rows = Path(rows_path)
        rows.parent.mkdir(parents=True, exist_ok=True)
        w.to_parquet(rows)
        rows_file = trace_ref = str(rows.resolve())
        format = None
    arrivals, note = fit_arrivals(w, trace_ref, format, base_dir)
    prompt, output = fit_length_tables(w, lengths_ref or trace_ref, format)
    size = ({"requests": int(len(w))} if arrivals["process"] in RENEWAL_PROCESS.values()
            else {"duration_s": float(w.duration_s)})
    spec = {**size, "arrivals": arrivals, "prompt": prompt, "output": output}
    if rows_file is not None and rows_file not in _paths_in(spec):
        Path(rows_file).unlink(missing_ok=True)
        rows_file = None
    note["lengths_from_rows"] = bool(lengths_ref or trace_ref)
    fitted = FittedGenerator(spec, note, rows_file=rows_file)
    fitted.checks = check_fit(w, spec, note, base_dir, seed)
    return fitted


def _paths_in(spec: Any) -> list[str]:
    if isinstance(spec, dict):
        return [v for k, v in spec.items() if k == "trace" and isinstance(v, str)] + \
            [p for v in spec.values() for p in _paths_in(v)]
    return []


# The figures the fit keeps, as the studio's preview measures them (stats.summarize): (key, label, getter).
FIT_FIGURES: tuple[tuple[str, str, Any], ...] = (
    ("rate_rps", "rate", lambda s: s["rate_rps"]),
    ("interarrival_cv", "gap CV", lambda s: s["interarrival_cv"]),
    ("idc_10s", "IDC 10s", lambda s: s["idc"]["10s"]),
    ("prompt_p50", "prompt p50", lambda s: s["prompt_tokens"]["p50"]),
    ("prompt_p99", "prompt p99", lambda s: s["prompt_tokens"]["p99"]),
    ("output_p50", "output p50", lambda s: s["output_tokens"]["p50"]),
    ("output_p99", "output p99", lambda s: s["output_tokens"]["p99"]),
)
ARRIVAL_FIGURES = ("rate_rps", "interarrival_cv", "idc_10s")
# What the fit keeps: every figure of FIT_FIGURES within this of the trace's, or the check says why not.
FIT_TOLERANCE = 0.10
# Below this many requests a p99 (or an IDC) is a matter of which few rows come up: the reason says so.
SMALL_SAMPLE = 2000


def _shown(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def check_fit(w: Workload, spec: dict[str, Any], note: dict[str, Any], base_dir=None, seed: int = 0
              ) -> list[FigureCheck]:
    """The trace's figures against those of `spec` synthesised with `seed` (what the studio's preview shows after a
    fit), each with the reason when it is off by more than FIT_TOLERANCE."""
    from burststudio.workload.stats import summarize
    from burststudio.workload.synth import synthesize

    trace = summarize(w)
    fitted = summarize(synthesize({"name": "check", "seed": seed, **spec}, seed=seed, base_dir=base_dir))
    checks = []
    for key, label, get in FIT_FIGURES:
        c = FigureCheck(key, label, _num(get(trace)), _num(get(fitted)))
        if not c.kept:
            c.reason = _miss_reason(key, spec, note, len(w))
        checks.append(c)
    return checks


def _miss_reason(key: str, spec: dict[str, Any], note: dict[str, Any], n: int) -> str:
    if n < SMALL_SAMPLE:
        return f"only {n:,} requests: a figure of so few moves by more than {100 * FIT_TOLERANCE:g}% between seeds"
    if key in ARRIVAL_FIGURES:
        process = spec["arrivals"]["process"]
        if process == "windowed_gamma":
            worst = note.get("worst_error")
            return (f"the closest windowed Gamma ({note.get('window_s', 0):g} s windows) is off by up to "
                    f"{100 * worst:.0f}% on trial seeds" if worst is not None else "a windowed Gamma misses it")
        if process == "trace":
            return "the trace's own arrivals, repeated: another seed cuts them elsewhere"
        return (f"no windowed Gamma came within {100 * PRESET_TOLERANCE:g}%, and without the trace's rows its own "
                f"arrivals cannot be used")
    dist = spec["prompt" if key.startswith("prompt") else "output"]["dist"]
    if dist == "empirical":
        return "resampled rows: another seed draws other ones"
    if not note.get("lengths_from_rows"):
        return f"{dist} lengths: no rows of the trace to resample"
    return f"{dist} lengths: AIC preferred it to the trace's own values"


def _toml_value(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"x": value}).split("=", 1)[1].strip()


def _header(note: dict[str, Any], empirical: bool) -> list[str]:
    process = note["process"]
    if process == "windowed_gamma":
        lines = [
            f"# Arrivals: a Gamma renewal process whose rate and CV change every {note['window_s']:g} s, taken from",
            "# the trace window by window (the rate profile carries the burstiness), scaled so that the rate, the",
            "# inter-arrival CV and the IDC over 10 s land within "
            f"{100 * PRESET_TOLERANCE:g}% of the trace's on trial seeds (worst {100 * note['worst_error']:.1f}%).",
            f"# More than {INLINE_WINDOWS} windows are kept in the CSV file that windows_file names, beside this file.",
        ]
    elif process == "trace":
        worst = note["worst_error"]
        lines = [
            "# Arrivals: the trace's own arrival times. No windowed Gamma process matched its rate, inter-arrival CV",
            f"# and IDC over 10 s within {100 * PRESET_TOLERANCE:g}%"
            + (f" (best worst-case error {100 * worst:.0f}%)" if worst is not None and math.isfinite(worst) else "")
            + "; batched or very sparse arrivals do that.",
        ]
    else:
        rate, cv, idc = note["misses"]
        lines = [
            f"# Arrivals: a {process} renewal process at the trace's rate; its trial syntheses land within "
            f"{100 * rate:.1f}% of its rate,",
            f"# {100 * cv:.1f}% of its inter-arrival CV and a factor {idc:.2f} of its IDC over 10 s.",
        ]
    if empirical:
        lines += ["# Lengths: prompt and output drawn together from the trace's rows (empirical, paired), so their "
                  "quantiles", "# and their correlation are the trace's."]
    else:
        lines += ["# Lengths: the lognormal or bounded Zipf that AIC prefers to the trace's own values, per column."]
    return lines


def _table_lines(table: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in table.items():
        if key == "windows":
            lines.append("windows = [")
            lines += [f"  {{ duration_s = {x['duration_s']!r}, rate = {x['rate']!r}, cv = {x['cv']!r} }},"
                      for x in value]
            lines.append("]")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return lines


# A windowed Gamma with more windows than this keeps them in a CSV beside its preset (`windows_file`): 3,436 inline
# one-second windows make a preset nobody reads and an `inspect` of thousands of lines.
INLINE_WINDOWS = 48


def windows_file_name(preset_path) -> str:
    from pathlib import Path

    return f"{Path(preset_path).stem}.windows.csv"


def externalize_windows(spec: dict[str, Any], preset_path) -> dict[str, Any]:
    """`spec` with a long windows table moved into a CSV beside the preset at `preset_path` (written now), named
    by `windows_file` relative to the preset; a short one stays inline."""
    from pathlib import Path

    from burststudio.workload.synth.traces import write_windows

    arrivals = spec.get("arrivals")
    if not isinstance(arrivals, dict) or len(arrivals.get("windows") or ()) <= INLINE_WINDOWS:
        return spec
    name = windows_file_name(preset_path)
    write_windows(arrivals["windows"], Path(preset_path).parent / name)
    table = {k: v for k, v in arrivals.items() if k != "windows"}
    table["windows_file"] = name
    return {**spec, "arrivals": table}


def check_lines(fitted: FittedGenerator) -> list[str]:
    """The check as comment lines: each figure of the trace and of the fitted generator, and why one is off."""
    lines = [f"# Figures (trace -> this preset, seed 0; kept within {100 * FIT_TOLERANCE:g}%):"]
    for c in fitted.checks:
        lines.append(f"#   {c.label}: {_shown(c.trace)} -> {_shown(c.fitted)}"
                     + ("" if c.kept else f"  NOT KEPT: {c.reason}"))
    return lines


def preset_text(w: Workload, trace_path: str, out_path: str, format: str | None = None, seed: int = 0) -> str:
    """A preset TOML whose synthesised workload matches `w` (read from `trace_path`), to be written at `out_path`
    (a long windows table is written beside it: externalize_windows)."""
    import os
    from pathlib import Path

    out_dir = Path(out_path).resolve().parent
    trace_ref = os.path.relpath(Path(trace_path).resolve(), out_dir).replace(os.sep, "/")
    fitted = fit_generator(w, trace_ref, format, base_dir=out_dir, seed=seed)
    spec = externalize_windows(fitted.spec, out_path)
    name = f"fit-{w.meta.name}"
    lines = [f"# {name}: synthesised to match {trace_ref} (written by `burststudio fit --to-preset`).", "#",
             *_header(fitted.note, spec["prompt"]["dist"] == "empirical"), *check_lines(fitted), "", "[workload]",
             f"name = {_toml_value(name)}"]
    lines += [f"{key} = {_toml_value(spec[key])}" for key in ("requests", "duration_s") if key in spec]
    lines += [f"seed = {int(seed)}"]
    for key in ("arrivals", "prompt", "output"):
        lines += ["", f"[workload.{key}]", *_table_lines(spec[key])]
    return "\n".join(lines) + "\n"
