"""`burststudio sweep PRESET`: the same bursty workload at several settings, to find where it breaks.

What is swept, each a dimension (several make a grid, every combination run):
- `--rate-scale 0.5,1,2,4`: the preset's `replay.rate_scale` multiplied by each scale (arrivals thinned or
  replicated, the burst shape kept);
- `--set KEY.PATH=V1,V2,...`: any preset key at each value, each checked as a line of the preset would be (a
  `--set` with one value changes every run alike).
Or `--search KEY=LO:HI` (KEY a preset key, or `rate-scale`): the highest value that still meets the objectives,
by bisection, assuming the figures only get worse as the value rises; the result is the bracket it ended in.

Each point is a normal replay (the engine's `run_replay`) into its own run directory under one sweep folder. A
point meets the objectives when its goodput is at least the preset's `replay.limits.goodput_min` (0.9 when the
preset sets none) and it broke no other limit of the preset. The knee of a one-dimension sweep is its first value,
in rising order, that does not. A run that breaks one of the preset's limits is a finding here, not an error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from burststudio import figures
from burststudio.commands._number_args import check_number_flags, number_value
from burststudio.commands._preset_args import add_limit_argument, apply_sets
from burststudio.commands._sweep_table import _COLUMN, RATE_SCALE, SWEEP, _cell, print_table
from burststudio.commands._replay_args import add_replay_arguments, set_items

HELP = "replay one preset at several rate scales or values of any key, or search the highest that holds"
DEFAULT_SEARCH_STEPS = 5
DEFAULT_GOODPUT_MIN = 0.9


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sweep", help=HELP, description=HELP[0].upper() + HELP[1:] + ". Exit codes: 0 every "
                              "point ran, 2 could not run, 4 the target died, 130 stopped.")
    p.add_argument("source", metavar="PRESET|TRACE", help="a preset (.toml) or a trace / workload file")
    p.add_argument("--rate-scale", metavar="X,Y,...", default=None,
                   help="comma-separated rate scales, e.g. 0.5,1,2,4 (multiplying the preset's own rate_scale)")
    p.add_argument("--search", metavar="KEY=LO:HI", default=None,
                   help="bisect KEY (a preset key, or rate-scale) between LO and HI for the highest value that "
                        "meets the objectives")
    p.add_argument("--search-steps", metavar="N", default=DEFAULT_SEARCH_STEPS,
                   help=f"bisection steps after LO and HI (default {DEFAULT_SEARCH_STEPS})")
    p.add_argument("--target", metavar="URL", default=None,
                   help="attach to this OpenAI-compatible server instead of the preset's target")
    p.add_argument("--duration", metavar="S", default=None,
                   help="replay only the first S seconds of the schedule at each point")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="sweep folder, one run directory per point inside (default runs/<time>-<preset>-<target kind>-sweep)")
    p.add_argument("--seed", metavar="N", default=None, help="seed for the workload, thinning and token ids")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE[,VALUE...]",
                   help="change one value of the preset for every run, or sweep it over several comma-separated "
                        "values (repeatable; several swept keys make a grid), e.g. --set workload.arrivals.cv=1,2,4,8")
    add_limit_argument(p)
    add_replay_arguments(p, rate=False)
    p.add_argument("--json", action="store_true", help="end stdout with the sweep as one JSON object")
    p.set_defaults(func=run)


def parse_scales(text: str, flag: str = "--rate-scale") -> list[float]:
    from burststudio.errors import UserError

    scales = []
    for part in text.split(","):
        part = part.strip()
        try:
            x = float(part)
        except ValueError:
            raise UserError(f"{flag}: {part!r} is not a number (expected e.g. 0.5,1,2,4)") from None
        scales.append(number_value(flag, x, ("replay", "rate_scale")))
    if not scales:
        raise UserError(f"{flag}: give at least one scale")
    return sorted(set(scales))


def split_values(raw: str) -> list[str]:
    """The comma-separated values of a `--set`, commas inside brackets, braces or quotes kept ([1, 2] is one)."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in raw:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def dimensions(args: argparse.Namespace) -> tuple[list[str], dict[str, list[Any]]]:
    """(the --set items every run gets, {dimension: its values in run order}); values are TOML-read."""
    from burststudio.errors import UserError
    from burststudio.presets import parse_set

    fixed: list[str] = []
    dims: dict[str, list[Any]] = {}
    if args.rate_scale is not None:
        dims[RATE_SCALE] = parse_scales(args.rate_scale)
    for item in args.sets:
        key, _, raw = item.partition("=")
        values = split_values(raw)
        if len(values) < 2:
            fixed.append(item)
            continue
        parsed = [parse_set(f"{key}={v}")[1] for v in values]
        name = ".".join(parse_set(f"{key}=0")[0])
        if name in dims:
            raise UserError(f"--set {item}: {name} is swept twice")
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parsed)
        dims[name] = sorted(set(parsed)) if numeric else list(dict.fromkeys(parsed))
    return fixed, dims


