"""The generator spec: validation names the exact key path, the registry drives it, the docs agree with it."""

import copy
import json
import re
import tomllib
from pathlib import Path

import pytest

from burststudio.errors import UserError
from burststudio.workload.synth import FAMILIES, SpecError, registry, resolve, validate
from burststudio.workload.synth import docs as synth_docs
from burststudio.workload.synth.spec import _check_family

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "name": "t",
    "requests": 100,
    "seed": 1,
    "arrivals": {"process": "gamma", "rate": 2.0, "cv": 1.5},
    "prompt": {"dist": "zipf", "theta": 1.1, "min": 10, "max": 1000},
    "output": {"dist": "lognormal", "median": 50, "sigma": 0.5},
}


def _with(changes: dict) -> dict:
    spec = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        keys = dotted.split(".")
        table = spec
        for k in keys[:-1]:
            table = table.setdefault(k, {})
        if value is _DELETE:
            del table[keys[-1]]
        else:
            table[keys[-1]] = value
    return spec


_DELETE = object()


def test_a_good_spec_passes_and_resolves_defaults():
    validate(GOOD)
    r = resolve(GOOD)
    assert r["output"]["min"] == 1 and r["output"]["max"] == 32768
    assert "sessions" not in r


@pytest.mark.parametrize(
    "changes, path, words",
    [
        ({"arrivals.cv": -1.0}, ("arrivals", "cv"), "> 0"),
        ({"arrivals.cv": 0}, ("arrivals", "cv"), "> 0"),
        ({"arrivals.rate": -5}, ("arrivals", "rate"), "> 0"),
        ({"arrivals.rate": "fast"}, ("arrivals", "rate"), "a number"),
        ({"arrivals.rate": True}, ("arrivals", "rate"), "a number"),
        ({"arrivals.cv": _DELETE}, ("arrivals", "cv"), "required with rate"),
        ({"arrivals.shape": 0.5}, ("arrivals", "shape"), "not several"),
        ({"arrivals.burst": 3}, ("arrivals", "burst"), "unknown key"),
        ({"arrivals.process": "hawkes"}, ("arrivals", "process"), "unknown process"),
        ({"arrivals.process": _DELETE}, ("arrivals", "process"), "required"),
        ({"arrivals": {"process": "poisson"}}, ("arrivals", "rate"), "required"),
        ({"arrivals": {"process": "poisson", "rate": 1, "shape": 2}}, ("arrivals", "shape"), "unknown key"),
        ({"arrivals.modulation": {"kind": "sinusoid", "amplitude": 1.5}}, ("arrivals", "modulation", "amplitude"),
         "<= 1"),
        ({"arrivals.modulation": {"kind": "profile", "values": [1, -1]}}, ("arrivals", "modulation", "values", 1),
         ">= 0"),
        ({"arrivals.modulation": {"kind": "profile"}}, ("arrivals", "modulation", "values"), "either"),
        ({"arrivals.modulation": {"kind": "profile", "values": [1], "bins": 4}},
         ("arrivals", "modulation", "bins"), "only with trace"),
        ({"arrivals": {"process": "windowed_gamma", "windows": [{"duration_s": 10, "rate": 1},
                                                                 {"duration_s": 10, "rate": 1, "cv": -2}]}},
         ("arrivals", "windows", 1, "cv"), "> 0"),
        ({"arrivals": {"process": "windowed_gamma", "windows": [{"duration_s": 10}]}},
         ("arrivals", "windows", 0, "rate"), "required"),
        ({"arrivals": {"process": "windowed_gamma", "windows": [{"duration_s": 10, "rate": 1, "x": 1}]}},
         ("arrivals", "windows", 0, "x"), "unknown key"),
        ({"arrivals": {"process": "flash", "rate": 1, "start_s": 5, "peak_factor": 0.5}},
         ("arrivals", "peak_factor"), ">= 1"),
        ({"prompt.theta": 0}, ("prompt", "theta"), "> 0"),
        ({"prompt.min": 2000}, ("prompt", "min"), "greater than max"),
        ({"prompt.max": 10.5}, ("prompt", "max"), "whole number"),
        ({"prompt.dist": "pareto"}, ("prompt", "dist"), "unknown dist"),
        ({"output.median": _DELETE}, ("output", "median"), "either median, or mean"),
        ({"output.mean": 40}, ("output", "mean"), "not several"),
        ({"output": {"dist": "bimodal", "weight": 1.2, "median1": 1, "median2": 2}}, ("output", "weight"), "<= 1"),
        ({"output": _DELETE}, ("output",), "required"),
        ({"requests": 0}, ("requests",), ">= 1"),
        ({"duration_s": 60}, ("requests",), "not several"),
        ({"requests": _DELETE}, ("duration_s",), "either duration_s, or requests"),
        ({"seed": -1}, ("seed",), ">= 0"),
        ({"colour": "red"}, ("colour",), "unknown key"),
        ({"sessions": {"turns": {"dist": "geometric", "mean": 0.5}}}, ("sessions", "turns", "mean"), ">= 1"),
        ({"sessions": {"think_time": {"dist": "uniform", "min_s": 5, "max_s": 1}}},
         ("sessions", "think_time", "min_s"), "greater than"),
        ({"sessions": {"block_size": 16}}, ("sessions", "block_size"), "unknown key"),
        ({"prompt": {"dist": "empirical", "trace": "x.csv", "pair": True}, "output": {"dist": "fixed", "value": 3}},
         ("output", "dist"), "empirical"),
        ({"prompt": {"dist": "empirical", "trace": "x.csv", "pair": True},
          "output": {"dist": "empirical", "trace": "y.csv"}}, ("output", "trace"), "prompt's trace"),
        ({"output": {"dist": "empirical", "trace": "y.csv", "pair": True}}, ("output", "pair"), "prompt"),
    ],
)
def test_validation_names_the_exact_key_path(changes, path, words):
    with pytest.raises(SpecError) as info:
        validate(_with(changes))
    assert info.value.path == path
    assert words in str(info.value)
    assert isinstance(info.value, UserError)
    # The one-line message names the key as the preset spells it.
    dotted = "workload" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    assert str(info.value).startswith(dotted + ": ")


