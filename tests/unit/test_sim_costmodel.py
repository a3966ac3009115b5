"""The step-time model never gets faster with more work, and profiles round-trip through JSON."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burststudio.errors import UserError
from burststudio.targets.sim.costmodel import PROFILES, CostProfile, get_profile

work = st.tuples(st.integers(0, 8192), st.integers(0, 256), st.integers(0, 10**6), st.integers(0, 10**8))


@pytest.mark.parametrize("name", sorted(PROFILES))
@settings(max_examples=60, deadline=None)
@given(a=work, b=work)
def test_step_time_is_monotone_in_every_kind_of_work(name, a, b):
    p = PROFILES[name]
    lo = tuple(min(x, y) for x, y in zip(a, b))
    hi = tuple(max(x, y) for x, y in zip(a, b))
    assert p.step_time(*lo) <= p.step_time(*hi)
    assert p.step_time(*lo) >= p.base_s > 0


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_decode_run_matches_step_by_step(name):
    p = PROFILES[name]
    run = p.decode_run(8, 2000, 50)
    each = [p.step_time(0, 8, 2000 + 8 * j) for j in range(50)]
    np.testing.assert_allclose(run, each, rtol=1e-12)


def test_cpu_tiny_matches_the_measured_figures():
    p = PROFILES["cpu-tiny"]
    # About 10 ms to the first token of a short single stream.
    assert 0.005 < p.request_overhead_s + p.step_time(100, 0, 0, 100 * 101 // 2) < 0.015
    # 2.6k-5.5k generated tokens/s with 8 running sequences, short to long contexts.
    short = 8 / p.step_time(0, 8, 8 * 64)
    long = 8 / p.step_time(0, 8, 8 * 450)
    assert 2400 < long < short < 5800


def test_gpu_profiles_are_faster_than_the_cpu_and_h100_faster_than_a100():
    a100, h100 = PROFILES["a100-llama3-8b"], PROFILES["h100-llama3-8b"]
    for work in [(2048, 0, 0, 2048 * 1024), (0, 64, 64 * 1000, 0)]:
        assert h100.step_time(*work) < a100.step_time(*work)
    assert a100.sources and h100.sources


def test_profile_json_round_trip(tmp_path):
    p = PROFILES["a100-llama3-8b"]
    path = tmp_path / "calibrated.json"
    p.save(path)
    assert CostProfile.load(path) == p
    assert get_profile(str(path)) == p


def test_bad_profile_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="bad.json:1"):
        CostProfile.load(bad)
    bad.write_text(json.dumps({"base_s": 0.001}))
    with pytest.raises(UserError, match="lacks"):
        CostProfile.load(bad)
    bad.write_text(json.dumps({"base_s": -1, "prefill_token_s": 0, "decode_seq_s": 0, "context_token_s": 0}))
    with pytest.raises(UserError, match="base_s must be a number of seconds from 0 to 60, got -1"):
        CostProfile.load(bad)
    with pytest.raises(UserError, match="unknown cost profile"):
        get_profile("b200-nonexistent")
    with pytest.raises(UserError, match="cannot read"):
        get_profile(str(tmp_path / "missing.json"))
