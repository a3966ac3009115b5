"""`burststudio convert FILE --out X.parquet [transforms]`: load any trace, transform it, write a workload Parquet file.

The transforms run in a fixed order whatever the order of the flags: filter (model, source, failed), window,
time-scale, rate-scale, sample, head. The Parquet file keeps the workload's metadata, transforms included.
"""

from __future__ import annotations

import argparse

from burststudio.commands._number_args import check_number_flags
from burststudio.commands._workload_args import add_workload_arguments, load_workload

HELP = "load a trace, apply transforms, write a workload Parquet file"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help=HELP, description=HELP + ". Transforms run in this order: filter, window, time-scale, "
        "rate-scale, sample, head.")
    add_workload_arguments(p)
    p.add_argument("--out", "-o", required=True, metavar="X.parquet", help="the workload Parquet file to write")
    p.add_argument("--window", metavar="START:END", help="keep arrivals in [START, END) and re-base to 0; "
                   "durations like 600, 10m, 1h; either side may be empty")
    p.add_argument("--model", action="append", metavar="M", help="keep only this model (repeatable)")
    p.add_argument("--source", action="append", metavar="S", help="keep only this source / log type (repeatable)")
    failed = p.add_mutually_exclusive_group()
    failed.add_argument("--drop-failed", action="store_true", help="drop the requests the trace recorded as failed")
    failed.add_argument("--only-failed", action="store_true", help="keep only the failed requests")
    p.add_argument("--time-scale", metavar="X", help="multiply arrival times by X (2 = half the rate)")
    p.add_argument("--rate-scale", metavar="X",
                   help="about X times the requests over the same time, keeping the burst shape")
    p.add_argument("--sample", metavar="N|FRAC", help="a random subset: N rows, or a fraction (0.1 or 10%%)")
    p.add_argument("--head", metavar="N", help="keep the first N requests")
    p.add_argument("--seed", default=0, help="seed for --rate-scale and --sample (default 0)")
    p.set_defaults(func=run)


def transform_spec(args: argparse.Namespace):
    """The TransformSpec the flags ask for (it applies them in the documented order)."""
    from burststudio.workload import transform as tf
    from burststudio.workload.transform_spec import TransformSpec

    check_number_flags(args, {"time_scale": ("workload", "time_scale"), "rate_scale": ("workload", "rate_scale"),
                              "head": ("workload", "head"), "seed": ("workload", "seed")})
    n, fraction = tf.parse_sample(args.sample) if args.sample is not None else (None, None)
    return TransformSpec(model=tuple(args.model or ()), source=tuple(args.source or ()),
                         failed=False if args.drop_failed else (True if args.only_failed else None),
                         window_s=_window(args.window), time_scale=1.0 if args.time_scale is None else args.time_scale,
                         rate_scale=1.0 if args.rate_scale is None else args.rate_scale,
                         sample=n if n is not None else fraction, head=args.head)


def _window(text: str | None) -> tuple[float, float] | None:
    import math

    from burststudio.workload import transform as tf

    if not text:
        return None
    start, end = tf.parse_window(text)
    return (start or 0.0, math.inf if end is None else end)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from burststudio.errors import UserError

    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise UserError("is a directory, not a file", where=str(out))
    if not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} does not exist", where=str(out))
    w = transform_spec(args).apply(load_workload(args), seed=args.seed)
    try:
        w.to_parquet(out)
    except OSError as exc:
        raise UserError(f"cannot write ({exc.strerror or exc})", where=str(out)) from None
    steps = "; ".join(w.meta.transforms) or "no transforms"
    print(f"wrote {out}: {len(w)} requests over {w.duration_s:.1f} s ({steps})")
    return 0
