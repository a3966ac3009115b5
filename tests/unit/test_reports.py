"""The shared reports' data and files: the time line's bins and percentiles, the sampled points, the CDFs, the CSV
tables, the page's self-containment, and `report`'s arguments and errors (the browser test opens the pages)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from burststudio.replay import timeline
from burststudio.reports.csv_tables import flatten
from burststudio.reports.run_view import MAX_POINTS, MIN_POINTS_PER_OUTCOME, cdf, sample_indices

ROOT = Path(__file__).resolve().parents[2]


def bs(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burststudio", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def record(i: int, sent: float, ttft: float, outcome: str = "ok", gaps=(0.01, 0.01)) -> dict:
    chunks = [] if outcome != "ok" else list((np.cumsum([ttft, *gaps]) * 1e6).astype(int))
    return {"i": i, "row": i, "outcome": outcome, "scheduled_s": sent, "sent_s": sent,
            "first_s": sent + ttft if outcome == "ok" else None,
            "end_s": sent + (chunks[-1] / 1e6 if chunks else 0.02), "chunks_us": [int(c) for c in chunks],
            "usage_completion_tokens": len(chunks) or None, "chunk_tokens": len(chunks)}


def test_bins_are_round_and_bounded():
    assert timeline.bin_width(10) == 0.05
    assert timeline.bin_width(3600) == 10
    assert timeline.bin_width(60 * 86400) == 10800
    for span in (0.3, 17, 999, 86400 * 3, 1e9):
        assert span / timeline.bin_width(span) <= timeline.MAX_BINS


def test_each_bin_holds_the_exact_percentiles_of_its_requests():
    # 40 requests in [0, 10) with TTFT 0.1..0.4 and 40 in [10, 20) with TTFT 1..4: every bin's p50/p99 is that of
    # its own requests, and a failure counts as a failure in the bin it ended in.
    recs = [record(i, i * 0.25, 0.1 + 0.3 * (i % 4) / 3) for i in range(40)]
    recs += [record(40 + i, 10 + i * 0.25, 1 + 3 * (i % 4) / 3) for i in range(40)]
    recs += [record(80, 15.0, 0, outcome="http_503")]
    s = timeline.story(recs)
    w = s["bin_s"]
    assert s["t"][1] - s["t"][0] == pytest.approx(w)
    t = np.array(s["t"])
    for lo, hi, vals in ((0, 10, [0.1, 0.2, 0.3, 0.4]), (10, 20, [1, 2, 3, 4])):
        for b in np.flatnonzero((t >= lo) & (t + w <= hi)):
            inside = [r for r in recs if r["outcome"] == "ok" and t[b] <= r["sent_s"] < t[b] + w]
            if not inside:
                assert s["ttft_p50_s"][b] is None
                continue
            ttfts = [r["first_s"] - r["sent_s"] for r in inside]
            assert s["ttft_p50_s"][b] == pytest.approx(np.quantile(ttfts, 0.5), abs=1e-6)
            assert s["ttft_p99_s"][b] == pytest.approx(np.quantile(ttfts, 0.99), abs=1e-6)
            assert min(vals) - 1e-6 <= s["ttft_p50_s"][b] <= max(vals) + 1e-6
    assert sum(s["sent_per_s"]) * w == pytest.approx(81)
    assert sum(s["finished_per_s"]) * w == pytest.approx(80)
    assert sum(s["failures_per_s"]["http_503"]) * w == pytest.approx(1)
    assert list(s["failures_per_s"]) == ["http_503"]
    # ITL: every gap is 10 ms.
    assert {round(v, 6) for v in s["itl_p50_s"] if v is not None} == {0.01}


def test_gauges_carry_over_empty_bins_and_counters_become_rates():
    # Samples every 0.2 s up to 1 s, then none until 5 s (a scrape that stalled).
    samples = [{"t": k * 0.2, "kv_cache_usage": 0.1 * k, "preemptions_total": 2 * (k == 5)} for k in range(6)]
    samples.append({"t": 5.0, "kv_cache_usage": 0.9, "preemptions_total": 10})
    s = timeline.story([record(0, 0.0, 0.1), record(1, 5.0, 0.1)], samples)
    kv = np.array(s["server"]["kv_cache_usage"], dtype=float)
    t = np.array(s["t"])
    assert not np.isnan(kv[t <= 5]).any()  # no gaps between samples
    assert kv[(t >= 1) & (t < 5 - s["bin_s"])].max() == pytest.approx(0.5)
    assert np.nanmax(kv) == pytest.approx(0.9)
    assert sum(s["server"]["preemptions_total"]) * s["bin_s"] == pytest.approx(10)


def test_a_fleets_server_series_are_the_fleets():
    # Two replicas sampled together every 0.5 s; replica 1's counter counted 100 before the run.
    samples = []
    for k in range(9):
        samples.append({"t": k * 0.5, "replica": "0", "kv_cache_usage": 0.2, "waiting": 1, "preemptions_total": k})
        samples.append({"t": k * 0.5 + 0.01, "replica": "1", "kv_cache_usage": 0.6, "waiting": 2,
                        "preemptions_total": 100})
    s = timeline.story([record(0, 0.0, 0.1), record(1, 4.0, 0.1)], samples)
    assert s["bin_s"] >= 0.5  # one replica's interval, not the gap between two replicas' samples
    server = s["server"]
    assert np.nanmax(np.array(server["kv_cache_usage"], dtype=float)) == pytest.approx(0.6)  # the fullest replica
    assert np.nanmax(np.array(server["waiting"], dtype=float)) == pytest.approx(3)  # the sum
    assert sum(server["preemptions_total"]) * s["bin_s"] == pytest.approx(8)  # replica 0's 8, nothing between them
    # And each replica's own, for the report's panel per replica.
    own = s["replicas"]
    assert sorted(own) == ["0", "1"]
    assert np.nanmax(np.array(own["0"]["kv_cache_usage"], dtype=float)) == pytest.approx(0.2)
    assert np.nanmax(np.array(own["1"]["waiting"], dtype=float)) == pytest.approx(2)
    assert timeline.story([record(0, 0.0, 0.1)], samples[::2])["replicas"] == {}  # one server: no panels


def test_points_keep_every_outcome_and_stay_bounded():
    outcome = np.array(["ok"] * 100_000 + ["timeout"] * 30 + ["http_503"] * 5000, dtype=object)
    pick = sample_indices(outcome)
    assert len(pick) <= MAX_POINTS + 2 * MIN_POINTS_PER_OUTCOME
    kinds, counts = np.unique(outcome[pick], return_counts=True)
    got = dict(zip(kinds, counts))
    assert got["timeout"] == 30  # a rare class is kept whole
    assert got["http_503"] >= MIN_POINTS_PER_OUTCOME
    assert np.all(np.diff(pick) > 0)
    assert len(sample_indices(outcome[:500])) == 500


def test_cdf_is_exact_quantiles():
    v = np.random.default_rng(1).exponential(0.2, 10_001)
    c = cdf(np.r_[v, np.nan])
    assert c["y"][0] == 0 and c["y"][-1] == 1
    assert c["x"][100] == pytest.approx(np.quantile(v, 0.5), rel=1e-5)
    assert c["x"][-1] == pytest.approx(v.max(), rel=1e-5)
    assert cdf(np.array([]))["x"] == []


def test_flatten_keeps_paths_and_lists():
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "e": [{"start_s": 1}], "n": None})
    assert flat == {"a.b": 1, "a.c": "1;2", "e.0.start_s": 1, "n": None}


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("reports")
    r = bs("simulate", str(ROOT / "presets" / "vllm-cpu-kv-pressure.toml"), "--out", str(d / "sim"))
    assert r.returncode == 0, r.stderr
    return d / "sim"


def test_html_is_self_contained(sim_run, tmp_path):
    out = tmp_path / "page.html"
    r = bs("report", str(sim_run), "--html", str(out))
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stderr
    text = out.read_text(encoding="utf-8")
    # No script, style, image or font from anywhere: every src/href is inline or a fragment.
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)\s*=""", text)
    assert "@import" not in text and "url(http" not in text
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text,
                                re.S).group(1).replace("<\\/", "</"))
    summary = json.loads((sim_run / "summary.json").read_text())
    run = data["runs"][0]
    assert run["counts"]["sent"] == summary["sent"]
    from burststudio import figures

    assert dict(run["figures"])["TTFT p99 ms"] == figures.show(summary, figures.BY_KEY["ttft_p99"])
    assert run["cdfs"]["ttft_s"]["x"][-1] == pytest.approx(summary["ttft_s"]["max"], rel=1e-5)
    assert "kv_cache_usage" in run["story"]["server"]


