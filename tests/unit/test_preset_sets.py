"""`--set KEY.PATH=VALUE`: one preset value changed on the command line, validated as a line of the preset."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from burststudio.cli import build_parser, main
from burststudio.presets import PresetError, load_preset, parse_set, preset_from_dict, with_sets
from burststudio.workload.model import Workload

ROOT = Path(__file__).resolve().parents[2]
STEADY = ROOT / "presets" / "steady-poisson.toml"
AZURE = ROOT / "presets" / "azure-code-replay.toml"


@pytest.mark.parametrize("item, path, value", [
    ("workload.arrivals.rate=3", ("workload", "arrivals", "rate"), 3),
    ("workload.arrivals.cv=2.5", ("workload", "arrivals", "cv"), 2.5),
    ('workload.name="x y"', ("workload", "name"), "x y"),
    ("target.sim.enable_prefix_caching=false", ("target", "sim", "enable_prefix_caching"), False),
    ("target.kind=sim", ("target", "kind"), "sim"),
    ("workload.name=two words", ("workload", "name"), "two words"),
    ("workload.window_s=[0, 60]", ("workload", "window_s"), [0, 60]),
    (' replay . "time_scale" = 2 ', ("replay", "time_scale"), 2),
])
def test_values_read_as_toml_and_bare_words_as_strings(item, path, value):
    assert parse_set(item) == (path, value)


def test_a_set_changes_the_workload_and_the_settings():
    preset = load_preset(STEADY)
    changed = with_sets(preset, ["workload.arrivals.rate=1", "replay.timeouts.total_s=60", "target.kind=sim"])
    assert changed.workload_spec["arrivals"]["rate"] == 1.0
    assert changed.replay.timeouts.total_s == 60.0 and changed.target.kind == "sim"
    assert len(changed.build_workload()) < len(preset.build_workload()) / 3
    # The later of two sets of one key wins, as a later line of a file would.
    assert with_sets(preset, ["workload.arrivals.rate=1", "workload.arrivals.rate=2"]).workload_spec["arrivals"][
        "rate"] == 2.0


def test_a_set_on_a_trace_preset():
    preset = with_sets(load_preset(AZURE), ["workload.head=10"])
    assert len(preset.build_workload()) == 10


def test_the_resolved_preset_records_the_sets_and_loads_back():
    preset = with_sets(load_preset(STEADY), ["workload.arrivals.rate=1.5"])
    text = preset.resolved_toml()
    assert "--set workload.arrivals.rate=1.5" in text.splitlines()[1]
    again = preset_from_dict(tomllib.loads(text), path=STEADY, text=text)
    assert again.workload_spec["arrivals"]["rate"] == 1.5


def test_a_newline_in_a_set_keeps_the_resolved_preset_loadable():
    preset = with_sets(load_preset(STEADY), ['workload.name=one\ntwo = 3'])
    text = preset.resolved_toml()
    assert tomllib.loads(text)["workload"]["name"] == "one\ntwo = 3"


@pytest.mark.parametrize("item, message", [
    ("workload.arrivals.rate=abc",
     "--set workload.arrivals.rate=abc: workload.arrivals.rate: must be a number, not a string ('abc')"),
    ("workload.arrivalz.rate=2", "--set workload.arrivalz.rate=2: workload.arrivalz: unknown key 'arrivalz'"),
    ("replay.time_scale=0", "--set replay.time_scale=0: replay.time_scale: must be > 0, got 0"),
    ("replay.mode.x=1", "--set replay.mode.x=1: replay.mode: is \"open\", not a table"),
    ("target.kind=bogus", '--set target.kind=bogus: target.kind: must be one of url, vllm, sim; got "bogus"'),
    ("workload", "--set workload: expected KEY.PATH=VALUE"),
    ("workload..x=1", "--set workload..x=1: not a key path"),
])
def test_a_bad_set_names_the_flag(item, message):
    with pytest.raises(PresetError) as info:
        with_sets(load_preset(STEADY), [item])
    assert str(info.value).startswith(message)


def test_synth_with_a_set(tmp_path, capsys):
    plain, changed = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert main(["synth", str(STEADY), "--out", str(plain)]) == 0
    assert main(["synth", str(STEADY), "--out", str(changed), "--set", "workload.arrivals.rate=1"]) == 0
    assert len(Workload.from_parquet(changed)) < len(Workload.from_parquet(plain)) / 3


@pytest.mark.parametrize("item", ["workload.arrivals.rate=abc", "workload.nonsense=1"])
def test_synth_with_a_bad_set_exits_2_with_one_line(item, tmp_path, capsys):
    assert main(["synth", str(STEADY), "--out", str(tmp_path / "w.parquet"), "--set", item]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"burststudio synth: error: --set {item}: workload.")
    assert not (tmp_path / "w.parquet").exists()


def test_simulate_records_the_set_in_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(STEADY), "--out", str(out), "--duration", "5", "--json",
                 "--set", "workload.arrivals.rate=2", "--set", "target.sim.num_blocks=32"]) == 0
    stored = (out / "preset.toml").read_text()
    data = tomllib.loads(stored)
    assert data["workload"]["arrivals"]["rate"] == 2.0 and data["target"]["sim"]["num_blocks"] == 32
    assert "--set target.sim.num_blocks=32" in stored
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["sent"] <= 18  # about 10 at 2 requests/s, 25 at the preset's 5


@pytest.mark.parametrize("command", [["replay", "x.toml"], ["simulate", "x.toml"], ["synth", "x.toml", "-o", "w"],
                                     ["sweep", "x.toml", "--rate-scale", "1"]])
def test_every_preset_command_takes_repeated_sets(command):
    args = build_parser().parse_args([*command, "--set", "a.b=1", "--set", "c=2"])
    assert args.sets == ["a.b=1", "c=2"]
