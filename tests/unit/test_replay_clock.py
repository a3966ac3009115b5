"""A replay keeps the workload's clock: the first request leaves at its own time, not at 0, so the live charts and
the run directory line up with the preview."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, replay  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay.plan import build_plan  # noqa: E402
from burststudio.replay.recorder import read_journal  # noqa: E402
from burststudio.workload.model import Workload  # noqa: E402
from burststudio.workload.transform_spec import TransformSpec  # noqa: E402


def late_start(n=10, first_s=1.5, gap_s=0.05) -> Workload:
    return Workload.from_columns(first_s + np.arange(n) * gap_s, np.full(n, 20), np.full(n, 4))


def test_the_plan_and_the_duration_keep_the_leading_idle_time():
    w = late_start()
    plan = build_plan(w, quick_settings(), model="m", vocab_size=100)
    assert plan.scheduled_s[0] == pytest.approx(1.5)
    # The first 1.7 s of the workload are its requests at 1.5-1.65 s, where the preview shows them.
    cut = TransformSpec(duration_s=1.7).apply(w)
    assert len(cut) == 4 and cut.arrival_s[0] == pytest.approx(1.5)


def test_a_replay_sends_the_first_request_at_its_workload_time(tmp_path):
    with TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.001)) as srv:
        result = replay(late_start(), srv.url, tmp_path / "run")
    records, _ = read_journal(tmp_path / "run")
    first = min(records, key=lambda r: r["scheduled_s"])
    assert first["scheduled_s"] == pytest.approx(1.5)
    assert first["sent_s"] == pytest.approx(1.5, abs=0.05)
    # The figures stay right: the rate is over first to last send, and the idle lead is no lateness.
    assert result.summary["throughput"]["sent_per_s"] == pytest.approx(20.0, rel=0.1)
    assert result.summary["dispatch_lateness_s"]["p50"] < 0.01