def parse_search(text: str) -> tuple[str, float, float]:
    from burststudio.errors import UserError
    from burststudio.presets import parse_set

    key, sep, span = text.partition("=")
    lo_text, colon, hi_text = span.partition(":")
    if not sep or not colon:
        raise UserError(f"--search {text}: expected KEY=LO:HI, e.g. rate-scale=0.25:8")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise UserError(f"--search {text}: LO and HI must be numbers") from None
    if not (lo == lo and hi == hi and abs(lo) != float("inf") and abs(hi) != float("inf")) or not lo < hi:
        raise UserError(f"--search {text}: LO must be below HI, both finite")
    name = RATE_SCALE if key.strip() == RATE_SCALE else ".".join(parse_set(f"{key}=0")[0])
    if name == RATE_SCALE:
        for x in (lo, hi):
            number_value(f"--search {text}", x, ("replay", "rate_scale"))
    if lo_text.strip().lstrip("-").isdigit() and hi_text.strip().lstrip("-").isdigit():
        return name, int(lo), int(hi)
    return name, lo, hi


def point_sets(point: dict[str, Any]) -> list[str]:
    """The `--set` items of one point (its rate scale multiplies the preset's instead), each value written as TOML
    reads it back: a string quoted, true and false in lower case."""
    import json

    return [f"{k}={json.dumps(v) if isinstance(v, (str, bool)) else v}" for k, v in point.items() if k != RATE_SCALE]


def point_name(point: dict[str, Any]) -> str:
    """A run directory's name for one point: scale-2, cv-4, scale-2_max_num_seqs-8."""
    def short(key: str) -> str:
        return "scale" if key == RATE_SCALE else key.rsplit(".", 1)[-1]

    return "_".join(f"{short(k)}-{v:g}" if isinstance(v, float) else f"{short(k)}-{v}" for k, v in point.items())


def knee(rows: list[dict[str, Any]], goodput_min: float, key: str = RATE_SCALE) -> Any:
    """The first value of `key` (rising) whose goodput is below `goodput_min`; a run without a goodput figure counts
    as below it (nothing it sent finished)."""
    for row in sorted(rows, key=lambda r: r["point"][key]):
        g = row.get("goodput")
        if g is None or g < goodput_min:
            return row["point"][key]
    return None


def meets(row: dict[str, Any], goodput_min: float) -> bool:
    """The point met the objectives: goodput at the floor and no other limit of the preset broken."""
    g = row.get("goodput")
    return g is not None and g >= goodput_min and not row.get("limits_broken")


