"""`burststudio compare RUN_A RUN_B ...`: summaries side by side, with each run's difference from the first."""

from __future__ import annotations

import argparse
from typing import Any

from burststudio import figures

HELP = "compare the summaries of several runs side by side"

ROWS = figures.pick("sent", "finished", "failed", "cancelled", "goodput", "ttft_p50", "ttft_p99", "tpot_p50",
                    "tpot_p99", "itl_p99", "e2e_p99", "lateness_p99", "requests_per_s", "output_tokens_per_s",
                    "kv_peak", "waiting_peak", "preemptions") + (
    figures.in_burst("busy", "ttft_p99"), figures.in_burst("busy", "failed_share"),
    figures.in_burst("calm", "ttft_p99"))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="run directories (the first is the baseline)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.set_defaults(func=run)


def compare(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure (in its unit): each run's value, and its difference (absolute and relative) from the first run's."""
    rows = []
    for f in ROWS:
        values = [figures.number(s, f) for s in summaries]
        base = values[0]
        diffs, rel = [], []
        for v in values[1:]:
            d = v - base if v is not None and base is not None else None
            diffs.append(d)
            rel.append(d / base if d is not None and base else None)
        rows.append({"figure": f.label, "values": values, "diff": diffs, "relative": rel,
                     "lower_is_better": f.better == figures.LOWER})
    return {"runs": [s.get("run_dir") for s in summaries], "names": [s.get("name") for s in summaries],
            "rows": rows}


def run(args: argparse.Namespace) -> int:
    import json

    from burststudio.commands.report import load_summary
    from burststudio.errors import UserError

    if len(args.runs) < 2:
        raise UserError("compare needs at least two run directories")
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
            if d is None:
                cells.append("-")
            else:
                better = (d < 0) == row["lower_is_better"] if d else None
                colour = "" if better is None else ("green" if better else "red")
                text = figures.fmt_delta(f, d) + (f" ({r:+.0%})" if r is not None else "")
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
