"""One self-contained HTML page for a run, several runs or a sweep: every script, style and number inline, so the page
opens offline and makes no network request.

The charts are drawn by uPlot (assets/, MIT licence beside it), chosen for its size (about 50 kB against plotly's
4.6 MB) and its speed on long time series; docs/reports.md has the measurements. The page's data is the JSON of
`run_view` for each run, in a `<script type="application/json">` block that `assets/report.js` draws.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from burststudio import figures
from burststudio.reports.comparison import ROWS, better, compare, diff_text
from burststudio.reports.sweep_view import plot_key

# (element id, title) of the time panels, in the page's order; report.js fills each element.
STORY_PANELS = (
    ("chart-rate", "Request rate: scheduled, sent, finished"),
    ("chart-ttft", "TTFT p50 and p99"),
    ("chart-itl", "ITL p50 and p99"),
    ("chart-kv", "KV cache usage"),
    ("chart-queue", "Running and waiting"),
    ("chart-preempt", "Preemptions and rejections"),
    ("chart-failures", "Failures by class"),
    ("chart-lateness", "Dispatch lateness p99"),
)
SCATTER_PANELS = (("chart-scatter-ttft", "TTFT of each request"), ("chart-scatter-e2e", "E2E of each request"))
CDF_PANELS = tuple((f"chart-cdf-{key}", f"{label} distribution")
                   for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("itl_s", "ITL"), ("e2e_s", "E2E")))


def _asset(name: str) -> str:
    return resources.files("burststudio.reports").joinpath("assets", name).read_text(encoding="utf-8")


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _counts_line(view: dict[str, Any]) -> str:
    c = view["counts"]
    line = (f"sent {c.get('sent')} = finished {c.get('finished')} + failed {c.get('failed')}"
            f" + cancelled {c.get('cancelled')}")
    if c.get("lost_in_flight"):
        line += f" (lost in flight {c['lost_in_flight']})"
    if c.get("not_sent"):
        line += f"; not sent {c['not_sent']}"
    ended = view.get("reason") or ("done" if view["complete"] else "did not finish: rebuilt from its journal")
    return f"{line}; ended: {ended}"


def replica_chart(run: int, k: int, what: str) -> str:
    """The id of run `run`'s replica `k`'s chart of `what` (kv, queue): report.js draws into it by the same id."""
    return f"chart-rep-{run}-{k}-{what}"


def _panel(pid: str, title: str, cls: str = "panel") -> str:
    return f'<div class="{cls}"><h3>{_e(title)}</h3><div id="{pid}" class="chart"></div></div>'


def _burst_section(view: dict[str, Any]) -> str:
    b = view.get("burst")
    if not b:
        return "<p>No burst view: the run has fewer than two windows with requests.</p>"
    rows = []
    for k, label in enumerate(b["labels"]):
        vals = [g["values"][k] for g in b["groups"]]
        top = max((v for v in vals if v is not None), default=0) or 1
        cells = [_e(label)]
        for g, v in zip(b["groups"], vals):
            share = 0 if v is None else max(0.0, min(1.0, v / top))
            cells.append(f'<span class="bar {g["name"]}" style="width:{share * 8:.2f}em"></span>'
                         f'<span class="num">{_e(g["shown"][k])}</span>')
        rows.append(cells)
    said = (f"{len(b['episodes'])} burst episode(s), shaded on the time charts: the high-rate"
            f" {b.get('window_s') or 0:g} s windows and the backlog they leave, until the server is back to calm;"
            " each request counts where it arrived." if b["episodes"] else "No burst episode in this run.")
    out = f"<p>{_e(said)}</p>" + (f"<p class=\"hint\">{_e(b['note'])}</p>" if b.get("note") else "")
    out += _table(["figure", *(g["name"] for g in b["groups"])], rows, "burst")
    if b["episodes"]:
        out += _table(["episode", *b["episode_labels"]], [[_e(c) for c in row] for row in b["episode_rows"]],
                      "figures")
    return out


def _replica_section(view: dict[str, Any]) -> str:
    r = view["replicas"]
    said = f"{len(r['rows'])} replicas, {r['source']}; " + ", ".join(f"{a} {b}" for a, b in r["imbalance"])
    return (f"<p>{_e(said)} (the busiest replica's load over the mean: 1.00 is even).</p>"
            + _table(["replica", *r["labels"]], [[_e(c) for c in row] for row in r["rows"]], "figures"))


def _comparison(summaries: list[dict[str, Any]], labels: list[str]) -> str:
    result = compare(summaries)
    head = ["figure", labels[0]]
    for lab in labels[1:]:
        head += [lab, f"{lab} vs {labels[0]}"]
    rows = []
    for f, row in zip(ROWS, result["rows"]):
        cells = [_e(row["figure"]), _e(figures.fmt(f, row["values"][0]))]
        for v, d, r in zip(row["values"][1:], row["diff"], row["relative"]):
            good = better(row, d)
            cls = "" if good is None else ("better" if good else "worse")
            cells += [_e(figures.fmt(f, v)), f'<span class="{cls}">{_e(diff_text(f, d, r))}</span>']
        rows.append(cells)
    return _table(head, rows, "figures")


def _sweep_section(sweep: dict[str, Any]) -> str:
    gmin = sweep.get("goodput_min")
    s = sweep.get("search")
    knee = (sweep.get("knee") or {}).get("value")
    if s:
        said = (f"search over {s['key']}: the highest value that meets goodput {gmin:g} lies in "
                f"[{s['highest_met']}, {s['lowest_missed']})" if s["highest_met"] is not None
                and s["lowest_missed"] is not None else
                f"search over {s['key']}: even {s['lowest_missed']} misses goodput {gmin:g}"
                if s["highest_met"] is None else f"search over {s['key']}: {s['highest_met']} still meets it")
    elif knee is not None:
        said = f"knee at {sweep['knee']['key']} = {knee}: the first value whose goodput is below {gmin:g}"
    else:
        said = f"no knee: goodput stayed at or above {gmin:g} at every point"
    rows = [[_e(", ".join(f"{k}={v}" for k, v in (r.get("point") or {"rate-scale": r.get("scale")}).items())),
             _e(r.get("sent")), _e(figures.show_raw(figures.BY_KEY["goodput"], r.get("goodput"))),
             _e(figures.show_raw(figures.BY_KEY["ttft_p99"], r.get("ttft_p99_s"))), _e(r.get("failed"))]
            for r in sweep.get("runs") or []]
    table = _table(["point", "sent", "goodput", "TTFT p99 ms", "failed"], rows, "figures")
    chart = (_panel("chart-knee", "Goodput and TTFT against " + ("the rate scale" if sweep["plot_key"] == "rate-scale"
                                                              else sweep["plot_key"]), "panel wide")
             if sweep.get("plot_key") else "")
    return f'<section><h2>Sweep</h2><p>{_e(said)}</p>{chart}{table}</section>'


def page(views: list[dict[str, Any]], summaries: list[dict[str, Any]], *,
         sweep: dict[str, Any] | None = None, title: str | None = None) -> str:
    """The whole page for one or several runs' views (run_view) and summaries, optionally a sweep's sweep.json."""
    labels = [f"{k}: {v['name']}" if len(views) > 1 else v["name"] for k, v in enumerate(views)]
    for view, label in zip(views, labels):
        view["label"] = label
    first = views[0]
    episodes = (first.get("burst") or {}).get("episodes") or []
    shaded = [[ep.get("start_s"), ep.get("end_s")] for ep in episodes
              if isinstance(ep, dict) and ep.get("start_s") is not None and ep.get("end_s") is not None]
    if sweep:
        sweep = {**sweep, "plot_key": plot_key(sweep)}
    payload = {"runs": views, "shaded": shaded, "sweep": sweep}
    data = json.dumps(payload, allow_nan=False, separators=(",", ":"), default=str).replace("</", "<\\/")
    title = title or ("BurstStudio report: " + (first["name"] if len(views) == 1 else f"{len(views)} runs"))

    parts = [f"<header><h1>{_e(title)}</h1>"]
    for view, label in zip(views, labels):
        parts.append(f'<p class="run"><b>{_e(label)}</b> <code>{_e(view["run_dir"])}</code>'
                     f' started {_e(view.get("started_at"))}<br>{_e(_counts_line(view))}</p>')
    parts.append("</header>")
    if sweep:
        parts.append(_sweep_section(sweep))
    parts.append("<section><h2>Summary</h2>")
    if len(views) == 1:
        parts.append(_table(["figure", "value"], [[_e(a), _e(b)] for a, b in first["figures"]], "figures"))
        if first["failures_by_class"]:
            parts.append("<p>failures: " + _e(", ".join(f"{k} {v}" for k, v in first["failures_by_class"].items()))
                         + "</p>")
    else:
        parts.append(_comparison(summaries, labels))
    parts.append("</section>")
    fleets = [(view, label) for view, label in zip(views, labels) if view.get("replicas")]
    if fleets:
        parts.append("<section><h2>Replicas</h2>")
        for view, label in fleets:
            if len(views) > 1:
                parts.append(f"<h3>{_e(label)}</h3>")
            parts.append(_replica_section(view))
        for view, label in fleets:
            run = views.index(view)
            for k, name in enumerate(view["story"].get("replicas") or {}):
                who = f"{label}, replica {name}" if len(views) > 1 else f"replica {name}"
                parts.append('<div class="grid2">' + _panel(replica_chart(run, k, "kv"), f"{who}: KV cache usage")
                             + _panel(replica_chart(run, k, "queue"), f"{who}: running and waiting") + "</div>")
        parts.append("</section>")
    shade_note = (" Shaded: the burst episodes" + (f" of {labels[0]}" if len(views) > 1 else "") + "."
                  if shaded else "")
    parts.append("<section><h2>The run's story</h2><p class=\"hint\">Drag across a chart to zoom every chart;"
                 f" double-click to reset.{_e(shade_note)}</p><div class=\"grid1\">"
                 + "".join(_panel(pid, t) for pid, t in STORY_PANELS) + "</div></section>")
    points = "; ".join(f"{len(v['points']['t'])} of {v['points']['of']} requests" for v in views)
    parts.append(f"<section><h2>Requests</h2><p class=\"hint\">Points: {_e(points)}, by arrival;"
                 " percentiles everywhere else use every request.</p><div class=\"grid1\">"
                 + "".join(_panel(pid, t) for pid, t in SCATTER_PANELS) + "</div></section>")
    parts.append("<section><h2>Latency distributions</h2><div class=\"grid2\">"
                 + "".join(_panel(pid, t) for pid, t in CDF_PANELS) + "</div></section>")
    parts.append("<section><h2>Burst view</h2>")
    for view, label in zip(views, labels):
        if len(views) > 1:
            parts.append(f"<h3>{_e(label)}</h3>")
        parts.append(_burst_section(view))
    parts.append("</section>")
    parts.append("<section><h2>What ran</h2>")
    for view, label in zip(views, labels):
        parts.append(f"<h3>Target{_e(' of ' + label) if len(views) > 1 else ''}</h3>"
                     + _table(["", ""], [[_e(a), _e(b)] for a, b in view["target"]], "target"))
        if view.get("preset"):
            parts.append(f"<details><summary>The resolved preset</summary><pre>{_e(view['preset'])}</pre></details>")
    parts.append("</section>")

    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_asset('uPlot.min.css')}\n{_asset('report.css')}</style></head>"
            f"<body>{''.join(parts)}"
            f"<script type=\"application/json\" id=\"report-data\">{data}</script>"
            f"<script>{_asset('uPlot.iife.min.js')}</script><script>{_asset('report.js')}</script>"
            "</body></html>\n")


def write(path: Path, text: str) -> None:
    """Write the page whole or not at all (a temporary file renamed over the target)."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(run_dirs: list[Path], summaries: list[dict[str, Any]], out: Path, *,
                 sweep: dict[str, Any] | None = None) -> Path:
    """The page of these runs (each with its summary, as `report` loads it) written to `out`."""
    from burststudio.reports.run_view import run_view

    views = [run_view(Path(r), s) for r, s in zip(run_dirs, summaries)]
    write(Path(out), page(views, summaries, sweep=sweep))
    return Path(out)

