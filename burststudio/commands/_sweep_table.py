"""A sweep's table as `sweep` prints it and `report SWEEP_DIR` prints it again, and the names sweep.json is read by
(its file name, the rate-scale dimension, the figure of each column)."""

from __future__ import annotations

import sys
from typing import Any

from burststudio import figures

RATE_SCALE = "rate-scale"  # the dimension of --rate-scale (and a --search key)
SWEEP = "sweep.json"  # in the sweep folder, beside one run directory per point
# sweep.json keys of each run's row (values as summary.json holds them) and the figures they are
_COLUMN: dict[str, figures.Figure] = {
    "rate_rps": figures.BY_KEY["sent_per_s"],
    "goodput": figures.BY_KEY["goodput"],
    "ttft_p50_s": figures.BY_KEY["ttft_p50"],
    "ttft_p99_s": figures.BY_KEY["ttft_p99"],
    "kv_cache_usage_peak": figures.BY_KEY["kv_peak"],
    "lateness_p99_s": figures.BY_KEY["lateness_p99"],
}


def _cell(row: dict[str, Any], key: str) -> str:
    return figures.show_raw(_COLUMN[key], row[key])


def _show(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def print_table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    knee_at = (out.get("knee") or {}).get("value")
    knee_key = (out.get("knee") or {}).get("key")
    keys = list(out.get("dimensions") or {}) or ([out["search"]["key"]] if out.get("search") else [RATE_SCALE])
    if out.get("search") and out["search"]["key"] not in keys:
        keys = [out["search"]["key"]]
    t = Table(title=f"sweep {out['sweep_dir']}")
    for col in (*("scale" if k == RATE_SCALE else k for k in keys), _COLUMN["rate_rps"].label, "sent",
                _COLUMN["goodput"].label, _COLUMN["ttft_p50_s"].label, _COLUMN["ttft_p99_s"].label, "failures",
                _COLUMN["kv_cache_usage_peak"].label, _COLUMN["lateness_p99_s"].label, "client"):
        t.add_column(col, justify="right")
    for r in out["runs"]:
        point = r.get("point") or {RATE_SCALE: r["scale"]}
        cells = []
        for k in keys:
            mark = " <- knee" if k == knee_key and point.get(k) == knee_at and not out.get("search") else ""
            cells.append(_show(point.get(k, "")) + mark)
        count = figures.BY_KEY["sent"]
        t.add_row(*cells, _cell(r, "rate_rps"), figures.show_raw(count, r["sent"]), _cell(r, "goodput"),
                  _cell(r, "ttft_p50_s"), _cell(r, "ttft_p99_s"), figures.show_raw(count, r["failed"]),
                  _cell(r, "kv_cache_usage_peak"), _cell(r, "lateness_p99_s"),
                  "[yellow]limited[/yellow]" if r.get("client_limited") else "")
    console = Console() if sys.stdout.isatty() else Console(width=160)  # a pipe gets whole rows
    console.print(t)
    for r in out["runs"]:
        if r.get("client_limited"):
            label = ", ".join(f"{'scale' if k == RATE_SCALE else k} {_show(v)}"
                              for k, v in (r.get("point") or {RATE_SCALE: r["scale"]}).items())
            console.print(f"[yellow]{label}:[/yellow] {r['client_note']}")
    src = "the preset's goodput_min" if out["goodput_min_from"] == "preset" else "the default"
    gmin = f"goodput {out['goodput_min']:g} ({src}) and the preset's limits"
    s = out.get("search")
    if s:
        hi, lo = s["highest_met"], s["lowest_missed"]
        name = "scale" if s["key"] == RATE_SCALE else s["key"]
        if hi is None:
            console.print(f"search: even {name} {_show(lo)} misses the objectives ({gmin})")
        elif lo is None:
            console.print(f"search: {name} {_show(hi)}, the top of the range, still meets {gmin}")
        else:
            console.print(f"search: the highest {name} that meets {gmin} lies in [{_show(hi)}, {_show(lo)})"
                          f" after {s['steps']} bisection steps")
    elif out.get("knee") is not None:
        name = "scale" if knee_key == RATE_SCALE else knee_key
        console.print(f"knee: {name} {_show(knee_at)} (first goodput below {out['goodput_min']:g}, {src})"
                      if knee_at is not None else
                      f"no knee: goodput stayed at or above {out['goodput_min']:g} ({src}) at every {name}")
