"""Calibration: the fit recovers known coefficients from synthetic timings, the observations are read off streams
as the engine makes them, the measurement plan respects the server's limits, and the command fails in one line."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from burststudio.cli import main
from burststudio.settings import SimSettings
from burststudio.targets.sim import calibrate as cal
from burststudio.targets.sim import measure
from burststudio.targets.sim.costmodel import CostProfile
from burststudio.targets.sim.engine import simulate

ROOT = Path(__file__).resolve().parents[2]
TRUE = CostProfile(name="truth", base_s=1.2e-3, prefill_token_s=1.4e-5, prefill_attn_s=2.0e-9, prefill_seq_s=2.5e-3,
                   decode_seq_s=6.0e-5,
                   context_token_s=3.0e-7, request_overhead_s=5.0e-3)


def synthetic(profile: CostProfile, noise: float, seed: int, outliers: int = 0) -> list[cal.Observation]:
    rng = random.Random(seed)
    obs = []
    for L in (16, 100, 200, 300, 400, 510):
        for _ in range(5):
            obs.append(cal.prefill_observation(L, 1.0))
            obs.append(cal.Observation("prefill_step", 1.0, prefill_tokens=L, prefill_attn=L * (L + 1) // 2))
    for b in (1, 2, 4, 6, 8):
        for p in (32, 400):
            for k in (8, 24, 40):
                obs.append(cal.Observation("decode", 1.0, decode_seqs=b, context_tokens=b * (p + k)))
    timed = [cal.Observation(o.kind, cal.predict(profile, o) * (1 + rng.gauss(0, noise)), o.prefill_tokens,
                             o.prefill_attn, o.decode_seqs, o.context_tokens, o.overhead) for o in obs]
    for i in rng.sample(range(len(timed)), outliers):
        o = timed[i]
        timed[i] = cal.Observation(o.kind, o.seconds * 4, o.prefill_tokens, o.prefill_attn, o.decode_seqs,
                                   o.context_tokens, o.overhead)
    return timed


def test_fit_recovers_exact_coefficients_from_noiseless_timings():
    profile, report = cal.fit_profile(synthetic(TRUE, 0.0, 0), name="fitted")
    for term in cal.TERMS:
        assert getattr(profile, term) == pytest.approx(getattr(TRUE, term), rel=1e-3, abs=1e-12), term
    assert max(report.rel_error_median.values()) < 1e-3
    assert profile.name == "fitted"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_predicts_within_noise_and_shrugs_off_a_few_slow_outliers(seed):
    obs = synthetic(TRUE, 0.03, seed, outliers=4)
    profile, report = cal.fit_profile(obs)
    # The terms that carry most of the time come back close; prediction error stays near the noise.
    for term in ("base_s", "prefill_token_s", "decode_seq_s", "request_overhead_s"):
        assert getattr(profile, term) == pytest.approx(getattr(TRUE, term), rel=0.25), term
    for kind in ("prefill", "decode"):
        assert report.rel_error_median[kind] < 0.04
    for o in synthetic(TRUE, 0.0, 0):
        assert cal.predict(profile, o) == pytest.approx(cal.predict(TRUE, o), rel=0.06)


def test_fit_keeps_every_coefficient_non_negative():
    # Times that fall with context length would want a negative context cost: it is held at zero.
    obs = [cal.prefill_observation(L, 0.005 + 1e-5 * L) for L in (16, 200, 400)]
    obs += [cal.Observation("decode", 0.003 - 1e-7 * c, decode_seqs=4, context_tokens=c) for c in (200, 800, 1600)]
    profile, _ = cal.fit_profile(obs)
    assert all(getattr(profile, t) >= 0 for t in cal.TERMS)
    assert profile.context_token_s == 0
    assert profile.base_s > 0


def test_fit_needs_both_kinds_of_measurement():
    with pytest.raises(cal.CalibrationError, match="decode"):
        cal.fit_profile([cal.prefill_observation(100, 0.01)])


def test_decode_observations_from_the_simulated_engine_give_back_its_step_times():
    # A batch run through the engine with token times recorded is what the client sees of a real one.
    b, p, n = 4, 64, 40
    res = simulate([0.0] * b, [p] * b, [n] * b, SimSettings(num_blocks=64, max_num_seqs=8), TRUE, record_tokens=True,
                   fast=False)
    streams = [[(t, k + 1) for k, t in enumerate(r.token_times)] for r in res.requests]
    obs = cal.decode_observations(streams, p)
    assert len(obs) == 3
    assert [o.context_tokens for o in obs] == sorted(o.context_tokens for o in obs)
    for o in obs:
        assert o.decode_seqs == b
        assert o.seconds == pytest.approx(cal.predict(TRUE, o), rel=1e-9)


def test_prefill_observation_matches_the_engine_time_to_first_token():
    res = simulate([0.0], [300], [1], SimSettings(num_blocks=64), TRUE)
    o = cal.prefill_observation(300, res.requests[0].first_s)
    assert cal.predict(TRUE, o) == pytest.approx(o.seconds, rel=1e-12)


def test_plan_keeps_batches_within_the_kv_cache_and_max_model_len():
    limits = measure.ServerLimits(max_model_len=512, max_batch=8, max_batched_tokens=512, block_size=128, kv_blocks=16)
    plan = measure.measurement_plan(limits)
    assert max(plan.prefill_lengths) <= 510 and min(plan.prefill_lengths) >= 8
    assert {b for b, _, _ in plan.decode_runs} >= {1, 8}
    for b, p, n in plan.decode_runs:
        assert p + n < 512
        assert b * -(-(p + n) // 128) <= 15  # never more than the 15 usable blocks: no preemption
    quick = measure.measurement_plan(limits, quick=True)
    assert quick.requests < plan.requests / 2
    with pytest.raises(cal.CalibrationError, match="too small"):
        measure.measurement_plan(measure.ServerLimits(512, 8, 512, block_size=16, kv_blocks=2))


# The command's errors ----------------------------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = main(["calibrate", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def test_unreachable_url_is_one_line(capsys, tmp_path):
    code, line = run_cli(capsys, "--target", "http://127.0.0.1:9", "--out", str(tmp_path / "p.json"))
    assert code == 2
    assert "http://127.0.0.1:9" in line and "not reachable" in line
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("out, words", [("p.txt", "must end in .json"), ("nodir/p.json", "no such folder")])
def test_bad_out_is_one_line(capsys, tmp_path, out, words):
    code, line = run_cli(capsys, "--target", "http://127.0.0.1:9", "--out", str(tmp_path / out))
    assert code == 2 and words in line


def test_sim_preset_is_refused(capsys, tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text((ROOT / "presets" / "steady-poisson.toml").read_text().replace('kind = "url"', 'kind = "sim"'))
    code, line = run_cli(capsys, "--preset", str(preset), "--out", str(tmp_path / "p.json"))
    assert code == 2 and "simulator" in line


class _Refusing(BaseHTTPRequestHandler):
    """A server that looks healthy but answers every completion with vLLM's 400 error body."""

    def log_message(self, *a):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._send(200, {"data": [{"id": "m", "max_model_len": 512}]})
        elif self.path == "/health":
            self._send(200, {})
        else:
            self._send(404, {"error": {"message": "no"}})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(400, {"error": {"message": "prompt is\n too long", "type": "BadRequestError", "code": 400}})


