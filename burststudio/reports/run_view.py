"""Everything a shared report shows of one run, reduced to what a screen can show, as JSON-ready data.

Per-request points are sampled (at most `MAX_POINTS` a run, every outcome kept in proportion with a floor, so a
rare failure class still shows); percentiles and CDFs are computed from every request, so the page's numbers are
the summary's numbers. The report writers (HTML, PNG, CSV) all start from `run_view`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from burststudio import figures
from burststudio.replay import recorder
from burststudio.replay.overload import split_unsent
from burststudio.replay.summary import per_request
from burststudio.replay.timeline import json_floats, chunk_gaps, story
from burststudio.vocab import OK

MAX_POINTS = 4000
MIN_POINTS_PER_OUTCOME = 200
CDF_LEVELS = 201  # quantiles 0, 0.5%, ..., 100%
CDFS = (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("itl_s", "ITL"), ("e2e_s", "E2E"))


def load_records(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the journal's ended records, the /metrics samples) of a run directory."""
    records, _sent = recorder.read_journal(Path(run_dir))
    return records, list(recorder.read_jsonl(Path(run_dir) / recorder.METRICS))


def sample_indices(outcome: np.ndarray, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """At most `limit` request indices: each outcome in proportion, but at least MIN_POINTS_PER_OUTCOME of each
    (or all of it), sorted."""
    n = outcome.size
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    picked = []
    kinds, counts = np.unique(outcome, return_counts=True)
    for kind, count in zip(kinds, counts):
        members = np.flatnonzero(outcome == kind)
        take = min(count, max(MIN_POINTS_PER_OUTCOME, int(limit * count / n)))
        picked.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(picked))


def cdf(values: np.ndarray) -> dict[str, list[float | None]]:
    """Exact quantiles of every value at CDF_LEVELS levels: x the value, y the share at or below it."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    levels = np.linspace(0, 1, CDF_LEVELS)
    if not v.size:
        return {"x": [], "y": []}
    return {"x": json_floats(np.quantile(v, levels)), "y": json_floats(levels, 4)}


def _figure_rows(summary: dict[str, Any]) -> list[list[str]]:
    return [[f.label, figures.show(summary, f)] for f in figures.FIGURES]


def _burst_rows(summary: dict[str, Any]) -> dict[str, Any] | None:
    b = summary.get("burst") or {}
    if not (b.get("busy") and b.get("calm")):
        return None
    cols = figures.BURST_FIGURES
    groups = []
    for key, name in (("busy", "burst"), ("calm", "calm")):
        g = b[key]
        groups.append({"name": name, "shown": [figures.show(g, f) for f in cols],
                       "values": [figures.number(g, f) for f in cols]})
    episodes = [ep for ep in b.get("episodes") or [] if isinstance(ep, dict)]
    return {"labels": [f.label for f in cols], "groups": groups, "window_s": b.get("window_s"),
            "note": b.get("note"), "episodes": episodes,
            "episode_labels": [f.label for f in figures.EPISODE_FIGURES],
            "episode_rows": [[figures.episode_span(ep), *(figures.show(ep, f) for f in figures.EPISODE_FIGURES)]
                             for ep in episodes]}


def _replica_rows(summary: dict[str, Any]) -> dict[str, Any] | None:
    """A fleet's run: how it knew each request's replica, the imbalance, one row per replica (None: one server)."""
    rows = [r for r in summary.get("replicas") or [] if isinstance(r, dict)]
    if not rows:
        return None
    imb = summary.get("imbalance") or {}
    return {"source": figures.replica_source(summary),
            "imbalance": [[f.label, figures.show(imb, f)] for f in figures.IMBALANCE_FIGURES],
            "labels": [f.label for f in figures.REPLICA_FIGURES],
            "rows": [[str(r.get("replica")), *(figures.show(r, f) for f in figures.REPLICA_FIGURES)] for r in rows]}


def describe_target(summary: dict[str, Any]) -> list[list[str]]:
    """What the run ran against, as label/value rows."""
    t = summary.get("target") or {}
    rows = [["kind", t.get("kind")], ["engine", t.get("engine")], ["model", t.get("model")],
            ["URL", t.get("url")], ["router", t.get("router")], ["max model length", t.get("max_model_len")],
            ["KV capacity (tokens)", t.get("kv_capacity_tokens")], ["KV blocks", t.get("kv_blocks")],
            ["block size", t.get("block_size")], ["endpoints", len(t.get("endpoints") or []) or None]]
    return [[k, str(v)] for k, v in rows if v not in (None, "")]


def run_view(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """One run's page data (module doc) from its directory and its summary (as `report` loads it)."""
    run_dir = Path(run_dir)
    records, samples = load_records(run_dir)
    sent_records, _unsent = split_unsent(records)
    a = per_request(sent_records)
    ok = a["outcome"] == OK
    pick = sample_indices(a["outcome"])
    _gap_t, gaps = chunk_gaps(sent_records, ok)
    values = {"ttft_s": a["ttft"][ok], "tpot_s": a["tpot"][ok], "itl_s": gaps, "e2e_s": a["e2e"][ok]}
    preset = run_dir / recorder.PRESET
    return {
        "name": summary.get("name") or run_dir.name,
        "run_dir": str(run_dir),
        "started_at": summary.get("started_at"),
        "complete": bool(summary.get("complete", True)),
        "reason": summary.get("reason"),
        "counts": {k: summary.get(k) for k in ("sent", "finished", "failed", "cancelled", "lost_in_flight",
                                               "not_sent")},
        "failures_by_class": summary.get("failures_by_class") or {},
        "figures": _figure_rows(summary),
        "burst": _burst_rows(summary),
        "replicas": _replica_rows(summary),
        "target": describe_target(summary),
        "preset": preset.read_text(encoding="utf-8", errors="replace") if preset.is_file() else None,
        "story": story(records, samples),
        "points": {
            "t": json_floats(a["scheduled"][pick], 4),
            "ttft_s": json_floats(a["ttft"][pick]),
            "e2e_s": json_floats(a["e2e"][pick]),
            "outcome": [str(o) for o in a["outcome"][pick]],
            "of": int(a["outcome"].size),
        },
        "cdfs": {key: {"label": label, **cdf(values[key])} for key, label in CDFS},
    }
