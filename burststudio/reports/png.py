"""The report's main figures as PNG files, for places that take no HTML: the time line (story.png), the latency
distributions (cdfs.png), the per-request points (requests.png) and, for a sweep, the knee (knee.png).

Drawn with matplotlib's Agg backend from the same `run_view` data as the HTML page, so both show the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from burststudio.reports.sweep_view import plot_key
from burststudio.timeaxis import time_unit

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _nums(xs: list[float | None], scale: float = 1.0) -> list[float]:
    return [float("nan") if v is None else v * scale for v in xs]


def _shade(ax, shaded: list[list[float]], div: float) -> None:
    for start, end in shaded:
        ax.axvspan(start / div, end / div, color="#ffa000", alpha=0.13, lw=0)


def story(path: Path, views: list[dict[str, Any]], shaded: list[list[float]]) -> Path:
    plt = _plt()
    span = max((v["story"]["t"][-1] or 0) for v in views) or 1.0
    div, unit = time_unit(span)
    panels = (
        ("req/s", [("scheduled", ("scheduled_per_s",), 1), ("sent", ("sent_per_s",), 1),
                   ("finished", ("finished_per_s",), 1)]),
        ("TTFT ms", [("p50", ("ttft_p50_s",), 1e3), ("p99", ("ttft_p99_s",), 1e3)]),
        ("ITL ms", [("p50", ("itl_p50_s",), 1e3), ("p99", ("itl_p99_s",), 1e3)]),
        ("KV usage %", [("KV", ("server", "kv_cache_usage"), 100)]),
        ("requests", [("running", ("server", "running"), 1), ("waiting", ("server", "waiting"), 1)]),
        ("failures/s", None),
        ("lateness p99 ms", [("p99", ("lateness_p99_s",), 1e3)]),
    )
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.0 * len(panels)), sharex=True)
    for ax, (label, lines) in zip(axes, panels):
        k = 0
        for i, v in enumerate(views):
            s = v["story"]
            t = [x / div for x in s["t"]]
            prefix = f"{v['label']}: " if len(views) > 1 else ""
            series = ([(cls, (cls,), 1) for cls in s["failures_per_s"]] if lines is None else lines)
            for name, keys, scale in series:
                node: Any = s["failures_per_s"] if lines is None else s
                for key in keys:
                    node = (node or {}).get(key)
                if node:
                    ax.plot(t, _nums(node, scale), lw=1.2, color=COLOURS[k % len(COLOURS)], label=prefix + name)
                    k += 1
        _shade(ax, shaded, div)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if k:
            ax.legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1].set_xlabel(f"time ({unit})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cdfs(path: Path, views: list[dict[str, Any]]) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5))
    for ax, key in zip(axes.flat, ("ttft_s", "tpot_s", "itl_s", "e2e_s")):
        for i, v in enumerate(views):
            c = v["cdfs"][key]
            if c["x"]:
                ax.plot(_nums(c["x"], 1e3), c["y"], color=COLOURS[i % len(COLOURS)], lw=1.4, label=v["label"])
        ax.set_title(f"{views[0]['cdfs'][key]['label']} distribution")
        ax.set_xlabel("ms")
        ax.grid(alpha=0.3)
        if any(v["cdfs"][key]["x"] and (v["cdfs"][key]["x"][0] or 0) > 0 for v in views):
            ax.set_xscale("log")
        if len(views) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def requests(path: Path, views: list[dict[str, Any]], shaded: list[list[float]]) -> Path:
    plt = _plt()
    span = max((max((t for t in v["points"]["t"] if t is not None), default=0)) for v in views) or 1.0
    div, unit = time_unit(span)
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True)
    for ax, key, title in zip(axes, ("ttft_s", "e2e_s"), ("TTFT ms", "E2E ms")):
        for i, v in enumerate(views):
            p = v["points"]
            for k, kind in enumerate(sorted(set(p["outcome"]))):
                xs = [t / div for t, o, y in zip(p["t"], p["outcome"], p[key]) if o == kind and t is not None
                      and y is not None and y > 0]
                ys = [y * 1e3 for t, o, y in zip(p["t"], p["outcome"], p[key]) if o == kind and t is not None
                      and y is not None and y > 0]
                if xs:
                    prefix = f"{v['label']}: " if len(views) > 1 else ""
                    ax.scatter(xs, ys, s=4, color=COLOURS[(i * 3 + k) % len(COLOURS)], label=prefix + kind)
        _shade(ax, shaded, div)
        ax.set_ylabel(title)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, markerscale=3)
    axes[-1].set_xlabel(f"arrival ({unit})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def knee(path: Path, sweep: dict[str, Any]) -> Path:
    plt = _plt()
    key = plot_key(sweep)
    rows = sorted((r for r in sweep["runs"] if isinstance((r.get("point") or {}).get(key), (int, float))),
                  key=lambda r: r["point"][key])
    x = [r["point"][key] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot(x, _nums([r.get("goodput") for r in rows], 100), "o-", color=COLOURS[2], label="goodput %")
    ax.set_ylabel("goodput %")
    ax.set_xlabel("rate scale" if key == "rate-scale" else key)
    ax2 = ax.twinx()
    ax2.plot(x, _nums([r.get("ttft_p50_s") for r in rows], 1e3), "s--", color=COLOURS[0], label="TTFT p50 ms")
    ax2.plot(x, _nums([r.get("ttft_p99_s") for r in rows], 1e3), "s-", color=COLOURS[1], label="TTFT p99 ms")
    ax2.set_ylabel("TTFT ms")
    knee_at = (sweep.get("knee") or {}).get("value")
    if isinstance(knee_at, (int, float)):
        ax.axvline(knee_at, color="#d62728", ls=":", label="knee")
    fig.legend(loc="upper center", ncol=4, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(out_dir: Path, views: list[dict[str, Any]], *, sweep: dict[str, Any] | None = None) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, v in enumerate(views):
        v.setdefault("label", f"{k}: {v['name']}" if len(views) > 1 else v["name"])
    episodes = (views[0].get("burst") or {}).get("episodes") or []
    shaded = [[e["start_s"], e["end_s"]] for e in episodes if isinstance(e, dict) and "start_s" in e and "end_s" in e]
    paths = [story(out_dir / "story.png", views, shaded), cdfs(out_dir / "cdfs.png", views),
             requests(out_dir / "requests.png", views, shaded)]
    if sweep and plot_key(sweep):
        paths.append(knee(out_dir / "knee.png", sweep))
    return paths
