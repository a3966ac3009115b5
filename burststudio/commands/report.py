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
    """summary.json of a finished run; for a run that never finished, the summary rebuilt and written."""
    import json
    from pathlib import Path

    from burststudio.errors import InputFileError
    from burststudio.replay import recorder
    from burststudio.replay.engine import build_summary

    path = Path(run_dir)
    if not path.is_dir():
        raise InputFileError(str(path), "no such run directory")
    summary_path = path / recorder.SUMMARY
    if summary_path.exists() and not rebuild:
        try:
            return json.loads(summary_path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            pass  # cut short (or unreadable): rebuild it
    try:
        return build_summary(path, write=True)
    except OSError as exc:
        # A full disk or a read-only copy: the summary is still shown, only not saved beside the run.
        import sys

        print(f"burststudio report: the summary could not be saved in {path}: {exc.strerror or exc}",
              file=sys.stderr)
        return build_summary(path, write=False)


def run(args: argparse.Namespace) -> int:
    import json

    summary = load_summary(args.run_dir, args.rebuild)
    if args.json:
        print(json.dumps(summary, allow_nan=False, default=str))
    else:
        print_summary(summary)
    return 0


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.1f}"


def print_summary(s: dict[str, Any]) -> None:
    """The summary as readable tables (rich)."""
    from rich.console import Console
    from rich.table import Table

    c = Console()
    state = "" if s.get("complete", True) else " [yellow](rebuilt from the journal: the run did not finish)[/yellow]"
    c.print(f"[bold]{s.get('name') or 'run'}[/bold] {s.get('run_dir') or ''}{state}")
    c.print(f"sent {s['sent']} = finished {s['finished']} + failed {s['failed']} + cancelled {s['cancelled']}"
            + (f"  (lost in flight {s['lost_in_flight']})" if s.get("lost_in_flight") else ""))
    if s.get("failures_by_class"):
        c.print("failures: " + ", ".join(f"{k} {v}" for k, v in s["failures_by_class"].items()))
    t = Table(title="latency (ms)", title_justify="left")
    for col in ("figure", "mean", "p50", "p90", "p99", "max", "requests", "failed left out"):
        t.add_column(col, justify="right" if col != "figure" else "left")
    for key, label in (("ttft_s", "TTFT"), ("itl_s", "ITL"), ("tpot_s", "TPOT"), ("e2e_s", "E2E"),
                       ("dispatch_lateness_s", "lateness")):
        st = s.get(key) or {}
        t.add_row(label, *(_ms(st.get(k)) for k in ("mean", "p50", "p90", "p99", "max")),
                  str(st.get("count", "")), str(st.get("failed_excluded", "")))
    c.print(t)
    tp = s.get("throughput") or {}
    gp = s.get("goodput") or {}
    share = gp.get("share")
    c.print(f"throughput {tp.get('requests_per_s') or 0:.2f} req/s, {tp.get('output_tokens_per_s') or 0:.1f} tok/s"
            f" over {tp.get('duration_s') or 0:.1f} s; goodput "
            f"{'-' if share is None else f'{share:.1%}'} ({gp.get('met')} of {gp.get('of')})")
    if s.get("metrics_samples"):
        c.print(f"server: KV usage peak {s.get('kv_cache_usage_peak')}, waiting peak {s.get('waiting_peak')}, "
                f"preemptions {s.get('preemptions')}, rejections {s.get('admission_rejections')}, "
                f"prefix hit rate {s.get('prefix_cache_hit_rate')}")
    b = s.get("burst") or {}
    if b.get("busy") and b.get("calm"):
        bt = Table(title=f"burst view ({b['window_s']:g} s windows, busiest {b['top_share']:.0%})",
                   title_justify="left")
        for col in ("windows", "requests", "req/s", "failed", "TTFT p50", "TTFT p99", "E2E p99"):
            bt.add_column(col, justify="right")
        bt.add_column("", justify="left")
        for key in ("busy", "calm"):
            g = b[key]
            bt.add_row(str(g["windows"]), str(g["requests"]), f"{g['rate_rps'] or 0:.2f}",
                       "-" if g["failed_share"] is None else f"{g['failed_share']:.1%}",
                       _ms(g["ttft_s"]["p50"]), _ms(g["ttft_s"]["p99"]), _ms(g["e2e_s"]["p99"]), key)
        c.print(bt)
    for line in s.get("limits_broken") or []:
        c.print(f"[red]limit broken:[/red] {line}")
