"""`burststudio fit TRACE [--window 20m] [--json] [--to-preset OUT.toml]`: which distributions a trace follows.

What the fit does and how to read it: docs/fitting.md.
"""

from __future__ import annotations

import argparse

from burststudio.commands._workload_args import add_workload_arguments, load_workload

HELP = "fit inter-arrival times and lengths of a trace; optionally write a preset that reproduces it"
# Windows listed in the terminal table before the rest is only counted (--json has them all).
SHOWN_WINDOWS = 24


def register(subparsers) -> None:
    p = subparsers.add_parser("fit", help=HELP, description=HELP + " (see docs/fitting.md).")
    add_workload_arguments(p)
    p.add_argument("--window", default="20m", metavar="DURATION",
                   help="length of the windows fitted one by one (default 20m, as the BurstGPT generator)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--to-preset", metavar="OUT.toml",
                   help="write a preset whose synthesised workload matches the trace's rate, CV, IDC and lengths")
    p.set_defaults(func=run)


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _params(fit: dict) -> str:
    return ", ".join(f"{k} {_fmt(v)}" for k, v in fit["params"].items())


def _selection_table(title: str, sel: dict):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("family", "parameters", "AIC", "KS D", ""):
        t.add_column(col, justify="right" if col in ("AIC", "KS D") else "left")
    for name, f in sorted(sel["fits"].items(), key=lambda kv: kv[1]["aic"] if kv[1]["aic"] is not None else 1e300):
        t.add_row(name, _params(f), _fmt(f["aic"], 8), _fmt(f["ks"], 3), "best" if name == sel["best"] else "")
    return t


def _print(result: dict, preset_note: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    ties = result["ties"]
    con.print(f"[bold]{result['name']}[/]: {result['requests']} requests over {_fmt(result['duration_s'], 6)} s")
    ia = result["interarrival"]
    if ia is None:
        con.print("too few requests to fit inter-arrival times")
    else:
        con.print(f"inter-arrival: rate {_fmt(ia['rate_rps'])}/s, CV {_fmt(ia['cv'])}"
                  + (f"; {ties['ties']} ties ({100 * ties['tie_share']:.1f}%) counted as {_fmt(ties['tie_value_s'])} s"
                     if ties["ties"] else ""))
        con.print(_selection_table("Inter-arrival times, over all", ia))
    windows = result["windows"]
    if windows:
        t = Table(title=f"Per window of {_fmt(result['window_s'])} s", title_justify="left")
        for col in ("start s", "requests", "rate/s", "CV", "best", "parameters", "KS D"):
            t.add_column(col, justify="left" if col in ("best", "parameters") else "right")
        for w in windows[:SHOWN_WINDOWS]:
            best = w["fits"].get(w["best"]) if w["best"] else None
            t.add_row(_fmt(w["start_s"], 8), str(w["requests"]), _fmt(w["rate_rps"]), _fmt(w["cv"]),
                      w["best"] or "-", _params(best) if best else "-", _fmt(best["ks"], 3) if best else "-")
        con.print(t)
        counts: dict[str, int] = {}
        for w in windows:
            counts[w["best"] or "too few"] = counts.get(w["best"] or "too few", 0) + 1
        more = f"{len(windows) - SHOWN_WINDOWS} more windows not shown (--json has them); " \
            if len(windows) > SHOWN_WINDOWS else ""
        con.print(more + "best per window: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for col, label in (("prompt_tokens", "Prompt lengths"), ("output_tokens", "Output lengths")):
        if result[col] is not None:
            con.print(_selection_table(f"{label} ({result[col]['n']} requests, failed ones left out)", result[col]))
    if preset_note:
        con.print(preset_note)


# The most windows `fit` fits and lists (a year in 20-minute windows is 26,280).
MAX_WINDOWS = 100_000


def run(args: argparse.Namespace) -> int:
    import json
    import math
    from pathlib import Path

    from burststudio.errors import UserError
    from burststudio.workload import fit
    from burststudio.workload.stats import json_safe
    from burststudio.workload.transform import parse_duration

    window_s = parse_duration(args.window, "--window")
    if not window_s > 0:
        raise UserError(f"--window must be longer than 0 s, got {args.window!r}")
    w = load_workload(args)
    windows = w.duration_s / window_s
    if windows > MAX_WINDOWS:
        # Each window is fitted and listed: a trace spanning years in 20-minute windows would take hours.
        raise UserError(f"{args.file}: {w.duration_s:.4g} s in windows of {window_s:g} s is {math.ceil(windows):,} windows "
                        f"(at most {MAX_WINDOWS:,}); give a longer --window, e.g. --window "
                        f"{math.ceil(w.duration_s / MAX_WINDOWS)}s")
    result = {"name": w.meta.name, "format": w.meta.origin_format, **fit.fit_workload(w, window_s)}
    note = None
    if args.to_preset:
        out = Path(args.to_preset)
        if not out.parent.exists():
            raise UserError(f"folder {str(out.parent)!r} does not exist", where=str(out))
        from burststudio.workload.fit_generator import preset_text, windows_file_name

        try:
            text = preset_text(w, args.file, str(out), format=args.format)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write ({exc.strerror or exc})", where=str(out)) from None
        result["preset"] = str(out)
        windows = out.parent / windows_file_name(out)
        if "windows_file" in text and windows.is_file():
            result["preset_windows"] = str(windows)
        # The preset's header says what was kept; the terminal gets its lines about the figures.
        checks = [line[2:] for line in text.splitlines() if line.startswith("#   ")]
        note = f"wrote {out}" + (f" and {windows.name}" if "preset_windows" in result else "") + "\n" \
            + "\n".join(checks)
    if args.json:
        print(json.dumps(json_safe(result), allow_nan=False))
    else:
        _print(result, note)
    return 0
