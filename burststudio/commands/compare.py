"""`burststudio compare RUN_A RUN_B ...`: summaries side by side, with each run's difference from the first."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "compare the summaries of several runs side by side"

# (label, path into the summary, unit scale, lower is better)
ROWS: tuple[tuple[str, tuple[str, ...], float, bool], ...] = (
    ("sent", ("sent",), 1, False),
    ("finished", ("finished",), 1, False),
    ("failed", ("failed",), 1, True),
    ("cancelled", ("cancelled",), 1, True),
    ("goodput", ("goodput", "share"), 1, False),
    ("TTFT p50 ms", ("ttft_s", "p50"), 1e3, True),
    ("TTFT p99 ms", ("ttft_s", "p99"), 1e3, True),
    ("TPOT p50 ms", ("tpot_s", "p50"), 1e3, True),
    ("TPOT p99 ms", ("tpot_s", "p99"), 1e3, True),
    ("ITL p99 ms", ("itl_s", "p99"), 1e3, True),
    ("E2E p99 ms", ("e2e_s", "p99"), 1e3, True),
    ("lateness p99 ms", ("dispatch_lateness_s", "p99"), 1e3, True),
    ("requests/s", ("throughput", "requests_per_s"), 1, False),
    ("output tokens/s", ("throughput", "output_tokens_per_s"), 1, False),
    ("KV usage peak", ("kv_cache_usage_peak",), 1, True),
    ("waiting peak", ("waiting_peak",), 1, True),
    ("preemptions", ("preemptions",), 1, True),
    ("burst TTFT p99 ms", ("burst", "busy", "ttft_s", "p99"), 1e3, True),
    ("burst failed share", ("burst", "busy", "failed_share"), 1, True),
    ("calm TTFT p99 ms", ("burst", "calm", "ttft_s", "p99"), 1e3, True),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    p.add_argument("runs", metavar="RUN_DIR", nargs="+", help="run directories (the first is the baseline)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.set_defaults(func=run)


def _get(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    obj: Any = summary
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return float(obj) if isinstance(obj, (int, float)) and not isinstance(obj, bool) else None


def compare(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure: each run's value, and its difference (absolute and relative) from the first run's."""
    rows = []
    for label, path, scale, lower_better in ROWS:
        values = [_get(s, path) for s in summaries]
        values = [v * scale if v is not None else None for v in values]
        base = values[0]
        diffs, rel = [], []
        for v in values[1:]:
            d = v - base if v is not None and base is not None else None
            diffs.append(d)
            rel.append(d / base if d is not None and base else None)
        rows.append({"figure": label, "values": values, "diff": diffs, "relative": rel,
                     "lower_is_better": lower_better})
    return {"runs": [s.get("run_dir") for s in summaries], "names": [s.get("name") for s in summaries],
            "rows": rows}


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

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    for row in result["rows"]:
        cells = [fmt(row["values"][0])]
        for v, d, r in zip(row["values"][1:], row["diff"], row["relative"]):
            cells.append(fmt(v))
            if d is None:
                cells.append("-")
            else:
                better = (d < 0) == row["lower_is_better"] if d else None
                colour = "" if better is None else ("green" if better else "red")
                text = f"{d:+.4g}" + (f" ({r:+.0%})" if r is not None else "")
                cells.append(f"[{colour}]{text}[/{colour}]" if colour else text)
        t.add_row(row["figure"], *cells)
    Console().print(t)
    for k, r in enumerate(result["runs"]):
        print(f"{k}: {r}")
    return 0
