"""The one fit of a workload to a generator (burststudio.workload.fit_generator), which `fit --to-preset` and the
studio's Fit both call."""

from pathlib import Path

import pytest

from burststudio.workload import formats
from burststudio.workload.fit_generator import arrival_targets, fit_generator
from burststudio.workload.synth import synthesize
from burststudio.workload.transform_spec import TransformSpec


def _figures(w):
    rate, cv, idc = arrival_targets(w.arrival_s)
    return {"rate": rate, "cv": cv, "idc10": idc}


def test_a_bursty_trace_keeps_its_gap_cv_and_rate(traces_dir):
    trace = formats.load(traces_dir / "azure_llm_2023_code.csv")
    fitted = fit_generator(trace, str(traces_dir / "azure_llm_2023_code.csv"), base_dir=Path.cwd())
    # A renewal process loses the burstiness of this trace (its gap CV 13 comes from a rate that swings).
    assert fitted.spec["arrivals"]["process"] == "windowed_gamma"
    assert fitted.note["renewal"]["idc_10s_factor"] > 5
    target = _figures(trace)
    for seed in (21, 22):
        got = _figures(synthesize({"name": "f", "seed": seed, **fitted.spec}, seed=seed, base_dir=Path.cwd()))
        assert got["cv"] == pytest.approx(target["cv"], rel=0.10)
        assert got["rate"] == pytest.approx(target["rate"], rel=0.10)


def test_it_fits_the_workload_it_is_given(traces_dir):
    trace = formats.load(traces_dir / "azure_llm_2023_code.csv")
    half = TransformSpec(rate_scale=0.5).apply(trace, seed=1)
    fitted = fit_generator(half, base_dir=Path.cwd())
    got = _figures(synthesize({"name": "f", "seed": 3, **fitted.spec}, seed=3, base_dir=Path.cwd()))
    assert got["rate"] == pytest.approx(_figures(half)["rate"], rel=0.10)
    assert got["rate"] == pytest.approx(_figures(trace)["rate"] / 2, rel=0.10)
    # Without a file it is unchanged from, lengths are parametric: no empirical table names the wrong rows.
    assert fitted.spec["prompt"]["dist"] in ("lognormal", "zipf")


def test_a_renewal_trace_stays_a_renewal_with_parametric_lengths():
    spec = {"requests": 5000, "arrivals": {"process": "gamma", "rate": 5.0, "cv": 2.0},
            "prompt": {"dist": "lognormal", "median": 300.0, "sigma": 0.5},
            "output": {"dist": "lognormal", "median": 80.0, "sigma": 0.4}}
    w = synthesize({"name": "g", "seed": 3, **spec}, seed=3, base_dir=Path.cwd())
    fitted = fit_generator(w, "unused.csv", base_dir=Path.cwd())
    assert fitted.spec["requests"] == 5000
    assert fitted.spec["arrivals"]["process"] == "gamma"
    assert fitted.spec["arrivals"]["cv"] == pytest.approx(2.0, rel=0.1)
    assert fitted.spec["prompt"] == {"dist": "lognormal", "median": pytest.approx(300, rel=0.05),
                                     "sigma": pytest.approx(0.5, rel=0.1)}


def test_too_few_requests_say_so():
    w = synthesize({"name": "s", "requests": 5, "arrivals": {"process": "poisson", "rate": 1.0},
                    "prompt": {"dist": "fixed", "value": 10}, "output": {"dist": "fixed", "value": 10}},
                   seed=0, base_dir=Path.cwd())
    with pytest.raises(ValueError, match="too few to fit"):
        fit_generator(w)