def _row(point: dict[str, Any], summary: dict[str, Any], exit_code: int) -> dict[str, Any]:
    def get(key: str) -> Any:
        return figures.dig(summary, _COLUMN[key].path)

    return {
        "point": point,
        "scale": point.get(RATE_SCALE, 1.0),
        "run_dir": summary.get("run_dir"),
        "rate_rps": get("rate_rps"),
        "sent": summary.get("sent"),
        "finished": summary.get("finished"),
        "failed": summary.get("failed"),
        "cancelled": summary.get("cancelled"),
        "failures_by_class": summary.get("failures_by_class"),
        "goodput": get("goodput"),
        "ttft_p50_s": get("ttft_p50_s"),
        "ttft_p99_s": get("ttft_p99_s"),
        "kv_cache_usage_peak": get("kv_cache_usage_peak"),
        "lateness_p99_s": get("lateness_p99_s"),
        # The client's own delays in this run's figures (replay/client_limits.py): a step to read with care.
        "client_limited": (summary.get("client") or {}).get("limited"),
        "client_note": (summary.get("client") or {}).get("note"),
        "limits_broken": [line for line in summary.get("limits_broken") or [] if not line.startswith("goodput ")],
        "exit_code": exit_code,
    }


class _Stop(Exception):
    """The sweep cannot go on (stopped, or the target died): its code and reason."""

    def __init__(self, code: int, reason: str):
        self.code, self.reason = code, reason


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import itertools
    import json
    from pathlib import Path

    from burststudio import rundir
    from burststudio.commands.replay import apply_overrides, load_source
    from burststudio.errors import UserError
    from burststudio.presets import with_sets
    from burststudio.replay.runner import run_replay
    from burststudio.schema import Param
    from burststudio.vocab import EXIT_OK, EXIT_STOPPED, EXIT_TARGET_DIED

    check_number_flags(args, {"duration": ("replay", "duration_s"), "seed": ("replay", "seed"),
                              "search_steps": Param("search_steps", "int", "Bisection steps.", min=0)})
    source = load_source(args.source)
    fixed, dims = dimensions(args)
    fixed += set_items(args)
    search = parse_search(args.search) if args.search else None
    if search and search[0] in dims:
        raise UserError(f"--search {args.search}: {search[0]} is also swept")
    if not dims and not search and source.sweep_sets:
        # The preset's own [sweep] table, when the command line names nothing to sweep.
        _, dims = dimensions(argparse.Namespace(rate_scale=None, sets=source.sweep_sets))
    if not dims and not search:
        raise UserError("give what to sweep: --rate-scale X,Y,..., --set KEY=V1,V2,..., --search KEY=LO:HI, "
                        "or a [sweep] table in the preset")
    base = apply_sets(source, fixed)
    # Every value a point will set, checked as a line of the preset before the first point runs (a bisection's
    # points lie between its ends).
    for key, values in {**dims, **({search[0]: search[1:]} if search else {})}.items():
        if key != RATE_SCALE:
            for value in values:
                with_sets(source, [*fixed, *point_sets({key: value})])
    overrides = argparse.Namespace(duration=args.duration, time_scale=None, rate_scale=None, max_concurrency=None,
                                   seed=args.seed, target=args.target)
    apply_overrides(base, overrides)
    limit = base.replay.limits.goodput_min
    goodput_min = limit if limit is not None and limit >= 0 else DEFAULT_GOODPUT_MIN
    kind = base.target.kind  # the --target URL made it "url" above
    sweep_dir = Path(args.out) if args.out else rundir.default_run_dir(f"{base.name}-{kind}-sweep")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    base_workload = base.build_workload(seed=args.seed)

    def notice(msg: str) -> None:
        print(f"burststudio sweep: {msg}", file=sys.stderr)

    rows: list[dict[str, Any]] = []
    kept: dict[str, Any] = {}  # the managed target of the points that share its settings

    def target_for(preset) -> Any:
        """A managed target (vllm, sim) started once for every point with the same target settings."""
        from burststudio.presets import settings_to_dict
        from burststudio.targets import make_target
        from burststudio.targets import registry as target_kinds
        from burststudio.targets.kept import KeptTarget

        if args.target or preset.target.kind == target_kinds.ATTACH:
            return None
        key = json.dumps(settings_to_dict(preset.target), sort_keys=True, default=str)
        if key not in kept:
            for other in kept.values():
                other.close()
            kept.clear()
            kept[key] = KeptTarget(make_target(preset.target, None))
        return kept[key]

    def run_point(point: dict[str, Any]) -> dict[str, Any]:
        keys = point_sets(point)
        preset = with_sets(source, [*fixed, *keys]) if keys else base
        if keys:
            apply_overrides(preset, overrides)
        replay = dataclasses.replace(preset.replay,
                                     rate_scale=preset.replay.rate_scale * point.get(RATE_SCALE, 1.0))
        workload = (preset.build_workload(seed=args.seed) if any(k.startswith("workload.") for k in point)
                    else base_workload)
        name = point_name(point)
        result = run_replay(workload, preset.target, replay, name=f"{base.name}-{name}",
                            resolved_toml=preset.resolved_toml(), run_dir=sweep_dir / name, target_url=args.target,
                            on_notice=notice, seed=args.seed, target=target_for(preset))
        row = _row(point, result.summary, result.exit_code)
        rows.append(row)
        notice(f"{name}: sent {figures.show_raw(figures.BY_KEY['sent'], row['sent'])}, goodput {_cell(row, 'goodput')}, "
               f"TTFT p99 {_cell(row, 'ttft_p99_s')} ms")
        if result.exit_code in (EXIT_STOPPED, EXIT_TARGET_DIED):
            raise _Stop(result.exit_code, f"the sweep ends at {name}: {result.reason}")
        return row

    code = EXIT_OK
    found = None
    # Engine settings vary slowest, so the points that share a managed server run one after another on it.
    order = sorted(dims, key=lambda k: not k.startswith("target."))
    try:
        if search:
            found = bisect(run_point, *search, steps=args.search_steps, goodput_min=goodput_min)
        else:
            for combo in itertools.product(*(dims[k] for k in order)):
                run_point({k: v for k, v in zip(order, combo)})
    except _Stop as stop:
        notice(stop.reason)
        code = stop.code
    finally:
        for target in kept.values():
            target.close()
    out = {"sweep_dir": str(sweep_dir), "source": str(args.source), "goodput_min": goodput_min,
           "goodput_min_from": "preset" if limit is not None and limit >= 0 else "default",
           "dimensions": {k: v for k, v in dims.items()}, "runs": rows, "exit_code": code}
    if RATE_SCALE in dims:
        out["scales"] = dims[RATE_SCALE]
    if len(dims) == 1:
        (key,) = dims
        out["knee"] = {"key": key, "value": knee(rows, goodput_min, key)} if rows else None
    if search:
        out["search"] = found or {"key": search[0], "lo": search[1], "hi": search[2], "highest_met": None,
                                  "lowest_missed": None}
        out["knee"] = {"key": search[0], "value": out["search"]["lowest_missed"]}
    out["knee_scale"] = (out.get("knee") or {}).get("value") if (out.get("knee") or {}).get("key") == RATE_SCALE \
        else None
    rundir.write_json_atomic(sweep_dir / SWEEP, out)
    if args.json:
        print(json.dumps(out, allow_nan=False, default=str))
    else:
        print_table(out)
    return code


def bisect(run_point, key: str, lo: float, hi: float, *, steps: int, goodput_min: float) -> dict[str, Any]:
    """Bisect `key` in [lo, hi] for the highest value that meets the objectives (module doc). Steps are geometric
    when the range spans a factor of 4 or more above zero (rates), else arithmetic; whole numbers stay whole."""
    import math

    whole = isinstance(lo, int) and isinstance(hi, int)
    result = {"key": key, "lo": lo, "hi": hi, "highest_met": None, "lowest_missed": None, "steps": 0}
    if not meets(run_point({key: lo}), goodput_min):
        result["lowest_missed"] = lo
        return result
    result["highest_met"] = lo
    if meets(run_point({key: hi}), goodput_min):
        result["highest_met"] = hi
        return result
    result["lowest_missed"] = hi
    good, bad = lo, hi
    for _ in range(steps):
        if whole:
            if bad - good <= 1:
                break
            mid: float = (good + bad) // 2
        else:
            mid = math.sqrt(good * bad) if good > 0 and bad / good >= 4 else (good + bad) / 2
        result["steps"] += 1
        if meets(run_point({key: mid}), goodput_min):
            good = mid
        else:
            bad = mid
    result["highest_met"], result["lowest_missed"] = good, bad
    return result
