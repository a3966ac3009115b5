"""The studio's door to the core: merging form edits into a loaded preset, and the fit -> form mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from burststudio.studio import workload_actions as actions

ORIGINAL = {"duration_s": 60.0, "sessions": {"block_tokens": 64},
            "arrivals": {"process": "gamma", "rate": 1.0, "cv": 2.0,
                         "modulation": {"kind": "sinusoid", "period_s": 60.0, "amplitude": 0.5}},
            "prompt": {"dist": "lognormal", "median": 40.0, "sigma": 0.5, "max": 160}}
LOADED = {"duration_s": 60.0, "arrivals.process": "gamma", "arrivals.rate": 1.0, "arrivals.cv": 2.0,
          "arrivals.modulation.kind": "sinusoid", "arrivals.modulation.period_s": 60.0,
          "arrivals.modulation.amplitude": 0.5, "prompt.dist": "lognormal", "prompt.median": 40.0,
          "prompt.sigma": 0.5, "prompt.max": 160}


def test_merge_applies_only_the_edits():
    spec = actions.merge_spec(ORIGINAL, LOADED, {**LOADED, "arrivals.rate": 3.0, "prompt.max": None})
    assert spec["arrivals"]["rate"] == 3.0 and "max" not in spec["prompt"]
    assert spec["sessions"] == ORIGINAL["sessions"] and spec["arrivals"]["modulation"] == ORIGINAL["arrivals"]["modulation"]
    assert ORIGINAL["arrivals"]["rate"] == 1.0  # the original is not touched


def test_changing_a_kind_replaces_its_parameters_but_keeps_its_subtables():
    values = {**LOADED, "arrivals.process": "poisson", "arrivals.cv": None, "arrivals.modulation.period_s": 30.0}
    spec = actions.merge_spec(ORIGINAL, LOADED, values)
    assert {k: v for k, v in spec["arrivals"].items() if k != "modulation"} == {"process": "poisson", "rate": 1.0}
    assert spec["arrivals"]["modulation"]["period_s"] == 30.0
    spec = actions.merge_spec(ORIGINAL, LOADED, {**LOADED, "arrivals.modulation.kind": actions.NONE_KIND})
    assert "modulation" not in spec["arrivals"]


def test_fit_to_generator_recovers_a_known_generator():
    spec = {"requests": 4000, "arrivals": {"process": "weibull", "rate": 3.0, "shape": 0.6},
            "prompt": {"dist": "lognormal", "median": 500.0, "sigma": 0.7},
            "output": {"dist": "zipf", "theta": 1.3, "min": 4, "max": 400}}
    w = actions.synthesize(spec, seed=5, base_dir=Path.cwd())
    values = actions.fit_to_generator(w)
    assert values["arrivals.process"] == "weibull"
    assert values["arrivals.shape"] == pytest.approx(0.6, rel=0.1)
    assert values["arrivals.rate"] == pytest.approx(3.0, rel=0.1)
    assert values["prompt.dist"] == "lognormal" and values["prompt.median"] == pytest.approx(500, rel=0.08)
    assert values["output.dist"] == "zipf" and values["output.theta"] == pytest.approx(1.3, rel=0.1)
    # What the fit fills in is a generator the form and synth accept as it is.
    assert len(actions.synthesize(actions.spec_from_values(values), seed=0, base_dir=Path.cwd())) == 4000


def test_a_trace_too_short_to_fit_says_so():
    w = actions.synthesize({"requests": 5, "arrivals": {"process": "poisson", "rate": 1.0},
                         "prompt": {"dist": "fixed", "value": 10}, "output": {"dist": "fixed", "value": 10}},
                        seed=0, base_dir=Path.cwd())
    with pytest.raises(actions.FieldError, match="too few to fit"):
        actions.fit_to_generator(w)
