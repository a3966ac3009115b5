"""`--repeat N` of `replay` and `simulate`: the same experiment N times, each a run directory (`rep-1/` ...) in one
folder, then each figure's mean and 95% confidence interval in `repeat.json` and a table (burststudio.repeats).

Each repetition gets a new seed (the preset's seed + k) unless `--seed` fixed it, so the spread covers the
workload's sampling as well as the server's noise; with `--seed` it is the server's alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

REPEAT_HELP = ("run the same experiment N times (new seeds unless --seed fixes one), each a run directory in one "
               "folder, and report each figure's mean and 95%% confidence interval (repeat.json)")


# More runs than this is a typing slip: the interval has narrowed to a few percent of itself long before.
MAX_REPEAT = 1000


def add_repeat_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", metavar="N", default=1, help=REPEAT_HELP)


def check_repeat(args: argparse.Namespace) -> int:
    """`--repeat` checked (a whole number from 1 to MAX_REPEAT) and set back on `args` as one."""
    from burststudio.commands._number_args import check_number_flags
    from burststudio.schema import Param

    check_number_flags(args, {"repeat": Param("repeat", "int", "Runs of the experiment.", 1, min=1, max=MAX_REPEAT)})
    return args.repeat


def run_repeated(args: argparse.Namespace, name: str, base_seed: int,
                 run_one: Callable[[int, Path], tuple[dict[str, Any], int]], *, stop_codes: tuple[int, ...] = ()
                 ) -> int:
    """Run `run_one(seed, run_dir) -> (summary, exit code)` args.repeat times, write repeat.json, print the table;
    the exit code is the worst one a run had (a run in `stop_codes`, stopped or its target dead, ends the series)."""
    import json

    from burststudio import repeats, rundir

    folder = Path(args.out) if args.out else rundir.default_run_dir(f"{name}-repeat")
    folder.mkdir(parents=True, exist_ok=True)
    summaries, seeds, codes = [], [], []
    for k in range(args.repeat):
        seed = args.seed if args.seed is not None else base_seed + k
        summary, code = run_one(seed, folder / f"{repeats.RUN_PREFIX}{k + 1}")
        summaries.append(summary)
        seeds.append(seed)
        codes.append(code)
        print(f"burststudio: repetition {k + 1} of {args.repeat} (seed {seed}): sent {summary.get('sent')}, "
              f"failed {summary.get('failed')}, exit {code}", file=sys.stderr)
        if code in stop_codes:
            break
    out = {"folder": str(folder), "name": name, "repeat": args.repeat, "seeds": seeds,
           "seed_fixed": args.seed is not None, "runs": [s.get("run_dir") for s in summaries], "exit_codes": codes,
           "figures": repeats.aggregate(summaries)}
    rundir.write_json_atomic(folder / repeats.REPEAT, out)
    if args.json:
        print(json.dumps(out, allow_nan=False, default=str))
    else:
        print_repeat(out)
    return max(codes, key=lambda c: (c != 0, c))


def print_repeat(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from burststudio import figures, repeats

    n = len(out["runs"])
    t = Table(title=f"{out['name']}: {n} runs ({'one seed' if out['seed_fixed'] else 'seeds ' + ', '.join(map(str, out['seeds']))})",
              title_justify="left")
    for col in ("figure", "mean ± 95% CI", "sd", "min", "max", "runs"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    for f in figures.FIGURES:
        e = out["figures"].get(f.key) or {}
        vals = e.get("values") or []
        t.add_row(f.label, repeats.shown(f, e), figures.fmt(f, e.get("sd")),
                  figures.fmt(f, min(vals) if vals else None), figures.fmt(f, max(vals) if vals else None),
                  str(e.get("n", 0)))
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(t)
    console.print(f"runs in {out['folder']}")