def test_server_error_during_measurement_is_one_line(capsys, tmp_path):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        code, line = run_cli(capsys, "--target", url, "--out", str(tmp_path / "p.json"), "--quick")
    finally:
        srv.shutdown()
    assert code == 2
    assert line.endswith("/v1/completions: HTTP 400: prompt is too long")
    assert not (tmp_path / "p.json").exists()


def test_calibrating_the_simulator_recovers_its_profile(capsys, tmp_path):
    """End to end over HTTP: the simulated server runs a known profile; calibration must find it again."""
    from burststudio.targets.sim.server import SimTarget

    truth = CostProfile(name="slow", base_s=4e-3, prefill_token_s=4e-5, decode_seq_s=1e-3, context_token_s=2e-6,
                        request_overhead_s=0.0)
    path = tmp_path / "truth.json"
    truth.save(path)
    target = SimTarget(SimSettings(profile=str(path), num_blocks=64, max_num_seqs=4))
    target.start(tmp_path)
    try:
        target.wait_healthy(15.0)
        out = tmp_path / "fitted.json"
        code = main(["calibrate", "--target", target.url, "--out", str(out), "--quick", "--max-batch", "4"])
    finally:
        target.stop()
    assert code == 0, capsys.readouterr().err
    fitted = CostProfile.load(out)
    assert fitted.name == "fitted"
    # Timer lateness on a shared machine adds to every step: compare predictions, with room for it.
    for work in [(300, 0, 0, 300 * 301 // 2), (0, 4, 4 * 200, 0), (0, 1, 100, 0)]:
        assert fitted.step_time(*work) == pytest.approx(truth.step_time(*work), rel=0.35), work
    assert any("calibrate" in s for s in fitted.sources)
