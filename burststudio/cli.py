"""The `burststudio` command: subcommands live in burststudio/commands/, one module each.

Only argparse is imported here so that `burststudio --help` starts fast; each command imports its heavy
packages inside its `run`.
"""

from __future__ import annotations

import argparse
import contextvars
import importlib
import sys

from burststudio import __version__, limits
from burststudio.errors import UserError, one_line
from burststudio.vocab import EXIT_OK, EXIT_STOPPED, EXIT_USAGE

# Module names under burststudio.commands, in the order `--help` lists them.
COMMANDS: list[str] = ["inspect", "convert", "synth", "simulate", "calibrate", "fit", "replay", "report", "compare", "sweep"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="burststudio",
        description="A terminal workload studio for LLM serving: load or synthesise bursty workloads, "
        "replay them against a server, watch it bend.",
    )
    parser.add_argument("--version", action="version", version=f"burststudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"burststudio.commands.{name}").register(sub)
    return parser


def _run(args: argparse.Namespace) -> int:
    from burststudio.commands._number_args import check_number_flags

    check_number_flags(args, {"max_requests": tuple(limits.PRESET_KEY.split("."))})
    with limits.allow(getattr(args, "max_requests", None)):
        return args.func(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # The studio (Textual and the whole core) loads only here, so `--help` stays fast.
        from burststudio.studio.app import main as studio_main

        return studio_main()
    try:
        # In a context of its own, so that the request limit a command sets (its flag, its preset's key) ends with it.
        return int(contextvars.copy_context().run(_run, args) or 0)
    except UserError as exc:
        print(f"burststudio {args.command}: error: {one_line(exc, None)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"burststudio {args.command}: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except BrokenPipeError:
        return EXIT_OK
    except MemoryError:
        # What ran out names itself where it can (limits.building); this is what was left unnamed.
        print(f"burststudio {args.command}: error: out of memory (the request limit is "
              f"{getattr(args, 'max_requests', None) or limits.MAX_REQUESTS:,}; ask for less)", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
