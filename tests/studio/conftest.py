"""Fixtures for the studio's tests: a config in a temporary folder, frozen cursor blink, no animations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input

from burststudio.studio.config import StudioConfig


@pytest.fixture(autouse=True)
def _steady_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Input cursor blinks on the wall clock: freeze it, and draw without animations, so snapshots repeat.
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.delenv("NO_COLOR", raising=False)


SUMMARY = {
    "sent": 1200, "finished": 1150, "failed": 40, "cancelled": 10,
    "failures_by_class": {"http_503": 30, "timeout": 10},
    "ttft_s": {"mean": 0.2, "p50": 0.12, "p90": 0.4, "p99": 0.9, "max": 1.5},
    "itl_s": {"mean": 0.02, "p50": 0.018, "p90": 0.03, "p99": 0.06, "max": 0.2},
    "tpot_s": {"mean": 0.02, "p50": 0.019, "p90": 0.03, "p99": 0.05, "max": 0.1},
    "e2e_s": {"mean": 1.2, "p50": 1.0, "p90": 2.0, "p99": 3.5, "max": 5.0},
    "dispatch_lateness_s": {"mean": 0.0004, "p50": 0.0003, "p90": 0.0008, "p99": 0.0012, "max": 0.003},
    "throughput": {"requests_per_s": 9.6, "output_tokens_per_s": 610.0},
    "goodput": {"share": 0.87}, "kv_cache_usage_peak": 0.98, "waiting_peak": 14, "preemptions": 3,
    "burst": {"window_s": 10.0, "top_share": 0.05,
              "busy": {"windows": 2, "requests": 300, "rate_rps": 15.0, "failed": 30, "failed_share": 0.1,
                       "ttft_s": {"p50": 0.4, "p99": 1.4}, "e2e_s": {"p50": 2.0, "p99": 4.5},
                       "tpot_s": {"p50": 0.03, "p99": 0.08}},
              "calm": {"windows": 38, "requests": 900, "rate_rps": 2.4, "failed": 10, "failed_share": 0.011,
                       "ttft_s": {"p50": 0.1, "p99": 0.5}, "e2e_s": {"p50": 0.9, "p99": 2.5},
                       "tpot_s": {"p50": 0.018, "p99": 0.04}}},
}


def make_run(runs_dir: Path, name: str, **changes) -> Path:
    d = runs_dir / name
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({**SUMMARY, **changes}))
    return d


@pytest.fixture
def studio_config(tmp_path: Path) -> StudioConfig:
    for sub in ("traces", "presets", "runs"):
        (tmp_path / sub).mkdir()
    # A small preview keeps the tests fast; the figures are still stable for a fixed seed.
    return StudioConfig(root=tmp_path, preview_requests=5_000, seed=0)
