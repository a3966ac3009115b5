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


def test_the_check_says_which_figure_it_could_not_keep_and_why(traces_dir):
    azure = formats.load(traces_dir / "azure_llm_2023_code.csv")
    fitted = fit_generator(azure, str(traces_dir / "azure_llm_2023_code.csv"), base_dir=Path.cwd())
    assert [c.label for c in fitted.checks] == ["rate", "gap CV", "IDC 10s", "prompt p50", "prompt p99",
                                                "output p50", "output p99"]
    assert fitted.misses == [] and "every figure within 10%" in fitted.summary()
    small = formats.load(traces_dir / "burstgpt_1_head42.csv")
    fitted = fit_generator(small, str(traces_dir / "burstgpt_1_head42.csv"), base_dir=Path.cwd())
    for c in fitted.misses:
        assert c.error > 0.10 and c.reason.startswith("only 42 requests")
        assert f"{c.label} " in fitted.summary()


def test_a_transformed_trace_lends_its_rows_through_a_file(traces_dir, tmp_path):
    trace = formats.load(traces_dir / "mooncake_conversation_trace.jsonl")
    half = TransformSpec(rate_scale=0.5).apply(trace, seed=1)
    rows = tmp_path / "fits" / "half.parquet"
    fitted = fit_generator(half, base_dir=tmp_path, rows_path=rows)
    assert rows.is_file() and fitted.rows_file == str(rows.resolve())
    assert fitted.spec["prompt"] == {"dist": "empirical", "trace": str(rows.resolve()), "pair": True}
    # Without the rows it had to guess lengths (Mooncake's output p99 came out 5,137 against 1,119): now it keeps them.
    assert fitted.misses == [], fitted.summary()


def test_many_windows_go_to_a_csv_beside_the_preset_and_inspect_stays_short(traces_dir, tmp_path, capsys):
    from burststudio import cli
    from burststudio.presets import load_preset

    out = tmp_path / "azure.toml"
    assert cli.main(["fit", str(traces_dir / "azure_llm_2023_code.csv"), "--json", "--to-preset", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert 'windows_file = "azure.windows.csv"' in text and "windows = [" not in text
    assert len(text.splitlines()) < 60
    assert "#   gap CV: 13.2 -> " in text
    windows = (tmp_path / "azure.windows.csv").read_text().splitlines()
    assert windows[0] == '"duration_s","rate","cv"' and len(windows) > 1000
    w = load_preset(out).build_workload(seed=0)
    w.to_parquet(tmp_path / "azure.parquet")
    assert cli.main(["inspect", str(tmp_path / "azure.parquet")]) == 0
    assert len(capsys.readouterr().out.splitlines()) < 40


def test_a_bad_windows_file_is_one_line_at_its_key(tmp_path):
    from burststudio.workload.synth import SpecError

    spec = {"name": "w", "duration_s": 10.0, "arrivals": {"process": "windowed_gamma", "windows_file": "w.csv"},
            "prompt": {"dist": "fixed", "value": 3}, "output": {"dist": "fixed", "value": 3}}
    with pytest.raises(SpecError, match="arrivals.windows_file: no such windows file"):
        synthesize(spec, seed=0, base_dir=tmp_path)
    (tmp_path / "w.csv").write_text("duration_s,rate,cv\n1,2,1\n0,3,1\n")
    with pytest.raises(SpecError, match=r"w.csv: line 3: duration_s must be a number above 0"):
        synthesize(spec, seed=0, base_dir=tmp_path)
    (tmp_path / "w.csv").write_text("duration_s,rate,cv\n1,2,1\n1,3,0.5\n")
    assert len(synthesize(spec, seed=0, base_dir=tmp_path)) > 10
