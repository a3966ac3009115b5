"""`burststudio inspect FILE`: what a trace or workload file holds, as a table or one JSON object."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from burststudio.commands._workload_args import add_workload_arguments, resolve_and_load

HELP = "summarise a trace or workload file: rate, burstiness, lengths, failures"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    add_workload_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    parser.set_defaults(func=run)


def report(workload: Any, fmt: str, file: str) -> dict[str, Any]:
    """The inspect figures: where the workload came from, then `stats.summarize`."""
    from burststudio.workload.stats import summarize

    meta = workload.meta
    out: dict[str, Any] = {"format": fmt, "file": str(file), "name": meta.name}
    if meta.origin_format and meta.origin_format != fmt:
        out["origin_format"] = meta.origin_format
    if meta.start_time_of_day_s is not None:
        out["start_time_of_day_s"] = meta.start_time_of_day_s
    if meta.start_datetime is not None:
        out["start_datetime"] = meta.start_datetime
    if meta.generator is not None:
        out["generator"] = meta.generator
    if meta.seed is not None:
        out["seed"] = meta.seed
    if meta.transforms:
        out["transforms"] = list(meta.transforms)
    out.update(summarize(workload))
    return out


def _safe(obj: Any) -> Any:
    """numpy scalars -> Python, NaN/inf -> None, so the output is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run(args: argparse.Namespace) -> int:
    workload, fmt = resolve_and_load(args)
    figures = _safe(report(workload, fmt, args.file))
    if args.json:
        sys.stdout.write(json.dumps(figures, allow_nan=False) + "\n")
    else:
        from burststudio.commands._inspect_view import render

        render(figures)
    return 0
