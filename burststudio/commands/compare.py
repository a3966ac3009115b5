"""`burststudio compare RUN_A RUN_B ...`: summaries side by side, with each run's difference from the first."""

from __future__ import annotations

import argparse

from burststudio import figures
from burststudio.reports.comparison import ROWS, better, compare, diff_text

HELP = "compare the summaries of several runs side by side"

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="run directories (the first is the baseline)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from burststudio.commands.report import load_summary
    from burststudio.errors import UserError

    if len(args.runs) < 2:
        raise UserError("compare needs at least two run directories")
    result = compare([load_summary(r) for r in args.runs])
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
    Console().print(t)
    for k, r in enumerate(result["runs"]):
        print(f"{k}: {r}")
    return 0
