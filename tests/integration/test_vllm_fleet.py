"""One fleet start: two CPU vLLM replicas behind the real vllm-router (presets/vllm-cpu-fleet.toml), a short
burst through it, one row per replica, every log in the run directory, and no process left after the run.

The start-up time and the fleet's memory are printed (`pytest -s`) for docs/performance.md."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from burststudio.presets import load_preset
from burststudio.replay.runner import run_replay
from burststudio.targets import make_target
from burststudio.targets.supervise import group_members

from managed_vllm import requires_vllm

PRESET = Path(__file__).resolve().parents[2] / "presets" / "vllm-cpu-fleet.toml"

requires_router = pytest.mark.skipif(importlib.util.find_spec("vllm_router") is None,
                                     reason="vllm-router is not installed (`make test` installs it)")


def _rss_mib(pgids: list[int]) -> float:
    total = 0
    for pgid in pgids:
        for pid in group_members(pgid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
    return total / 1024


@requires_vllm
@requires_router
def test_two_replicas_behind_the_router(tmp_path):
    preset = load_preset(PRESET)
    preset.replay.duration_s = 8.0  # the calm start and the first burst
    workload = preset.build_workload()
    fleet = make_target(preset.target)
    run_dir = tmp_path / "run"
    t0 = time.monotonic()
    fleet.start(run_dir)
    pgids: list[int] = []
    try:
        fleet.wait_healthy(preset.target.vllm.startup_timeout_s)
        startup_s = time.monotonic() - t0
        pgids = [m.pgid for m in fleet.members] + [fleet.front._supervised.proc.pid]
        rss = _rss_mib(pgids)
        print(f"\nfleet of 2 CPU replicas + router: healthy in {startup_s:.1f} s, {rss:.0f} MiB resident")

        result = run_replay(workload, preset.target, preset.replay, name=preset.name, run_dir=run_dir / "replay",
                            target=_Lent(fleet))
    finally:
        fleet.stop()
    for pgid in pgids:
        assert group_members(pgid) == [], "the fleet left processes behind"
    s = result.summary
    assert s["sent"] == s["plan"]["planned"] and s["sent"] == s["finished"] + s["failed"] + s["cancelled"]
    assert s["replica_source"] == "counters"
    rows = {r["replica"]: r for r in s["replicas"]}
    assert set(rows) == {"0", "1"}
    assert all(r["requests"] > 0 for r in rows.values()), rows  # the router used both
    assert s["imbalance"]["overall"] is not None and s["imbalance"]["overall"] < 1.5
    assert (run_dir / "router.log").exists()
    assert (run_dir / "replica-0" / "vllm.log").exists() and (run_dir / "replica-1" / "vllm.log").exists()


class _Lent:
    """The started fleet lent to one replay (its start is done; the test stops it)."""

    def __init__(self, fleet):
        self._fleet = fleet
        self.kind = fleet.kind
        self.members, self.names, self.front = fleet.members, fleet.names, fleet.front
        self.client_routes = fleet.client_routes

    url = property(lambda self: self._fleet.url)

    def start(self, run_dir=None, progress=None):
        pass

    def wait_healthy(self, timeout_s):
        pass

    def describe(self):
        return self._fleet.describe()

    def alive(self):
        return self._fleet.alive()

    def api_key(self):
        return None

    def stop(self):
        pass
