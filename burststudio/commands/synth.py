"""`burststudio synth PRESET --out FILE [--seed N]`: build a preset's workload and write it as Parquet.

The same preset and seed give the same file, byte for byte: the generators are seeded, the table's column order
and metadata are fixed, and the Parquet writer stores no time or host.
"""

from __future__ import annotations

import argparse

from burststudio.commands._number_args import check_number_flags
from burststudio.commands._preset_args import add_set_argument, apply_sets

HELP = "build the workload a preset describes and write it as a workload Parquet file"


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help=HELP, description=HELP + ". The same preset and seed give the same "
                              "file, byte for byte.")
    p.add_argument("preset", metavar="PRESET", help="preset file (TOML), e.g. presets/burstgpt-paper.toml")
    p.add_argument("--out", "-o", required=True, metavar="FILE", help="the workload Parquet file to write")
    p.add_argument("--seed", default=None, metavar="N",
                   help="seed of the generators (default: the preset's [workload] seed, else 0)")
    add_set_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from burststudio.errors import UserError
    from burststudio.presets import load_preset

    out = Path(args.out)
    if out.is_dir():
        raise UserError("is a directory, not a file", where=str(out))
    if not out.parent.exists():
        raise UserError(f"folder {str(out.parent)!r} does not exist", where=str(out))
    check_number_flags(args, {"seed": ("workload", "seed")})
    preset = apply_sets(load_preset(args.preset), args.sets)
    w = preset.build_workload(seed=args.seed)
    try:
        w.to_parquet(out)
    except OSError as exc:
        raise UserError(f"cannot write ({exc.strerror or exc})", where=str(out)) from None
    rate = (len(w) - 1) / w.duration_s if len(w) > 1 and w.duration_s > 0 else 0.0
    seed = preset.seed if args.seed is None else args.seed
    print(f"wrote {out}: {len(w)} requests over {w.duration_s:.1f} s ({rate:.2f} req/s), "
          f"preset {preset.name!r}, seed {seed}", file=sys.stderr)
    return 0
