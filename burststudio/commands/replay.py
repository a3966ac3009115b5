"""`burststudio replay PRESET|TRACE`: send a workload to a server on schedule and record what it saw.

This command is the replay engine: the studio runs it in its own process with `--events` and reads the JSON lines.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from burststudio.commands._number_args import check_number_flags
from burststudio.commands._preset_args import add_set_argument
from burststudio.commands._repeat import add_repeat_argument, check_repeat, run_repeated
from burststudio.commands._replay_args import add_replay_arguments, apply_replay_arguments

HELP = "replay a preset or trace against a server, measure every token, keep every result"
# Flags that set a [replay] key, checked by that key's Param.
NUMBER_FLAGS = {"duration": ("replay", "duration_s"), "time_scale": ("replay", "time_scale"),
                "rate_scale": ("replay", "rate_scale"), "max_concurrency": ("replay", "max_concurrency"),
                "seed": ("replay", "seed"), "warmup": ("replay", "warmup")}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("replay", help=HELP, description=HELP[0].upper() + HELP[1:] + ". Exit codes: 0 ok, "
                              "2 could not run, 3 a limit of the preset was broken, 4 the target died, 5 the run directory could not "
                              "be written, 130 stopped.")
    p.add_argument("source", metavar="PRESET|TRACE", help="a preset (.toml) or a trace / workload file")
    p.add_argument("--format", metavar="F", default=None,
                   help="read TRACE as this format instead of detecting it (a preset: --set workload.format=F)")
    p.add_argument("--target", metavar="URL", default=None,
                   help="attach to this OpenAI-compatible server instead of the preset's target")
    p.add_argument("--duration", metavar="S", default=None,
                   help="replay only the first S seconds of the schedule (after --time-scale)")
    p.add_argument("--time-scale", metavar="X", default=None, help="stretch (>1) or compress (<1) time")
    p.add_argument("--rate-scale", metavar="X", default=None,
                   help="thin (<1) or replicate (>1) arrivals, keeping the burst shape")
    p.add_argument("--max-concurrency", metavar="N", default=None, help="at most N requests in flight")
    p.add_argument("--warmup", metavar="N", default=None,
                   help="send N requests of the workload's shape before the clock starts, excluded from every figure "
                   "(default: the target kind's, [replay] warmup)")
    p.add_argument("--out", metavar="DIR", default=None, help="run directory (default runs/<time>-<preset name>-<target kind>)")
    p.add_argument("--seed", metavar="N", default=None, help="seed for the workload, thinning and token ids")
    add_set_argument(p)
    add_replay_arguments(p)
    add_repeat_argument(p)
    p.add_argument("--json", action="store_true", help="end stdout with the summary as one JSON object")
    p.add_argument("--events", action="store_true", help="write live events as JSON lines on stdout")
    p.set_defaults(func=run)


def load_source(source: str, fmt: str | None = None):
    from pathlib import Path

    from burststudio.errors import UserError
    from burststudio.presets import load_preset, preset_from_trace

    path = Path(source)
    if not path.exists():
        raise UserError(f"{source}: no such file")
    if path.suffix.lower() == ".toml":
        if fmt:
            # A preset names its trace's format itself; `--set workload.format=F` changes it and is recorded in
            # the run's preset.toml, which a second way to say it would not be.
            raise UserError(f"--format applies to a trace file, not to a preset; use --set workload.format={fmt}")
        return load_preset(path)
    return preset_from_trace(path, fmt)


def apply_overrides(preset: Any, args: argparse.Namespace) -> None:
    """Command-line values (checked by check_number_flags first) into the preset's settings, so the stored
    preset.toml says what was run."""
    import dataclasses

    changes: dict[str, Any] = {}
    for flag, (_, key) in NUMBER_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            changes[key] = value
    if changes:
        preset.replay = dataclasses.replace(preset.replay, **changes)
    if args.target:
        preset.target = dataclasses.replace(preset.target, kind="url", url=args.target)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from burststudio.replay.runner import run_replay

    check_number_flags(args, NUMBER_FLAGS)
    repeat = check_repeat(args)
    preset = apply_replay_arguments(load_source(args.source, args.format), args)
    apply_overrides(preset, args)
    if repeat > 1:
        if args.events:
            from burststudio.errors import UserError

            raise UserError("--repeat runs several replays: it does not take --events")
        return _repeat(args, preset)
    workload = preset.build_workload(seed=args.seed)
    interactive = sys.stdout.isatty() and not args.json and not args.events
    display = _Display() if interactive else None

    def notice(msg: str) -> None:
        if display is not None:
            display.console.print(f"[yellow]{msg}[/yellow]")
        elif not args.events:
            print(f"burststudio replay: {msg}", file=sys.stderr)

    try:
        if display is not None:
            display.start()
        result = run_replay(workload, preset.target, preset.replay, name=preset.name,
                            resolved_toml=preset.resolved_toml(), run_dir=Path(args.out) if args.out else None,
                            target_url=args.target, events_stdout=args.events,
                            on_progress=display.update if display is not None else None, on_notice=notice,
                            seed=args.seed)
    finally:
        if display is not None:
            display.stop()
    summary = result.summary
    if args.json:
        print(json.dumps(summary, allow_nan=False, default=str))
    elif not args.events:
        from burststudio.commands.report import print_summary

        print_summary(summary)
    for line in summary.get("limits_broken") or []:
        print(f"burststudio replay: limit broken: {line}", file=sys.stderr)
    behind = (summary.get("overload") or {}).get("note")
    if behind:
        print(f"burststudio replay: {behind}", file=sys.stderr)
    if getattr(result, "message", ""):
        print(f"burststudio replay: {result.message}", file=sys.stderr)
    return result.exit_code


def _repeat(args: argparse.Namespace, preset: Any) -> int:
    from pathlib import Path

    from burststudio.replay.runner import run_replay
    from burststudio.vocab import EXIT_STOPPED, EXIT_TARGET_DIED

    def notice(msg: str) -> None:
        print(f"burststudio replay: {msg}", file=sys.stderr)

    def one(seed: int, run_dir: Path) -> tuple[dict[str, Any], int]:
        result = run_replay(preset.build_workload(seed=seed), preset.target, preset.replay, name=preset.name,
                            resolved_toml=preset.resolved_toml(), run_dir=run_dir, target_url=args.target,
                            on_notice=notice, seed=seed)
        return result.summary, result.exit_code

    return run_repeated(args, preset.name, preset.seed, one, stop_codes=(EXIT_STOPPED, EXIT_TARGET_DIED))


class _Display:
    """What the engine is doing, on a terminal: sent / finished / failed, in flight, lateness, TTFT."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=False)
        self.live = Live(console=self.console, refresh_per_second=4, transient=True)

    def start(self) -> None:
        self.live.start()

    def stop(self) -> None:
        self.live.stop()

    def update(self, ev: dict[str, Any]) -> None:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        planned = max(1, ev.get("planned") or 1)
        t.add_row(ProgressBar(total=planned, completed=ev["sent"], width=40),
                  f"{ev['sent']}/{planned} sent", f"t={ev.get('t') or 0:.1f}s")
        lat = ev.get("lateness_p99_s")
        ttft = ev.get("ttft_p50_s")
        t.add_row(f"finished {ev['finished']}  failed {ev['failed']}  cancelled {ev['cancelled']}",
                  f"in flight {ev['in_flight']}",
                  f"lateness p99 {lat * 1e3:.2f} ms" if lat is not None else "lateness p99 -",
                  f"TTFT p50 {ttft * 1e3:.1f} ms" if ttft is not None else "TTFT p50 -")
        if ev.get("by_class"):
            t.add_row("failures: " + ", ".join(f"{k} {v}" for k, v in ev["by_class"].items()))
        self.live.update(t)
