"""`burststudio report RUN_DIR`: a run's summary; rebuilt from its journal when the run never finished."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "show a run's summary (rebuilt from the journal when the run was killed)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `burststudio replay`")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--rebuild", action="store_true", help="rebuild the summary from the journal even if it exists")
    p.set_defaults(func=run)


def load_summary(run_dir: str, rebuild: bool = False) -> dict[str, Any]:
    """summary.json of a finished run when it is newer than its journal; else the summary rebuilt from the journal
    and written (not written while the run is still being written)."""
    from pathlib import Path

    from burststudio import rundir
    from burststudio.errors import InputFileError

    path = Path(run_dir)
    if not path.is_dir():
        raise InputFileError(str(path), "no such run directory")
    if rundir.is_being_written(path):
        # The replay still writes here: show what its journal holds so far, and write nothing beside it.
        import sys

        print(f"burststudio report: {path} is still being written; this is the summary so far (not saved)",
              file=sys.stderr)
        return rundir.build_summary(path, write=False)
    if not rebuild and rundir.summary_is_current(path):
        summary = rundir.read_summary(path)
        if summary is not None:
            return summary
        # cut short or unreadable: rebuild it
    try:
        return rundir.build_summary(path, write=True)
    except OSError as exc:
        # A full disk or a read-only copy: the summary is still shown, only not saved beside the run.
        import sys

        print(f"burststudio report: the summary could not be saved in {path}: {exc.strerror or exc}",
              file=sys.stderr)
        return rundir.build_summary(path, write=False)


def run(args: argparse.Namespace) -> int:
    import json

    summary = load_summary(args.run_dir, args.rebuild)
    if args.json:
        print(json.dumps(summary, allow_nan=False, default=str))
    else:
        print_summary(summary)
    return 0


def print_summary(s: dict[str, Any]) -> None:
    """The summary as readable tables (rich)."""
    from rich.console import Console
    from rich.table import Table

    from burststudio import figures as fg

    def show(summary: Any, key: str) -> str:
        return fg.show(summary, fg.BY_KEY[key])

    c = Console()
    state = "" if s.get("complete", True) else " [yellow](rebuilt from the journal: the run did not finish)[/yellow]"
    c.print(f"[bold]{s.get('name') or 'run'}[/bold] {s.get('run_dir') or ''}{state}")
    c.print(f"target: {fg.target(s)}")
    c.print(f"{fg.ended(s)}: {fg.accounting(s)}", highlight=False)
    if s.get("reason_detail"):
        c.print(s["reason_detail"], highlight=False)
    if s.get("failures_by_class"):
        c.print("failures: " + fg.failures(s))
    t = Table(title="latency (ms)", title_justify="left")
    for col in ("figure", *fg.STATS, "requests", "failed left out"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    count = fg.UNITS["count"].fmt
    for key, label in fg.LATENCIES.items():
        st = s.get(key) or {}
        t.add_row(label, *(fg.show(s, fg.latency(key, k)) for k in fg.STATS),
                  *(count(st[k]) if isinstance(st.get(k), (int, float)) else "" for k in ("count", "failed_excluded")))
    c.print(t)
    tp = s.get("throughput") or {}
    gp = s.get("goodput") or {}
    c.print(f"throughput {show(s, 'requests_per_s')} req/s, {show(s, 'output_tokens_per_s')} tok/s"
            f" over {fg.UNITS['s'].fmt(tp.get('duration_s') or 0)} s; goodput {show(s, 'goodput')}"
            f" ({count(gp.get('met') or 0)} of {count(gp.get('of') or 0)})")
    if s.get("metrics_samples"):
        c.print("server: " + ", ".join(f"{fg.BY_KEY[k].label} {show(s, k)}" for k in (
            "kv_peak", "waiting_peak", "preemptions", "rejections", "prefix_hit_rate")))
    b = s.get("burst") or {}
    if b.get("busy") and b.get("calm"):
        bt = Table(title=f"burst view ({b['window_s']:g} s windows, busiest {b['top_share']:.0%})",
                   title_justify="left")
        burst = fg.BURST_BY_KEY
        cols = (burst["rate_rps"], burst["failed_share"], fg.latency("ttft_s", "p50"), fg.latency("ttft_s", "p99"),
                fg.latency("e2e_s", "p99"))
        for col in ("windows", "requests", *(f.label for f in cols)):
            bt.add_column(col, justify="right")
        bt.add_column("", justify="left")
        for key in ("busy", "calm"):
            g = b[key]
            bt.add_row(count(g["windows"]), count(g["requests"]), *(fg.show(g, f) for f in cols), key)
        c.print(bt)
    for line in s.get("limits_broken") or []:
        c.print(f"[red]limit broken:[/red] {line}")
