"""synthesize(): reproducible to the byte, metadata that says how it was made, clear errors for missing traces."""

import copy
import subprocess
import sys

import numpy as np
import pytest

from burststudio.workload.model import Workload
from burststudio.workload.synth import SpecError, synthesize

CASES = {
    "gamma-zipf": {
        "name": "gz", "requests": 2000,
        "arrivals": {"process": "gamma", "rate": 5.0, "cv": 2.0,
                     "modulation": {"kind": "sinusoid", "period_s": 100, "amplitude": 0.5}},
        "prompt": {"dist": "zipf", "theta": 1.2, "min": 10, "max": 2000},
        "output": {"dist": "bimodal", "weight": 0.5, "median1": 20, "median2": 300},
    },
    "onoff": {
        "duration_s": 300,
        "arrivals": {"process": "onoff", "rate_on": 10, "mean_on_s": 5, "mean_off_s": 10},
        "prompt": {"dist": "uniform", "min": 5, "max": 50},
        "output": {"dist": "lognormal", "mean": 40, "sigma": 0.5},
    },
    "flash": {
        "duration_s": 200,
        "arrivals": {"process": "flash", "rate": 2, "start_s": 50, "peak_factor": 8},
        "prompt": {"dist": "fixed", "value": 5},
        "output": {"dist": "fixed", "value": 5},
    },
    "sessions-trace": {
        "requests": 1500,
        "arrivals": {"process": "windowed_gamma", "trace": "azure_llm_2023_code.csv", "window_s": 600},
        "prompt": {"dist": "empirical", "trace": "mooncake_conversation_trace.jsonl"},
        "output": {"dist": "lognormal", "median": 100, "sigma": 0.5},
        "sessions": {"shared_prefix_tokens": 700},
    },
}


def _bytes(w: Workload, path) -> bytes:
    w.to_parquet(path)
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_seed_same_bytes_different_seed_different(name, tmp_path, traces_dir):
    spec = CASES[name]
    a = synthesize(copy.deepcopy(spec), seed=42, base_dir=traces_dir)
    b = synthesize(copy.deepcopy(spec), seed=42, base_dir=traces_dir)
    c = synthesize(copy.deepcopy(spec), seed=43, base_dir=traces_dir)
    assert len(a) > 100
    assert _bytes(a, tmp_path / "a.parquet") == _bytes(b, tmp_path / "b.parquet")
    assert not np.array_equal(a.arrival_s, c.arrival_s) or not np.array_equal(a.prompt_tokens, c.prompt_tokens)
    assert _bytes(a, tmp_path / "a.parquet") != _bytes(c, tmp_path / "c.parquet")


def test_meta_carries_name_spec_and_seed(tmp_path):
    spec = copy.deepcopy(CASES["gamma-zipf"])
    w = synthesize(spec, seed=3)
    assert w.meta.name == "gz" and w.meta.seed == 3 and w.meta.generator == spec
    assert w.meta.origin_format == "synth"
    back = Workload.from_parquet(_write(w, tmp_path))
    assert back.equals(w)
    # The recorded spec and seed make the same workload again.
    assert synthesize(back.meta.generator, seed=back.meta.seed).table.equals(w.table)


def _write(w, tmp_path):
    path = tmp_path / "w.parquet"
    w.to_parquet(path)
    return path


def test_seed_in_the_spec_and_the_override():
    spec = {**copy.deepcopy(CASES["flash"]), "seed": 9}
    assert synthesize(spec).table.equals(synthesize(spec, seed=9).table)
    assert not synthesize(spec).table.equals(synthesize(spec, seed=10).table)


def test_without_any_seed_one_is_drawn_and_recorded():
    w = synthesize(copy.deepcopy(CASES["flash"]))
    assert isinstance(w.meta.seed, int)
    assert synthesize(copy.deepcopy(CASES["flash"]), seed=w.meta.seed).table.equals(w.table)


def test_parts_draw_from_their_own_streams():
    spec = copy.deepcopy(CASES["gamma-zipf"])
    a = synthesize(spec, seed=1)
    spec["output"] = {"dist": "fixed", "value": 7}
    b = synthesize(spec, seed=1)
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.prompt_tokens, b.prompt_tokens)


def test_requests_and_duration():
    spec = copy.deepcopy(CASES["gamma-zipf"])
    assert len(synthesize(spec, seed=1)) == 2000
    spec.pop("requests")
    spec["duration_s"] = 50
    w = synthesize(spec, seed=1)
    assert w.arrival_s.max() < 50 and len(w) > 50


def test_a_missing_trace_names_its_key(tmp_path):
    spec = copy.deepcopy(CASES["sessions-trace"])
    with pytest.raises(SpecError) as info:
        synthesize(spec, seed=1, base_dir=tmp_path)
    assert info.value.path == ("arrivals", "trace")
    assert str(tmp_path / "azure_llm_2023_code.csv") in str(info.value)


def test_a_bad_seed_override_is_a_spec_error():
    with pytest.raises(SpecError) as info:
        synthesize(copy.deepcopy(CASES["flash"]), seed=-3)
    assert info.value.path == ("seed",)


def test_synth_imports_neither_textual_nor_aiohttp():
    code = "import sys, burststudio.workload.synth\nprint(' '.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert not any(m.split(".")[0] in ("textual", "aiohttp") for m in loaded)


def test_an_unknown_trace_format_names_the_format_key(traces_dir):
    spec = {"requests": 10, "arrivals": {"process": "poisson", "rate": 1.0},
            "prompt": {"dist": "empirical", "trace": "azure_llm_2023_code.csv", "format": "nonesuch", "pair": True}}
    with pytest.raises(SpecError) as info:
        synthesize(spec, seed=1, base_dir=traces_dir)
    assert info.value.path == ("prompt", "format")


def test_a_bad_trace_file_is_reported_with_its_file(tmp_path):
    from burststudio.errors import InputFileError

    bad = tmp_path / "bad.csv"
    bad.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,ChatGPT,x,2,3,Conversation log\n")
    spec = {"requests": 10, "arrivals": {"process": "trace", "trace": "bad.csv"},
            "prompt": {"dist": "fixed", "value": 3}, "output": {"dist": "fixed", "value": 3}}
    with pytest.raises(InputFileError) as info:
        synthesize(spec, seed=1, base_dir=tmp_path)
    assert "bad.csv" in str(info.value)
