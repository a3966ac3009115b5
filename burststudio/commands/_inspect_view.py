"""The terminal view of `burststudio inspect`: rich tables of the figures `inspect.report` returns."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _num(x: Any, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def _pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _duration(s: Any) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min ({s:,.0f} s)"
    if s < 172800:
        return f"{s / 3600:.1f} h ({s:,.0f} s)"
    return f"{s / 86400:.1f} days ({s:,.0f} s)"


def _clock(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# A list in a generator table longer than this shows as its length (a fitted preset may hold thousands of windows).
SHOWN_ITEMS = 8


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list) and len(value) > SHOWN_ITEMS:
        return f"[{len(value):,} {'tables' if isinstance(value[0], dict) else 'values'}]"
    return value


def generator_text(generator: Any) -> str:
    """The generator table on one logical line, long lists as their length."""
    if not isinstance(generator, dict):
        return str(generator)
    return ", ".join(f"{k}={_compact(v)}" for k, v in generator.items())


def render(f: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    head = Table(title=f"{f['name']}  ({f['format']})", show_header=False, title_justify="left", box=None)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("file", f["file"])
    if "origin_format" in f:
        head.add_row("origin format", f["origin_format"])
    if "start_datetime" in f:
        head.add_row("starts", f["start_datetime"])
    elif "start_time_of_day_s" in f:
        head.add_row("starts at", f"{_clock(f['start_time_of_day_s'])} (time of day)")
    if "generator" in f:
        head.add_row("generator", generator_text(f["generator"]))
    if "seed" in f:
        head.add_row("seed", str(f["seed"]))
    head.add_row("requests", _num(f["requests"]))
    head.add_row("duration", _duration(f["duration_s"]))
    head.add_row("rate", f"{_num(f['rate_rps'], 3)} req/s")
    head.add_row("inter-arrival CV", _num(f["interarrival_cv"]))
    idc = f.get("idc") or {}
    head.add_row("IDC 1s / 10s / 60s", " / ".join(_num(idc.get(k)) for k in ("1s", "10s", "60s")))
    head.add_row("peak / mean (1 s)", _num(f["peak_to_mean_1s"]))
    head.add_row("failed", _pct(f["failed_share"]))
    console.print(head)

    tokens = Table(title="tokens (failed rows excluded)", title_justify="left")
    tokens.add_column("")
    for key in ("mean", "p50", "p90", "p99", "max"):
        tokens.add_column(key, justify="right")
    for key in ("prompt_tokens", "output_tokens"):
        q = f.get(key) or {}
        tokens.add_row(key.replace("_tokens", ""), *(_num(q.get(k), 1) for k in ("mean", "p50", "p90", "p99", "max")))
    console.print(tokens)

    for key, title in (("by_source", "by source"), ("by_model", "by model")):
        groups = f.get(key)
        if not groups:
            continue
        t = Table(title=title, title_justify="left")
        for col in ("", "requests", "share", "req/s", "failed", "prompt mean", "output mean"):
            t.add_column(col, justify="left" if not col else "right", no_wrap=not col)
        for label, g in groups.items():
            t.add_row(label, _num(g.get("requests")), _pct(g.get("share")), _num(g.get("rate_rps"), 3),
                      _pct(g.get("failed_share")), _num(g.get("prompt_tokens_mean"), 1),
                      _num(g.get("output_tokens_mean"), 1))
        console.print(t)