def test_paired_empirical_prompt_may_leave_output_out():
    spec = _with({"prompt": {"dist": "empirical", "trace": "t.csv", "pair": True}, "output": _DELETE})
    r = resolve(spec)
    assert r["output"] == {"dist": "empirical", "trace": "t.csv", "pair": True, "skip_failed": True}


def test_integral_floats_are_accepted_for_whole_numbers():
    r = resolve(_with({"requests": 1e3, "prompt.max": 1000.0}))
    assert r["requests"] == 1000 and isinstance(r["requests"], int)
    assert r["prompt"]["max"] == 1000


def test_a_spec_that_is_not_a_table_is_refused():
    with pytest.raises(SpecError) as info:
        validate(["not", "a", "table"])
    assert info.value.path == ()


def _valid_value(p):
    if p.type in ("float", "int"):
        lo = p.min if p.min is not None else 0
        v = lo + (min(1, (p.max - lo) / 2) if p.max is not None else 1)
        return int(v) if p.type == "int" else float(v)
    return {"path": "x.csv", "str": "x", "bool": False, "floats": [1.0],
            "windows": [{"duration_s": 1.0, "rate": 1.0}]}[p.type]


def _minimal(table, including):
    """A valid instance of `table` with its required keys, one group of each one_of (the one holding `including`)."""
    inst = {p.name: _valid_value(p) for p in table.params if p.required}
    wanted = {including} | {other for key, other in table.needs if key == including}
    for o in table.one_of:
        group = next((g for g in o.groups if wanted & set(g)), o.groups[0])
        inst.update({k: _valid_value(table.param(k)) for k in group})
    inst.update({k: _valid_value(table.param(k)) for k in wanted if k not in inst})
    return inst


def test_registry_is_plain_data_and_drives_validation():
    reg = registry()
    json.dumps(reg)  # plain data, ready for the docs and the studio's form
    kinds = reg["families"]["arrivals"]["kinds"]
    assert set(kinds) == {"poisson", "gamma", "weibull", "onoff", "flash", "windowed_gamma", "trace"}
    assert set(reg["families"]["lengths"]["kinds"]) == {"zipf", "lognormal", "uniform", "fixed", "bimodal", "empirical"}
    cv = next(p for p in kinds["gamma"]["params"] if p["name"] == "cv")
    assert cv["min"] == 0 and cv["min_open"] and cv["type"] == "float" and cv["doc"]
    # Every bound of every numeric parameter is enforced, and the error names that parameter.
    checked = 0
    for fam in FAMILIES.values():
        for kind, table in fam.kinds.items():
            for p in table.params:
                if p.type not in ("float", "int") or p.min is None:
                    continue
                inst = {fam.key: kind, **_minimal(table, p.name)}
                _check_family(fam, inst, (fam.name,))  # the minimal instance itself is valid
                inst[p.name] = p.min if p.min_open else p.min - 1
                with pytest.raises(SpecError) as info:
                    _check_family(fam, inst, (fam.name,))
                assert info.value.path == (fam.name, p.name), (kind, p.name)
                checked += 1
    assert checked > 30


DOC = ROOT / "docs" / "generators.md"


def test_docs_parameter_tables_match_the_registry():
    text = DOC.read_text()
    assert synth_docs.update(text) == text, "run: python -m burststudio.workload.synth.docs docs/generators.md"
    assert synth_docs.marked(text) == synth_docs.every_table()


def _toml_examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)


def test_every_docs_example_is_valid():
    examples = _toml_examples()
    assert len(examples) >= 15
    for text in examples:
        data = tomllib.loads(text)["workload"]
        spec = copy.deepcopy(GOOD)
        spec.update({k: v for k, v in data.items() if not isinstance(v, dict)})
        if "duration_s" in data:
            spec.pop("requests")
        for key in ("arrivals", "prompt", "output", "sessions"):
            if key in data:
                spec[key] = data[key]
        if spec["prompt"].get("pair"):
            spec.pop("output")
        validate(spec)


def test_a_resolved_spec_validates_again_unchanged():
    specs = [GOOD,
             _with({"arrivals": {"process": "windowed_gamma", "windows": [{"duration_s": 5, "rate": 1}]}}),
             _with({"arrivals.modulation": {"kind": "profile", "values": [1, 2]}}),
             _with({"prompt": {"dist": "empirical", "trace": "t.csv", "pair": True}, "output": _DELETE}),
             _with({"sessions": {}})]
    for text in _toml_examples():
        spec = copy.deepcopy(GOOD)
        spec.update(tomllib.loads(text)["workload"])
        if "duration_s" in spec:
            spec.pop("requests")
        if spec["prompt"].get("pair"):
            spec.pop("output")
        specs.append(spec)
    for spec in specs:
        once = resolve(spec)
        assert resolve(once) == once
