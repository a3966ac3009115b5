"""`burststudio compare RUN_A RUN_B ...`: summaries side by side, with each run's difference from the first; of
`--repeat` folders, each figure's mean and 95% interval, and whether each difference is beyond the runs' noise."""

from __future__ import annotations

import argparse

from burststudio import figures
from burststudio.reports.comparison import ROWS, better, compare, diff_text

HELP = "compare the summaries of several runs (or --repeat folders) side by side"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    p.add_argument("runs", metavar="RUN_DIR", nargs="+",
                   help="run directories, or folders of `--repeat` (the first is the baseline)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from burststudio.commands.report import load_summary
    from burststudio.errors import UserError

    if len(args.runs) < 2:
        raise UserError("compare needs at least two run directories")
    from burststudio.repeats import is_repeat

    repeated = [r for r in args.runs if is_repeat(r)]
    if repeated:
        if len(repeated) < len(args.runs):
            raise UserError("compare either run directories or --repeat folders, not both: "
                            + ", ".join(r for r in args.runs if r not in repeated) + " is a single run")
        return _compare_repeats(args)
    summaries = [load_summary(r) for r in args.runs]
    result = compare(summaries)
    if args.json:
        print(json.dumps(result, allow_nan=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title="runs compared with the first", title_justify="left")
    t.add_column("figure")
    for k, name in enumerate(result["names"]):
        t.add_column(f"{k}: {name or ''}", justify="right")
        if k:
            t.add_column(f"{k} vs 0", justify="right")

    for f, row in zip(ROWS, result["rows"]):
        cells = [figures.fmt(f, row["values"][0])]
        for v, d, r in zip(row["values"][1:], row["diff"], row["relative"]):
            cells.append(figures.fmt(f, v))
            good = better(row, d)
            colour = "" if good is None else ("green" if good else "red")
            text = diff_text(f, d, r)
            cells.append(f"[{colour}]{text}[/{colour}]" if colour else text)
        t.add_row(row["figure"], *cells)
    ends = [[figures.ended(s), figures.target(s)] for s in summaries]
    for label, k in (("ended", 0), ("target", 1)):
        cells = [ends[0][k]]
        for e in ends[1:]:
            cells += [e[k], ""]
        t.add_row(label, *cells)
    Console().print(t)
    for k, r in enumerate(result["runs"]):
        print(f"{k}: {r}")
    return 0


def _compare_repeats(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from burststudio import repeats

    sets = [repeats.read_repeat(r) for r in args.runs]
    rows = []
    for f in figures.FIGURES:
        entries = [s["figures"].get(f.key) or {} for s in sets]
        base = entries[0]
        row = {"figure": f.label, "key": f.key, "sets": entries, "vs_first": []}
        for e in entries[1:]:
            d = (e["mean"] - base["mean"]) if e.get("mean") is not None and base.get("mean") is not None else None
            row["vs_first"].append({"diff": d, **repeats.differs(base.get("values") or [], e.get("values") or [])})
        rows.append(row)
    if args.json:
        print(json.dumps({"folders": args.runs, "rows": rows}, allow_nan=False))
        return 0
    t = Table(title="repeated runs compared with the first (mean ± 95% CI; Welch's t-test)", title_justify="left")
    t.add_column("figure")
    for k, s in enumerate(sets):
        t.add_column(f"{k}: {s.get('name')} (n={len(s.get('runs') or [])})", justify="right")
        if k:
            t.add_column(f"{k} vs 0", justify="right")
    for f, row in zip(figures.FIGURES, rows):
        cells = [repeats.shown(f, row["sets"][0])]
        for e, v in zip(row["sets"][1:], row["vs_first"]):
            cells.append(repeats.shown(f, e))
            if v["diff"] is None:
                cells.append(figures.MISSING)
                continue
            text = figures.fmt_delta(f, v["diff"])
            if v["beyond_noise"] is None:
                cells.append(text)
            elif v["beyond_noise"]:
                good = (v["diff"] < 0) == (f.better == figures.LOWER)
                colour = "green" if good else "red"
                cells.append(f"[{colour}]{text} beyond noise[/{colour}] (p {v['p']:.2g})")
            else:
                cells.append(f"{text} within noise" + (f" (p {v['p']:.2g})" if v["p"] is not None else ""))
        t.add_row(row["figure"], *cells)
    Console().print(t)
    for k, r in enumerate(args.runs):
        print(f"{k}: {r}")
    return 0

