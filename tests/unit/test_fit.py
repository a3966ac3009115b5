import json

import numpy as np
import pytest
from scipy import stats as st

from burststudio import cli
from burststudio.presets import load_preset
from burststudio.workload import fit, formats
from burststudio.workload.model import Workload
from burststudio.workload.stats import summarize

SCIPY = {"gamma": st.gamma, "weibull": st.weibull_min, "lognormal": st.lognorm}


@pytest.mark.parametrize("sample", ["gamma", "weibull", "lognormal"])
def test_grouped_mle_agrees_with_scipy_fit(sample):
    rng = np.random.default_rng(7)
    x = {"gamma": rng.gamma(0.6, 3.0, 5000), "weibull": 2.0 * rng.weibull(0.8, 5000),
         "lognormal": rng.lognormal(0.5, 1.1, 5000)}[sample]
    sel = fit.fit_interarrivals(x)
    assert sel.best == sample
    for family, dist in SCIPY.items():
        shape, _, scale = dist.fit(x, floc=0)
        p = sel.fits[family].params
        if family == "lognormal":
            assert p["sigma"] == pytest.approx(shape, rel=1e-6) and p["median"] == pytest.approx(scale, rel=1e-6)
        else:
            assert p["shape"] == pytest.approx(shape, rel=1e-4) and p["scale"] == pytest.approx(scale, rel=1e-4)
        assert sel.fits[family].ks == pytest.approx(st.kstest(x, dist.cdf, args=(shape, 0, scale)).statistic,
                                                    abs=1e-4)


def test_fit_recovers_gamma_shape_and_picks_exponential_for_poisson():
    rng = np.random.default_rng(3)
    sel = fit.fit_interarrivals(rng.gamma(0.5, 2.0, 50_000))
    assert sel.best == "gamma"
    assert sel.fits["gamma"].params["shape"] == pytest.approx(0.5, rel=0.03)
    # Poisson: gamma and Weibull nest the exponential, so AIC's penalty must make exponential win.
    wins = sum(fit.fit_interarrivals(np.random.default_rng(s).exponential(0.2, 5000)).best == "exponential"
               for s in range(10))
    assert wins >= 8


def test_windows_are_fitted_separately():
    rng = np.random.default_rng(1)
    slow = np.cumsum(rng.exponential(1.0, 3000))
    fast = slow[-1] + np.cumsum(rng.gamma(0.25, 0.4, 30000))
    a = np.concatenate([[0.0], slow, fast[fast < slow[-1] + 3000]])
    w = Workload.from_columns(a, np.full(a.size, 10), np.full(a.size, 5))
    out = fit.fit_workload(w, window_s=float(slow[-1] // 10 * 10))
    first, second = out["windows"][0], out["windows"][1]
    assert first["best"] == "exponential" and first["cv"] == pytest.approx(1.0, abs=0.1)
    assert second["best"] == "gamma" and second["fits"]["gamma"]["params"]["shape"] == pytest.approx(0.25, rel=0.1)
    assert second["rate_rps"] > 5 * first["rate_rps"]


def test_ties_are_replaced_by_half_the_resolution():
    a = np.array([0.0, 0.0, 0.0, 1.0, 3.0, 3.0, 7.0])
    gaps, info = fit.positive_gaps(a)
    assert info["ties"] == 3 and info["tie_value_s"] == 0.5
    assert np.all(gaps > 0) and sorted(gaps)[:3] == [0.5, 0.5, 0.5]
    assert fit.timestamp_resolution(np.array([0.0, 0.003, 1.25])) == pytest.approx(1e-3)


def test_length_fits_choose_sensibly():
    rng = np.random.default_rng(5)
    ln = np.round(rng.lognormal(6.0, 0.8, 20000)).astype(int)
    sel = fit.fit_lengths(ln)
    assert sel.best == "lognormal"
    assert sel.fits["lognormal"].params["median"] == pytest.approx(np.exp(6.0), rel=0.03)
    support = np.arange(1, 2001)
    p = support ** -1.3
    z = rng.choice(support, 20000, p=p / p.sum())
    sel = fit.fit_lengths(z)
    assert sel.best == "zipf" and sel.fits["zipf"].params["theta"] == pytest.approx(1.3, abs=0.05)
    assert sel.fits["empirical"].ks == 0.0


def test_fit_command_json_and_table(traces_dir, capsys):
    assert cli.main(["fit", str(traces_dir / "mooncake_conversation_trace.jsonl"), "--json", "--window", "10m"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requests"] == 12031 and len(out["windows"]) == 6
    assert out["ties"]["ties"] > 10000  # batched arrivals
    assert set(out["interarrival"]["fits"]) == set(fit.ARRIVAL_FAMILIES)
    assert set(out["prompt_tokens"]["fits"]) == set(fit.LENGTH_FAMILIES)
    assert cli.main(["fit", str(traces_dir / "burstgpt_1_head42.csv")]) == 0
    text = capsys.readouterr().out
    assert "Inter-arrival times" in text and "best" in text
    assert cli.main(["fit", str(traces_dir / "burstgpt_1_head42.csv"), "--window", "soon"]) == 2


def _ratios(s, s0):
    return {"rate": s["rate_rps"] / s0["rate_rps"], "cv": s["interarrival_cv"] / s0["interarrival_cv"],
            "idc10": s["idc"]["10s"] / s0["idc"]["10s"],
            **{f"{c}_{q}": s[c][q] / s0[c][q] for c in ("prompt_tokens", "output_tokens") for q in ("p50", "p99")}}


@pytest.mark.parametrize("trace", ["azure_llm_2023_code.csv", "mooncake_conversation_trace.jsonl"])
def test_to_preset_reproduces_the_trace(traces_dir, tmp_path, trace):
    out = tmp_path / "fitted.toml"
    assert cli.main(["fit", str(traces_dir / trace), "--json", "--to-preset", str(out)]) == 0
    preset = load_preset(out)
    s0 = summarize(formats.load(traces_dir / trace))
    runs = [_ratios(summarize(preset.build_workload(seed=seed)), s0) for seed in (11, 12, 13, 14, 15)]
    for r in runs:
        for key in ("rate", "cv", "idc10", "prompt_tokens_p50", "output_tokens_p50", "prompt_tokens_p99",
                    "output_tokens_p99"):
            assert r[key] == pytest.approx(1.0, abs=0.10), (key, r)


def test_to_preset_on_a_42_row_trace_keeps_its_arrivals(traces_dir, tmp_path):
    # 42 requests in 79 minutes: no windowed process is stable enough, so the arrivals are the trace's own and
    # only the lengths are resampled (38 non-failed rows: the medians hold, a p99 of 42 draws is whichever large row came up).
    out = tmp_path / "b.toml"
    src = traces_dir / "burstgpt_1_head42.csv"
    assert cli.main(["fit", str(src), "--json", "--to-preset", str(out)]) == 0
    assert 'process = "trace"' in out.read_text()
    s0 = summarize(formats.load(src))
    for seed in (1, 2, 3):
        r = _ratios(summarize(load_preset(out).build_workload(seed=seed)), s0)
        assert r["rate"] == pytest.approx(1.0, abs=0.02) and r["idc10"] == pytest.approx(1.0, abs=0.02)
        assert r["cv"] == pytest.approx(1.0, abs=0.02)
        assert r["prompt_tokens_p50"] == pytest.approx(1.0, abs=0.10)
        assert r["output_tokens_p50"] == pytest.approx(1.0, abs=0.10)
