"""`burststudio report RUN_DIR [RUN_DIR ...]`: runs' summaries (rebuilt from the journal when a run never finished),
and the reports people share: `--html FILE` (one self-contained page), `--png DIR` (its main figures), `--csv DIR`
(requests.csv and summary.csv). A sweep folder stands for its runs, with the knee plot."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "show a run's summary (rebuilt from the journal when the run was killed)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help=HELP, description=HELP[0].upper() + HELP[1:] + ".")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                   help="run directories written by `replay` or `simulate`, or a sweep folder (the first is the "
                        "baseline when there are several)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--rebuild", action="store_true", help="rebuild the summary from the journal even if it exists")
    p.add_argument("--html", metavar="FILE", help="write one self-contained HTML page (opens offline)")
    p.add_argument("--png", metavar="DIR", help="write the main figures as PNG files into DIR")
    p.add_argument("--csv", metavar="DIR", help="write requests.csv and summary.csv into DIR")
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


def expand(paths: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    """(run directories, the sweep's sweep.json or None): a sweep folder stands for its runs, in scale order."""
    from pathlib import Path

    from burststudio import json_text
    from burststudio.commands._sweep_table import SWEEP
    from burststudio.errors import InputFileError, UserError

    runs: list[str] = []
    sweep = None
    for p in paths:
        sweep_file = Path(p) / SWEEP
        if not sweep_file.is_file():
            runs.append(p)
            continue
        if len(paths) > 1:
            raise UserError(f"{p} is a sweep folder: report it alone (its runs are compared in its page)")
        try:
            sweep = json_text.loads(sweep_file.read_bytes())
            rows = sweep["runs"]
            # Each run sits in the folder beside sweep.json, whatever path the sweep was started from.
            runs = [str(Path(p) / Path(str(r["run_dir"])).name) for r in rows]
        except (OSError, ValueError, KeyError, TypeError):
            raise InputFileError(str(sweep_file), "not a sweep description (sweep.json of `burststudio sweep`)") \
                from None
        if not runs:
            raise InputFileError(str(sweep_file), "a sweep with no run")
    return runs, sweep


def run(args: argparse.Namespace) -> int:
    import json

    from burststudio.repeats import is_repeat, read_repeat

    if len(args.run_dirs) == 1 and is_repeat(args.run_dirs[0]) and not (args.html or args.png or args.csv):
        from burststudio.commands._repeat import print_repeat

        rep = read_repeat(args.run_dirs[0])
        print(json.dumps(rep, allow_nan=False)) if args.json else print_repeat(rep)
        return 0
    runs, sweep = expand(args.run_dirs)
    summaries = [load_summary(r, args.rebuild) for r in runs]
    if args.html or args.png or args.csv:
        write_reports(args, runs, summaries, sweep)
    elif args.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, allow_nan=False, default=str))
    elif sweep is not None:
        from burststudio.commands._sweep_table import print_table

        print_table(sweep)
    else:
        for s in summaries:
            print_summary(s)
    return 0


