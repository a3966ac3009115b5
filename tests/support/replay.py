"""Helpers of the replay tests: small workloads, presets that point at the test server, quick settings."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from burststudio.settings import ReplaySettings, TargetSettings  # noqa: E402
from burststudio.workload.model import Workload  # noqa: E402


def workload(n: int = 20, gap_s: float = 0.01, prompt: int | list[int] = 20, output: int | list[int] = 4,
             **optional) -> Workload:
    p = np.full(n, prompt) if np.isscalar(prompt) else np.asarray(prompt)
    o = np.full(n, output) if np.isscalar(output) else np.asarray(output)
    return Workload.from_columns(np.arange(n) * gap_s, p, o, **optional)


def quick_settings(**changes) -> ReplaySettings:
    rs = ReplaySettings(scrape_interval_s=0.1)
    rs.timeouts.first_token_s = 0.5
    rs.timeouts.idle_s = 0.3
    rs.timeouts.connect_s = 1.0
    for k, v in changes.items():
        setattr(rs, k, v)
    return rs


def replay(w: Workload, url: str, run_dir: Path, settings: ReplaySettings | None = None, **kw):
    from burststudio.replay.runner import run_replay

    return run_replay(w, TargetSettings(), settings or quick_settings(), name="test", target_url=url,
                      run_dir=run_dir, **kw)


def write_preset(path: Path, trace: Path, url: str, replay_lines: str = "") -> Path:
    path.write_text(
        f'[workload]\ntrace = "{trace}"\n\n[target]\nkind = "url"\nurl = "{url}"\n\n'
        f"[replay]\nscrape_interval_s = 0.1\n{replay_lines}\n"
        "[replay.timeouts]\nfirst_token_s = 2.0\nidle_s = 1.0\nconnect_s = 1.0\n",
        encoding="utf-8")
    return path
