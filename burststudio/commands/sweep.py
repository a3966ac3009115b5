"""`burststudio sweep PRESET --rate-scale 0.5,1,2,4`: the same bursty workload at several rates, to find the knee.

Each scale is a normal replay (the engine's `run_replay`, with the preset's `replay.rate_scale` multiplied by the
scale: arrivals thinned or replicated, the burst shape kept) into its own run directory under one sweep folder. The
knee is the first scale, in rising order, whose goodput falls below the preset's `replay.limits.goodput_min`, or
below 0.9 when the preset sets none. A run that breaks one of the preset's limits is a finding here, not an error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from burststudio.commands._number_args import check_number_flags, number_value
from burststudio import figures
from burststudio.commands._preset_args import add_set_argument, apply_sets

HELP = "replay one preset at several rate scales and find where goodput breaks (the knee)"
DEFAULT_GOODPUT_MIN = 0.9
SWEEP = "sweep.json"  # in the sweep folder, beside one run directory per scale
# sweep.json keys of each run's row (values as summary.json holds them) and the figures they are
_COLUMN: dict[str, figures.Figure] = {
    "rate_rps": figures.BY_KEY["sent_per_s"],
    "goodput": figures.BY_KEY["goodput"],
    "ttft_p50_s": figures.BY_KEY["ttft_p50"],
    "ttft_p99_s": figures.BY_KEY["ttft_p99"],
    "kv_cache_usage_peak": figures.BY_KEY["kv_peak"],
    "lateness_p99_s": figures.BY_KEY["lateness_p99"],
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sweep", help=HELP, description=HELP[0].upper() + HELP[1:] + ". Exit codes: 0 every "
                              "scale ran, 2 could not run, 4 the target died, 130 stopped.")
    p.add_argument("source", metavar="PRESET|TRACE", help="a preset (.toml) or a trace / workload file")
    p.add_argument("--rate-scale", metavar="X,Y,...", required=True,
                   help="comma-separated rate scales, e.g. 0.5,1,2,4 (multiplying the preset's own rate_scale)")
    p.add_argument("--target", metavar="URL", default=None,
                   help="attach to this OpenAI-compatible server instead of the preset's target")
    p.add_argument("--duration", metavar="S", default=None,
                   help="replay only the first S seconds of the schedule at each scale")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="sweep folder, one run directory per scale inside (default runs/<time>-<preset>-sweep)")
    p.add_argument("--seed", metavar="N", default=None, help="seed for the workload, thinning and token ids")
    add_set_argument(p)
    p.add_argument("--json", action="store_true", help="end stdout with the sweep as one JSON object")
    p.set_defaults(func=run)


def parse_scales(text: str) -> list[float]:
    from burststudio.errors import UserError

    scales = []
    for part in text.split(","):
        part = part.strip()
        try:
            x = float(part)
        except ValueError:
            raise UserError(f"--rate-scale: {part!r} is not a number (expected e.g. 0.5,1,2,4)") from None
        scales.append(number_value("--rate-scale", x, ("replay", "rate_scale")))
    if not scales:
        raise UserError("--rate-scale: give at least one scale")
    return sorted(set(scales))


def knee(rows: list[dict[str, Any]], goodput_min: float) -> float | None:
    """The first scale (rising) whose goodput is below `goodput_min`; a run without a goodput figure counts as
    below it (nothing it sent finished)."""
    for row in rows:
        g = row.get("goodput")
        if g is None or g < goodput_min:
            return row["scale"]
    return None


def _row(scale: float, summary: dict[str, Any], exit_code: int) -> dict[str, Any]:
    def get(key: str) -> Any:
        return figures.dig(summary, _COLUMN[key].path)

    return {
        "scale": scale,
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
        "exit_code": exit_code,
    }


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from burststudio.commands.replay import apply_overrides, load_source
    from burststudio import rundir
    from burststudio.replay.runner import run_replay
    from burststudio.vocab import EXIT_OK, EXIT_STOPPED, EXIT_TARGET_DIED

    scales = parse_scales(args.rate_scale)
    check_number_flags(args, {"duration": ("replay", "duration_s"), "seed": ("replay", "seed")})
    preset = apply_sets(load_source(args.source), args)
    overrides = argparse.Namespace(duration=args.duration, time_scale=None, rate_scale=None, max_concurrency=None,
                                   seed=args.seed, target=args.target)
    apply_overrides(preset, overrides)
    base = preset.replay
    limit = base.limits.goodput_min
    goodput_min = limit if limit is not None and limit >= 0 else DEFAULT_GOODPUT_MIN
    sweep_dir = Path(args.out) if args.out else rundir.default_run_dir(f"{preset.name}-sweep")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    workload = preset.build_workload(seed=args.seed)

    def notice(msg: str) -> None:
        print(f"burststudio sweep: {msg}", file=sys.stderr)

    rows: list[dict[str, Any]] = []
    code = EXIT_OK
    for scale in scales:
        preset.replay = dataclasses.replace(base, rate_scale=base.rate_scale * scale)
        result = run_replay(workload, preset.target, preset.replay, name=f"{preset.name}-x{scale:g}",
                            resolved_toml=preset.resolved_toml(), run_dir=sweep_dir / f"scale-{scale:g}",
                            target_url=args.target, on_notice=notice, seed=args.seed)
        row = _row(scale, result.summary, result.exit_code)
        rows.append(row)
        notice(f"scale {scale:g}: sent {row['sent']}, goodput {_cell(row, 'goodput')}, "
               f"TTFT p99 {_cell(row, 'ttft_p99_s')} ms")
        if result.exit_code in (EXIT_STOPPED, EXIT_TARGET_DIED):
            notice(f"the sweep ends at scale {scale:g}: {result.reason}")
            code = result.exit_code
            break
    out = {"sweep_dir": str(sweep_dir), "source": str(args.source), "goodput_min": goodput_min,
           "goodput_min_from": "preset" if limit is not None and limit >= 0 else "default",
           "knee_scale": knee(rows, goodput_min), "scales": scales, "runs": rows, "exit_code": code}
    rundir.write_json_atomic(sweep_dir / SWEEP, out)
    if args.json:
        print(json.dumps(out, allow_nan=False, default=str))
    else:
        print_table(out)
    return code


def _cell(row: dict[str, Any], key: str) -> str:
    return figures.show_raw(_COLUMN[key], row[key])


def print_table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"sweep {out['sweep_dir']}")
    for col in ("scale", _COLUMN["rate_rps"].label, "sent", _COLUMN["goodput"].label, _COLUMN["ttft_p50_s"].label,
                _COLUMN["ttft_p99_s"].label, "failures", _COLUMN["kv_cache_usage_peak"].label,
                _COLUMN["lateness_p99_s"].label):
        t.add_column(col, justify="right")
    for r in out["runs"]:
        mark = " <- knee" if r["scale"] == out["knee_scale"] else ""
        t.add_row(f"{r['scale']:g}{mark}", _cell(r, "rate_rps"), str(r["sent"]), _cell(r, "goodput"),
                  _cell(r, "ttft_p50_s"), _cell(r, "ttft_p99_s"), str(r["failed"]), _cell(r, "kv_cache_usage_peak"),
                  _cell(r, "lateness_p99_s"))
    console = Console() if sys.stdout.isatty() else Console(width=160)  # a pipe gets whole rows
    console.print(t)
    k = out["knee_scale"]
    src = "the preset's goodput_min" if out["goodput_min_from"] == "preset" else "the default"
    console.print(f"knee: scale {k:g} (first goodput below {out['goodput_min']:g}, {src})" if k is not None
                  else f"no knee: goodput stayed at or above {out['goodput_min']:g} ({src}) at every scale")
