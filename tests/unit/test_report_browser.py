"""The HTML report in a real browser: headless Chromium opens the page of a real run (replayed over HTTP against the
test server, or simulated), of a run killed mid-way, of a run of only failures, of several runs and of a sweep; the
page asks the network for nothing, logs no error, draws every panel, and its screenshot is not blank."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.browser import SKIP_REASON, distinct_pixels, find_chromium, open_page
from tests.support.replay import quick_settings, replay, workload
from tests.testserver import ServerConfig, TestServer

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(find_chromium() is None, reason=SKIP_REASON)]

ROOT = Path(__file__).resolve().parents[2]
PANELS = ("Request rate: scheduled, sent, finished", "TTFT p50 and p99", "ITL p50 and p99", "KV cache usage",
          "Running and waiting", "Preemptions and rejections", "Failures by class", "Dispatch lateness p99",
          "TTFT of each request", "E2E of each request", "TTFT distribution", "TPOT distribution",
          "ITL distribution", "E2E distribution")
PROBES = {
    "drawn": "document.body.getAttribute('data-drawn')",
    "titles": "[...document.querySelectorAll('h3')].map(h => h.textContent)",
    # Each chart element holds a drawn canvas, or says why it has nothing to draw.
    "charts": "[...document.querySelectorAll('.chart')].map(c => [c.id, (c.querySelector('canvas') || {}).width || 0,"
              " c.textContent.startsWith('no ') ? c.textContent : ''])",
    "visible_titles": "[...document.querySelectorAll('h3')].filter(h => h.getBoundingClientRect().height > 0)"
                      ".map(h => h.textContent)",
}


def bs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "burststudio", *args], capture_output=True, text=True, timeout=300)


def html_of(tmp_path: Path, *runs: Path) -> Path:
    out = tmp_path / "report.html"
    r = bs("report", *map(str, runs), "--html", str(out))
    assert r.returncode == 0, r.stderr
    return out


def check_page(page: Path, *, want_canvas: tuple[str, ...] = ()) -> dict:
    load = open_page(page, PROBES)
    assert load.errors == []
    assert load.requests == [page.resolve().as_uri()]  # the page itself, nothing else
    assert load.values["drawn"] == "1"
    for title in PANELS:
        assert title in load.values["visible_titles"], title
    drawn = {cid: (width, why) for cid, width, why in load.values["charts"]}
    for cid, (width, why) in drawn.items():
        assert width > 0 or why, f"{cid} drew nothing and said nothing"
    for cid in want_canvas:
        assert drawn[cid][0] > 0, cid
    assert distinct_pixels(load.screenshot) > 200
    return load.values


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("browser")
    out: dict[str, Path] = {}
    with TestServer(ServerConfig(ttft_s=0.02, token_delay_s=0.002)) as srv:
        res = replay(workload(60, gap_s=0.01, output=8), srv.url, d / "http", quick_settings())
        assert res.summary["finished"] == 60
        out["http"] = d / "http"
    with TestServer(ServerConfig(fault="http_503")) as srv:
        res = replay(workload(30, gap_s=0.01), srv.url, d / "failing", quick_settings())
        assert res.summary["failed"] == 30
        out["failing"] = d / "failing"
    r = bs("simulate", str(ROOT / "presets" / "vllm-cpu-kv-pressure.toml"), "--out", str(d / "sim"))
    assert r.returncode == 0, r.stderr
    out["sim"] = d / "sim"
    # What a SIGKILL leaves: a journal cut mid-line, run.json still saying the run goes on, no summary.
    killed = d / "killed"
    r = bs("simulate", str(ROOT / "presets" / "vllm-cpu-kv-pressure.toml"), "--out", str(killed))
    assert r.returncode == 0, r.stderr
    journal = (killed / "journal.jsonl").read_bytes()
    (killed / "journal.jsonl").write_bytes(journal[: len(journal) // 2])
    info = json.loads((killed / "run.json").read_text())
    info["complete"] = False
    (killed / "run.json").write_text(json.dumps(info))
    for name in ("summary.json", "requests.parquet", "metrics.parquet"):
        (killed / name).unlink()
    out["killed"] = killed
    return out


def test_page_of_a_replayed_run(runs, tmp_path):
    check_page(html_of(tmp_path, runs["http"]),
               want_canvas=("chart-rate", "chart-ttft", "chart-itl", "chart-scatter-ttft", "chart-cdf-ttft_s"))


def test_page_of_a_simulated_run_shows_the_server(runs, tmp_path):
    check_page(html_of(tmp_path, runs["sim"]), want_canvas=("chart-kv", "chart-queue", "chart-preempt",
                                                           "chart-failures"))


def test_page_of_a_killed_run(runs, tmp_path):
    page = html_of(tmp_path, runs["killed"])
    assert "rebuilt from its journal" in page.read_text()
    check_page(page, want_canvas=("chart-rate", "chart-ttft"))


def test_page_of_a_run_of_only_failures(runs, tmp_path):
    page = html_of(tmp_path, runs["failing"])
    values = check_page(page, want_canvas=("chart-failures", "chart-rate"))
    said = {cid: why for cid, _w, why in values["charts"]}
    assert said["chart-cdf-ttft_s"].startswith("no ")


def test_page_of_several_runs(runs, tmp_path):
    page = html_of(tmp_path, runs["sim"], runs["http"])
    text = page.read_text()
    assert "0: vllm-cpu-kv-pressure" in text and "1: test" in text and "vs 0:" in text
    check_page(page, want_canvas=("chart-rate", "chart-cdf-ttft_s"))


def test_page_of_a_sweep(tmp_path):
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.001)) as srv:
        r = bs("sweep", str(ROOT / "presets" / "steady-poisson.toml"), "--rate-scale", "0.5,1", "--duration", "2",
               "--target", srv.url, "--out", str(tmp_path / "sweep"))
    assert r.returncode == 0, r.stderr
    page = html_of(tmp_path, tmp_path / "sweep")
    values = check_page(page, want_canvas=("chart-knee",))
    assert "Goodput and TTFT against the rate scale" in values["titles"]


def test_page_of_a_fleet_has_a_panel_per_replica(tmp_path):
    """A simulated two-replica fleet (the run format a real fleet writes): the Replicas table, then each replica's
    own KV cache and queue over time, drawn."""
    run = tmp_path / "fleet"
    r = bs("simulate", str(ROOT / "presets" / "vllm-cpu-fleet.toml"), "--out", str(run))
    assert r.returncode == 0, r.stderr
    page = html_of(tmp_path, run)
    values = check_page(page, want_canvas=tuple(f"chart-rep-0-{k}-{what}" for k in (0, 1)
                                                for what in ("kv", "queue")))
    for name in ("0", "1"):
        assert f"replica {name}: KV cache usage" in values["visible_titles"]
        assert f"replica {name}: running and waiting" in values["visible_titles"]
