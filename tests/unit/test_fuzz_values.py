"""Values that parse but cannot run: non-finite, huge, tiny and deeply nested values in presets, on the command line
and in traces.

Each property runs the command as a user would (`burststudio.cli.main`, in process) and holds it to the same
promise: it works, or it exits with code 2 and one line on stderr, never a traceback; and it leaves no run
directory that `burststudio report` rejects. A trace that loads holds only counts and times a workload can carry.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, no_hang  # noqa: E402

from burststudio import cli  # noqa: E402
from burststudio.preset_validate import MAX_DEPTH  # noqa: E402
from burststudio.preset_workload import COMMON_KEYS, TRACE_KEYS  # noqa: E402
from burststudio.presets import PresetError, preset_from_dict  # noqa: E402
from burststudio.schema import INT_MAX, settings_params  # noqa: E402
from burststudio.settings import ReplaySettings, TargetSettings  # noqa: E402
from burststudio.workload.formats import load  # noqa: E402
from burststudio.workload.model import MAX_COUNT, MAX_SECONDS  # noqa: E402
from burststudio.errors import UserError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "traces" / "burstgpt_1_head42.csv"

# A small generator preset on the simulator: every case runs in well under a second when its values are sane.
BASE = {
    "workload": {"requests": 12, "arrivals": {"process": "poisson", "rate": 4.0},
                 "prompt": {"dist": "fixed", "value": 16}, "output": {"dist": "fixed", "value": 4}},
    "target": {"kind": "sim"},
    "replay": {},
}


def _numeric_settings(cls, prefix: tuple) -> list[tuple[tuple, str]]:
    out = []
    for param, kind in settings_params(cls):
        if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
            out += _numeric_settings(kind, prefix + (param.name,))
        elif param.type in ("int", "float"):
            out.append((prefix + (param.name,), param.type))
    return out


SETTING_KEYS = _numeric_settings(TargetSettings, ("target",)) + _numeric_settings(ReplaySettings, ("replay",))
# Generator keys of the base preset's tables (arrivals poisson, fixed lengths) and the top level.
GENERATOR_KEYS = [(("workload", "requests"), "int"), (("workload", "seed"), "int"),
                  (("workload", "arrivals", "rate"), "float"), (("workload", "prompt", "value"), "int"),
                  (("workload", "output", "value"), "int")]
TRACE_FORM_KEYS = [(("workload", p.name), p.type) for p in TRACE_KEYS + COMMON_KEYS if p.type in ("int", "float")]


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# TOML texts of hostile values: what a preset line or `--set` can hold.
NON_FINITE = st.sampled_from(["nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e400", "-1e400"])
HUGE = st.one_of(st.sampled_from([str(INT_MAX + 1), str(-INT_MAX - 2), "1" + "0" * 30, "1" + "0" * 5000,
                                  "1e308", "-1e308", "1.7976931348623157e308"]),
                 st.integers(INT_MAX + 1, 10**40).map(str))
TINY = st.sampled_from(["1e-300", "5e-324", "-5e-324", "1e-320", "-0.0", "1e-10", "0.0"])
DEEP = st.integers(MAX_DEPTH, 3000).map(_deep)
HOSTILE = st.one_of(NON_FINITE, HUGE, TINY, DEEP)


def run_cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), no_hang():
        code = cli.main([str(a) for a in argv])
    return code, err.getvalue()


def assert_one_line_or_ran(code: int, err: str, expect: int = 0) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ": warning: " not in ln]  # what a loader fixed, one a line
    if code == 2:
        assert len(lines) == 1 and ": error: " in lines[0], err
    else:
        assert code in (expect, 3), (code, err)  # 3: the run broke a limit the hostile value set


def assert_no_rejected_run_dir(out: Path) -> None:
    """`out` does not exist, or `report` reads it."""
    if out.exists():
        code, err = run_cli("report", out)
        assert code == 0, f"left a run directory that report rejects: {err}"


def toml_line(path: tuple, text: str) -> str:
    """A preset with the base values and `path = text` written into it as TOML."""
    import tomli_w

    data = json.loads(json.dumps(BASE))
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node.pop(path[-1], None)
    body = tomli_w.dumps(data)
    section = ".".join(path[:-1])
    return body + f"\n[{section}]\n{path[-1]} = {text}\n" if f"[{section}]" not in body else \
        body.replace(f"[{section}]\n", f"[{section}]\n{path[-1]} = {text}\n", 1)


# Preset values ------------------------------------------------------------------------------------------------
@FUZZ
@given(key=st.sampled_from(SETTING_KEYS + GENERATOR_KEYS), text=HOSTILE)
def test_a_hostile_preset_value_runs_or_is_one_line(tmp_path_factory, key, text):
    path, _type = key
    base = tmp_path_factory.mktemp("preset")
    preset = base / "p.toml"
    preset.write_text(toml_line(path, text), encoding="utf-8")
    out = base / "run"
    code, err = run_cli("simulate", preset, "--out", out)
    assert_one_line_or_ran(code, err)
    if code == 2:
        assert str(preset) in err, err  # the error names the file (and the key, when the TOML parsed)
    assert_no_rejected_run_dir(out)


@pytest.mark.parametrize("path,kind", SETTING_KEYS + GENERATOR_KEYS + TRACE_FORM_KEYS,
                         ids=lambda v: ".".join(v) if isinstance(v, tuple) else v)
def test_every_numeric_key_refuses_non_finite_out_of_int64_and_deep_values(path, kind):
    import tomllib

    trace_form = path[0] == "workload" and path in [k for k, _ in TRACE_FORM_KEYS]
    base = {"workload": {"trace": str(TRACE)}} if trace_form else json.loads(json.dumps(BASE))
    for text in ("nan", "inf", "-inf", str(INT_MAX + 1) if kind == "int" else "1e400", _deep(MAX_DEPTH + 1)):
        data = json.loads(json.dumps(base))
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = tomllib.loads(f"v = {text}")["v"]
        with pytest.raises(PresetError) as info:
            preset_from_dict(data, path="p.toml")
        message = str(info.value)
        assert "\n" not in message and ".".join(path) in message, message


def test_a_tiny_positive_value_is_called_too_small():
    data = json.loads(json.dumps(BASE))
    data["replay"]["time_scale"] = 1e-300
    with pytest.raises(PresetError, match=r"replay\.time_scale: too small: 1e-300 \(the smallest allowed is 1e-06\)"):
        preset_from_dict(data, path="p.toml")
    data = json.loads(json.dumps(BASE))
    data["workload"]["arrivals"]["rate"] = 5e-324
    with pytest.raises(PresetError, match=r"workload\.arrivals\.rate: too small: 4\.94066e-324"):
        preset_from_dict(data, path="p.toml")


@FUZZ
@given(depth=st.integers(MAX_DEPTH, 50_000), where=st.sampled_from(["workload", "replay", "target.vllm"]),
       kind=st.sampled_from(["[", "{a="]))
def test_a_deep_preset_is_one_line(tmp_path_factory, depth, where, kind):
    close = {"[": "]", "{a=": "}"}[kind]
    base = tmp_path_factory.mktemp("deep")
    preset = base / "p.toml"
    preset.write_text(toml_line(tuple(where.split(".")) + ("x",), kind * depth + close * depth), encoding="utf-8")
    code, err = run_cli("synth", preset, "--out", base / "w.parquet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(preset) in err, err


# Command-line values ------------------------------------------------------------------------------------------
FLAG_TEXT = st.one_of(NON_FINITE, HUGE, TINY,
                      st.sampled_from(["-1", "0", "abc", "1.5", "", " ", "1e3", "0x10", "1_000"]))


@FUZZ
@given(flag=st.sampled_from(["--duration", "--seed", "--max-requests", "--repeat", "--request-rate"]), text=FLAG_TEXT,
       command=st.sampled_from(["simulate", "synth"]))
def test_a_hostile_flag_value_runs_or_names_the_flag(tmp_path_factory, flag, text, command):
    if command == "synth" and flag not in ("--seed", "--max-requests"):
        flag = "--seed"
    base = tmp_path_factory.mktemp("flag")
    preset = base / "p.toml"
    preset.write_text(toml_line(("replay", "seed"), "0"), encoding="utf-8")
    out = base / ("run" if command == "simulate" else "w.parquet")
    code, err = run_cli(command, preset, "--out", out, f"{flag}={text}")
    assert_one_line_or_ran(code, err)
    if code == 2:
        assert f"{flag}:" in err and str(preset) not in err, err  # blamed on the flag, not on the preset's line
    if command == "simulate":
        assert_no_rejected_run_dir(out)


@FUZZ
@given(flag=st.sampled_from(["--time-scale", "--rate-scale", "--head", "--seed"]), text=FLAG_TEXT)
def test_a_hostile_convert_flag_runs_or_names_the_flag(tmp_path_factory, flag, text):
    out = tmp_path_factory.mktemp("convert") / "w.parquet"
    code, err = run_cli("convert", TRACE, "--out", out, f"{flag}={text}")
    assert_one_line_or_ran(code, err)
    if code == 2:
        assert flag in err, err


def test_format_with_a_preset_is_refused_in_one_line(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(toml_line(("replay", "seed"), "0"), encoding="utf-8")
    code, err = run_cli("replay", preset, "--format", "csv", "--out", tmp_path / "run")
    assert code == 2 and "--set workload.format=csv" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


# Trace values -------------------------------------------------------------------------------------------------
TRACE_NUMBERS = st.one_of(
    st.sampled_from(["1e308", "-1e308", "1e300", "inf", "nan", "-1", "1e-320", str(INT_MAX + 1), str(2**64),
                     "1" + "0" * 5000, "9" * 400, "1e10", "12", "0", "3.5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(2**70), 2**70).map(str),
)
GOOD_ROW = {"arrival_s": "1", "prompt_tokens": "10", "output_tokens": "5"}


@st.composite
def hostile_traces(draw) -> tuple[str, bytes]:
    rows = [dict(GOOD_ROW, arrival_s=str(i)) for i in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(1, 3))):
        row = draw(st.sampled_from(rows))
        row[draw(st.sampled_from(sorted(GOOD_ROW)))] = draw(TRACE_NUMBERS)
    kind = draw(st.sampled_from(["csv", "jsonl", "mooncake", "burstgpt"]))
    if kind == "csv":
        lines = ["arrival_s,prompt_tokens,output_tokens"] + [
            f"{r['arrival_s']},{r['prompt_tokens']},{r['output_tokens']}" for r in rows]
        return "t.csv", ("\n".join(lines) + "\n").encode()
    if kind == "burstgpt":
        lines = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"] + [
            f"{r['arrival_s']},ChatGPT,{r['prompt_tokens']},{r['output_tokens']},0,Conversation log" for r in rows]
        return "b.csv", ("\n".join(lines) + "\n").encode()
    names = ({"arrival_s": "timestamp", "prompt_tokens": "input_length", "output_tokens": "output_length"}
             if kind == "mooncake" else {k: k for k in GOOD_ROW})
    # Numbers written as the text drew them (JSON holds 5,000-digit integers and 1e400 as well); nan and inf as
    # JSON's NaN / Infinity; sometimes a field nested deep.
    def value(text: str) -> str:
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)

    lines = []
    for r in rows:
        fields = [f'"{names[k]}": {value(v)}' for k, v in r.items()]
        if draw(st.integers(0, 5)) == 0:
            fields.append(f'"extra": {_deep(draw(st.integers(10, 60_000)))}')
        lines.append("{" + ", ".join(fields) + "}")
    return "t.jsonl", ("\n".join(lines) + "\n").encode()


@pytest.mark.filterwarnings("ignore::burststudio.workload.formats.checks.TraceWarning")
@FUZZ
@given(trace=hostile_traces())
def test_hostile_trace_values_load_checked_or_are_one_line(tmp_path_factory, trace):
    name, data = trace
    path = tmp_path_factory.mktemp("trace") / name
    path.write_bytes(data)
    with no_hang():
        try:
            w = load(path)
        except UserError as exc:
            text = str(exc)
            assert "\n" not in text and str(path) in text, text
            return
    for col in ("prompt_tokens", "output_tokens"):
        values = w.numpy(col)
        assert values.dtype == np.int64 and np.all((values >= 0) & (values <= MAX_COUNT)), values
    a = w.arrival_s
    assert np.all(np.isfinite(a)) and np.all(a >= 0) and np.all(a <= MAX_SECONDS)
    code, err = run_cli("fit", path, "--json")
    assert_one_line_or_ran(code, err)


# Files the commands read --------------------------------------------------------------------------------------
PROFILE_BYTES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"[1, 2]", b'"x"', b"{}", b"null", _deep(5000).encode(), b"{\"base_s\": NaN}",
                     b"\xff\xfe{}", ("{\"base_s\": 1" + "0" * 5000 + "}").encode()]),
    st.dictionaries(st.sampled_from(["base_s", "prefill_token_s", "decode_seq_s", "context_token_s", "name",
                                     "wake_s", "sources", "suggested", "description"]),
                    st.one_of(st.floats(), st.integers(-10**30, 10**30), st.text(max_size=5), st.booleans(),
                              st.none(), st.lists(st.floats(), max_size=3)), max_size=9)
    .map(lambda d: json.dumps(d).encode()),
)


@FUZZ
@given(data=PROFILE_BYTES)
def test_a_hostile_profile_file_is_one_line_and_leaves_no_run(tmp_path_factory, data):
    base = tmp_path_factory.mktemp("profile")
    profile = base / "p.json"
    profile.write_bytes(data)
    preset = base / "p.toml"
    preset.write_text(toml_line(("replay", "seed"), "0"), encoding="utf-8")
    out = base / "run"
    code, err = run_cli("simulate", preset, "--profile", profile, "--out", out)
    assert_one_line_or_ran(code, err)
    if code == 2:
        assert str(profile) in err, err
    assert_no_rejected_run_dir(out)


SUMMARY_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=5)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)
SUMMARY_KEYS = st.sampled_from(["sent", "finished", "failed", "cancelled", "ttft_s", "goodput", "throughput", "burst",
                                "failures_by_class", "limits_broken", "name", "run_dir", "complete",
                                "kv_cache_usage_peak"])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("finished")
    preset = base / "p.toml"
    preset.write_text(toml_line(("replay", "seed"), "0"), encoding="utf-8")
    code, err = run_cli("simulate", preset, "--out", base / "run")
    assert code == 0, err
    return base / "run"


@FUZZ
@given(changes=st.dictionaries(SUMMARY_KEYS, SUMMARY_VALUES, min_size=1, max_size=4),
       whole=st.one_of(st.none(), SUMMARY_VALUES))
def test_a_summary_of_the_wrong_shape_is_one_line_naming_the_file(tmp_path_factory, finished_run, changes, whole):
    import shutil

    run = tmp_path_factory.mktemp("summary") / "run"
    shutil.copytree(finished_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary.update(changes)
    text = json.dumps(summary if whole is None else whole)
    (run / "summary.json").write_text(text)
    for argv in (("report", run), ("compare", finished_run, run)):
        code, err = run_cli(*argv)
        assert_one_line_or_ran(code, err)
        if code == 2:
            assert str(run / "summary.json") in err, err
