"""`burststudio calibrate` against the session's real vLLM: one quick calibration, its profile usable by the simulator."""

from __future__ import annotations

from burststudio.cli import main
from burststudio.settings import SimSettings
from burststudio.targets.sim.costmodel import CostProfile
from burststudio.targets.sim.engine import simulate


def test_quick_calibration_of_the_real_engine(vllm_server, tmp_path, capsys):
    out = tmp_path / "cpu.json"
    code = main(["calibrate", "--target", vllm_server.url, "--out", str(out), "--quick", "--max-batch", "4"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"wrote {out}" in captured.out
    p = CostProfile.load(out)
    # The session's server has 16 blocks of 128 tokens: the profile says what it was measured on.
    assert p.suggested["num_blocks"] == 16 and p.suggested["block_size"] == 128
    assert any("engine-timed histograms" in s for s in p.sources), p.sources
    # Plausible for a 2-layer model on a CPU, loaded or not: steps of a few ms, a first token within 0.2 s.
    assert 2e-4 < p.step_time(0, 4, 4 * 200) < 5e-2
    assert p.step_time(0, 4, 4 * 200) >= p.step_time(0, 1, 200)
    path = p.request_overhead_s + p.api_request_s - p.api_after_s + p.api_token_s
    ttft = path + p.step_time(200, 0, 0, 200 * 201 // 2, 1)
    assert 1e-3 < ttft < 0.2 and 0 <= p.api_after_s <= p.api_request_s
    # Waking up after idle: one point per idle time of the quick plan, the shortest the baseline.
    assert [g for g, _ in p.wake_s] == [0.01, 0.1, 1.0] and p.wake_s[0][1] == 0.0
    assert all(0 <= x < 0.1 for _, x in p.wake_s) and any("wake-up" in s for s in p.sources)
    # The API server's CPU time comes off its own /metrics: a request costs it something, a token less than a request.
    assert any("process_cpu_seconds_total" in s for s in p.sources), p.sources
    assert 0 < p.api_request_s < 0.1 and p.api_token_s < p.api_request_s
    # And the simulator takes it.
    res = simulate([0.0, 0.1], [200, 300], [20, 20], SimSettings(profile=str(out)))
    assert [r.outcome for r in res.requests] == ["ok", "ok"]
