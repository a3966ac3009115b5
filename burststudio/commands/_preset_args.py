"""The `--set KEY.PATH=VALUE` option of the commands that run a preset (`replay`, `simulate`, `synth`, `sweep`).

Only argparse at import time; the preset is changed and validated by burststudio.presets.with_sets.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

SET_HELP = ("change one value of the preset, as a line of it would (repeatable), e.g. --set workload.arrivals.cv=3 "
            "--set replay.timeouts.total_s=60; VALUE is read as TOML (3, 2.5, \"x\", true, [1, 2]), a bare word "
            "as a string")


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE", help=SET_HELP)
    add_limit_argument(parser)


def add_limit_argument(parser: argparse.ArgumentParser) -> None:
    """`--max-requests N`: the request limit of burststudio.limits for this command (cli.main checks it as the preset's
    `[workload] max_requests` and applies it)."""
    from burststudio import limits

    parser.add_argument(limits.FLAG, dest="max_requests", default=None, metavar="N",
                        help=f"refuse to build a workload (or read a trace) of more than N requests, or of more "
                        f"than N kB of memory (default {limits.MAX_REQUESTS:,}, or the preset's [workload] "
                        "max_requests); the refusal names the keys that made the size")


def apply_sets(preset: Any, items: Sequence[str]) -> Any:
    """The preset with the command's `--set` items applied (recorded in its resolved form); its `[workload]
    max_requests` becomes the command's request limit where `--max-requests` is not given, so the rows the replay
    itself adds (its rate_scale) count against it too."""
    from burststudio import limits
    from burststudio.presets import with_sets

    preset = with_sets(preset, items)
    limits.adopt_preset_limit(preset.max_requests)
    return preset