def test_csv_tables(sim_run, tmp_path):
    r = bs("report", str(sim_run), str(sim_run), "--csv", str(tmp_path / "csv"))
    assert r.returncode == 0, r.stderr
    summary = json.loads((sim_run / "summary.json").read_text())
    with open(tmp_path / "csv" / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * summary["sent"]
    assert {row["run"] for row in rows} == {f"0:{summary['name']}", f"1:{summary['name']}"}
    ok = [row for row in rows if row["outcome"] == "ok"]
    assert len(ok) == 2 * summary["finished"]
    assert all(len(row["chunks_us"].split()) > 1 for row in ok)
    with open(tmp_path / "csv" / "summary.csv", newline="") as f:
        table = {row[0]: row[1:] for row in csv.reader(f)}
    assert float(table["ttft_s.p99"][0]) == pytest.approx(summary["ttft_s"]["p99"])
    assert table["sent"] == [str(summary["sent"])] * 2


def test_png_figures(sim_run, tmp_path):
    r = bs("report", str(sim_run), "--png", str(tmp_path / "png"))
    assert r.returncode == 0, r.stderr
    from tests.support.browser import distinct_pixels

    for name in ("story.png", "cdfs.png", "requests.png"):
        png = (tmp_path / "png" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert distinct_pixels(png) > 50


def test_report_errors_are_one_line(sim_run, tmp_path):
    r = bs("report", str(tmp_path / "nope"), "--html", str(tmp_path / "x.html"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = bs("report", str(sim_run), "--html", str(tmp_path / "no-such-dir" / "x.html"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "cannot write the report" in r.stderr
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("[1, 2]")
    r = bs("report", str(sweep), "--html", str(tmp_path / "s.html"))
    assert r.returncode == 2 and "sweep.json" in r.stderr and "Traceback" not in r.stderr