def write_reports(args: argparse.Namespace, runs: list[str], summaries: list[dict[str, Any]],
                  sweep: dict[str, Any] | None) -> None:
    import sys
    import time
    from pathlib import Path

    from burststudio.errors import UserError
    from burststudio.reports.run_view import run_view

    t0 = time.perf_counter()
    views = [run_view(Path(r), s) for r, s in zip(runs, summaries)]
    wrote: list[str] = []
    try:
        if args.html:
            from burststudio.reports import html

            html.write(Path(args.html), html.page(views, summaries, sweep=sweep))
            wrote.append(args.html)
        if args.png:
            from burststudio.reports import png

            wrote += [str(p) for p in png.write_all(Path(args.png), views, sweep=sweep)]
        if args.csv:
            from burststudio.reports import csv_tables

            wrote += [str(p) for p in csv_tables.write_all(Path(args.csv), runs, summaries)]
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}",
                        where=getattr(exc, "filename", None) or "") from None
    print(f"burststudio report: wrote {', '.join(wrote)} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def print_summary(s: dict[str, Any]) -> None:
    """The summary as readable tables (rich)."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from burststudio import figures as fg

    def show(summary: Any, key: str) -> str:
        return fg.show(summary, fg.BY_KEY[key])

    c = Console() if sys.stdout.isatty() else Console(width=160)  # a pipe gets whole rows
    state = "" if s.get("complete", True) else " [yellow](rebuilt from the journal: the run did not finish)[/yellow]"
    c.print(f"[bold]{s.get('name') or 'run'}[/bold] {s.get('run_dir') or ''}{state}")
    c.print(f"target: {fg.target(s)}")
    c.print(f"{fg.ended(s)}: {fg.accounting(s)}", highlight=False)
    if s.get("reason_detail"):
        c.print(s["reason_detail"], highlight=False)
    if s.get("failures_by_class"):
        c.print("failures: " + fg.failures(s))
    t = Table(title="latency (ms)", title_justify="left")
    stats = fg.stats_of(s)
    for col in ("figure", *stats, "requests", "failed left out"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    count = fg.UNITS["count"].fmt
    for key, label in fg.LATENCIES.items():
        st = s.get(key) or {}
        t.add_row(label, *(fg.show(s, fg.latency(key, k)) for k in stats),
                  *(count(st[k]) if isinstance(st.get(k), (int, float)) else "" for k in ("count", "failed_excluded")))
    c.print(t)
    tp = s.get("throughput") or {}
    gp = s.get("goodput") or {}
    c.print(f"throughput {show(s, 'requests_per_s')} req/s, {show(s, 'output_tokens_per_s')} tok/s"
            f" over {fg.UNITS['s'].fmt(tp.get('duration_s') or 0)} s; goodput {show(s, 'goodput')}"
            f" ({count(gp.get('met') or 0)} of {count(gp.get('of') or 0)}, {show(s, 'goodput_rate')} req/s)")
    print_slices(c, s)
    if s.get("metrics_samples"):
        c.print("server: " + ", ".join(f"{fg.BY_KEY[k].label} {show(s, k)}" for k in (
            "kv_peak", "waiting_peak", "preemptions", "rejections", "prefix_hit_rate")))
    print_replicas(c, s)
    print_warnings(c, s)
    print_bursts(c, s.get("burst") or {})
    for line in s.get("limits_broken") or []:
        c.print(f"[red]limit broken:[/red] {line}")


def print_slices(c, s: dict[str, Any], limit: int = 60) -> None:
    """The run's time slices (slices.parquet), at most `limit` rows."""
    from pathlib import Path

    from rich.table import Table

    from burststudio import figures as fg

    info = s.get("slices") or {}
    path = Path(s.get("run_dir") or ".") / str(info.get("file") or "")
    if not info or not path.is_file():
        return
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    t = Table(title=f"slices of {info['width_s']:g} s ({len(rows)}, in {path})", title_justify="left")
    ms = fg.BY_KEY["ttft_p50"]
    cols = (("start s", None), ("sent", None), ("finished", None), ("failed", None), ("TTFT p50 ms", "ttft_p50_s"),
            ("TTFT p99 ms", "ttft_p99_s"), ("ITL p99 ms", "itl_p99_s"), ("KV peak", "kv_cache_usage_peak"))
    for name, _ in cols:
        t.add_column(name, justify="right")
    for r in rows[:limit]:
        t.add_row(f"{r['start_s']:g}", str(r["sent"]), str(r["finished"]), str(r["failed"]),
                  *(fg.show_raw(ms, r[k]) for k in ("ttft_p50_s", "ttft_p99_s", "itl_p99_s")),
                  fg.show_raw(fg.BY_KEY["kv_peak"], r.get("kv_cache_usage_peak")))
    c.print(t)
    if len(rows) > limit:
        c.print(f"... {len(rows) - limit} more slices in {path}")


def print_replicas(c, s: dict[str, Any]) -> None:
    """A fleet's run: the imbalance, then one line per replica (a line wraps at 80 columns; ten table columns
    did not fit) (docs/fleets.md)."""
    from burststudio import figures as fg

    rows = s.get("replicas") or []
    if not rows:
        return
    imb = s.get("imbalance") or {}
    c.print(f"replicas ({fg.replica_source(s)}): " + ", ".join(f"{f.label} {fg.show(imb, f)}" for f in fg.IMBALANCE_FIGURES))
    for r in rows:
        c.print(f"  [b]{r.get('replica')}[/b]: " + ", ".join(f"{f.label} {fg.show(r, f)}" for f in fg.REPLICA_FIGURES))


def print_bursts(c, b: dict[str, Any]) -> None:
    """The burst view: the requests of every burst episode against the calm ones, then one row per episode."""
    from rich.table import Table

    from burststudio import figures as fg

    if not isinstance(b.get("calm"), dict):
        return
    episodes = b.get("episodes") or []
    limit = b.get("threshold_requests")
    over = f"over {limit:.0f} arrivals" if isinstance(limit, (int, float)) else "high-rate"
    bt = Table(title=f"bursts: {len(episodes)} episode(s), {b['window_s']:g} s windows {over} and the backlog "
               f"they left", title_justify="left")
    cols = tuple(fg.BURST_BY_KEY[k] for k in ("rate_rps", "failed", "failed_share", "ttft_p50", "ttft_p99",
                                              "e2e_p99"))
    for col in ("", "windows", "requests", *(f.label for f in cols)):
        bt.add_column(col, justify="left" if not col else "right")
    for key, name in (("busy", "burst"), ("calm", "calm")):
        g = b.get(key)
        if isinstance(g, dict):
            bt.add_row(name, str(g["windows"]), str(g["requests"]), *(fg.show(g, f) for f in cols))
    c.print(bt)
    if episodes:
        et = Table(title="burst episodes (by arrival)", title_justify="left")
        et.add_column("when")
        for f in fg.EPISODE_FIGURES:
            et.add_column(f.label, justify="right")
        for ep in episodes:
            et.add_row(fg.episode_span(ep), *(fg.show(ep, f) for f in fg.EPISODE_FIGURES))
        c.print(et)
    if b.get("note"):
        c.print(f"[dim]{b['note']}[/dim]")


def print_warnings(c, s: dict[str, Any]) -> None:
    """What the figures above cannot be read without: the client's own delays in them, a run that fell behind."""
    client = (s.get("client") or {}).get("note")
    if client:
        c.print(f"[yellow]warning:[/yellow] {client}")
    behind = (s.get("overload") or {}).get("note")
    if behind:
        c.print(f"[yellow]overload:[/yellow] {behind}")
