"""Fixtures for the studio's tests: a config in a temporary folder, frozen cursor blink, no animations."""

from __future__ import annotations

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


def make_run(runs_dir: Path, name: str, *, requests: int = 1200, failed_share: float = 0.03,
             slowdown: float = 1.0, reason: str = "done", not_sent: int = 0, target: dict | None = None,
             episodes: list[tuple[float, float]] | None = None) -> Path:
    """A run directory with a real journal, summarised by the engine's own code (so the studio reads what a run
    writes). Deterministic: a fixed-seed schedule with bursts, latencies that grow in them, and failures as a
    full queue and timeouts leave them; `slowdown` stretches the latencies, `failed_share` sets the failures.
    `reason` is how it ended, `not_sent` how many planned requests it never sent (a stopped run), `episodes` the
    burst episodes its summary lists (summary["burst"]["episodes"], in run seconds)."""
    import numpy as np

    from burststudio import rundir
    from burststudio.replay import recorder

    rng = np.random.default_rng(7)
    d = runs_dir / name
    rec = recorder.Recorder(d)
    arrivals = np.sort(rng.uniform(0, 400, requests))
    arrivals[: requests // 4] = np.sort(rng.uniform(100, 120, requests // 4))  # one burst
    arrivals.sort()
    in_burst = (arrivals >= 100) & (arrivals < 130)
    for i, t in enumerate(arrivals):
        ttft = slowdown * (0.1 + rng.exponential(0.4 if in_burst[i] else 0.05))
        gaps = slowdown * rng.uniform(0.015, 0.025, 63)
        failed = rng.uniform() < failed_share
        outcome = ("http_503" if rng.uniform() < 0.75 else "timeout") if failed else "ok"
        chunks = [] if failed else list((np.cumsum(np.r_[ttft, gaps]) * 1e6).astype(int))
        end = t + (chunks[-1] / 1e6 if chunks else 0.01)
        r = {"i": i, "row": i, "outcome": outcome, "status": 503 if outcome == "http_503" else 200,
             "scheduled_s": float(t), "sent_s": float(t) + 0.0003, "first_s": None if failed else float(t + ttft),
             "end_s": float(end), "chunks_us": [int(c) for c in chunks], "prompt_tokens": 100, "output_tokens": 64,
             "usage_prompt_tokens": None if failed else 100, "usage_completion_tokens": None if failed else 64,
             "chunk_tokens": len(chunks), "error": None, "timeout": "first_token" if outcome == "timeout" else None,
             "retry_after": None}
        rec.sent(i, r["sent_s"])
        rec.ended(r)
    samples = [{"t": float(t), "kv_cache_usage": float(min(1.0, 0.2 + 0.8 * ((t >= 100) & (t < 130)))),
                "running": 8, "waiting": int(14 * ((t >= 100) & (t < 130))), "preemptions_total": int(t // 130)}
               for t in np.arange(0, 400, 0.5)]
    for smp in samples:
        rec.sample(smp)
    rec.write_run_info({"format": 1, "name": name, "complete": True, "reason": reason,
                        "target": target or {"kind": "sim", "url": "", "model": "sim"},
                        "plan": {"planned": requests + not_sent},
                        "settings": {"slo_ttft_s": 0.5, "slo_tpot_s": 0.05, "burst_window_s": 10.0,
                                     "burst_rate_factor": 2.0}})
    rec.close()
    summary = rundir.build_summary(d, write=True)
    if episodes is not None:
        summary["burst"]["episodes"] = [{"start_s": a, "end_s": b} for a, b in episodes]
        rundir.write_summary(d, summary)
    return d


def make_startup_run(runs_dir: Path, name: str) -> Path:
    """What a run stopped while its vLLM was starting leaves: the folder and the server's log, nothing else."""
    d = runs_dir / name
    d.mkdir(parents=True)
    (d / "vllm.log").write_text("# vllm serve tiny --port 41234\nINFO loading weights\n")
    return d


@pytest.fixture
def studio_config(tmp_path: Path) -> StudioConfig:
    for sub in ("traces", "presets", "runs"):
        (tmp_path / sub).mkdir()
    # A small preview keeps the tests fast; the figures are still stable for a fixed seed.
    return StudioConfig(root=tmp_path, preview_requests=5_000, seed=0)
