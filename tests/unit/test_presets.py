"""Presets: the shipped files load, build and keep their promises; bad files fail with FILE:LINE: key: reason."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from burststudio.cli import main
from burststudio.presets import (PresetError, load_preset, preset_from_dict, preset_from_trace, render_doc,
                                 update_doc)
from burststudio.settings import ReplaySettings, TargetSettings
from burststudio.workload.stats import summarize

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted((ROOT / "presets").glob("*.toml"))
SHIPPED = {p.stem for p in PRESETS}

GENERATOR = """\
[workload]
duration_s = 60.0

[workload.arrivals]
process = "poisson"
rate = 5.0

[workload.prompt]
dist = "fixed"
value = 100

[workload.output]
dist = "fixed"
value = 20
"""


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> PresetError:
    with pytest.raises(PresetError) as info:
        load_preset(path)
    return info.value


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (so tests do not hard-code line numbers)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# The shipped presets ---------------------------------------------------------------------------------------------
def test_every_promised_preset_is_shipped():
    assert {"burstgpt-paper", "steady-poisson", "on-off-bursts", "flash-crowd", "diurnal-conversation",
            "azure-code-replay", "mooncake-conversation-replay"} <= SHIPPED


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_shipped_preset_loads_and_builds(path):
    text = path.read_text()
    assert text.startswith("#"), "each preset opens with a comment header saying what it shows"
    preset = load_preset(path)
    assert preset.name == path.stem
    # Presets that start their own engine say so (vllm-*, and the study's burstiness sweep, named as the study
    # names it); the rest attach to a server on the default port.
    if path.stem.startswith("vllm-") or path.stem == "burstiness-sweep":
        assert preset.target.kind == "vllm"
    else:
        assert preset.target.kind == "url" and preset.target.url == "http://127.0.0.1:8000"
    w = preset.build_workload()
    assert len(w) > 100
    assert w.meta.name == path.stem
    assert (w.prompt_tokens > 0).all() and (w.output_tokens > 0).all()


@pytest.mark.parametrize("name", ["steady-poisson", "burstgpt-paper", "on-off-bursts", "flash-crowd",
                                  "diurnal-conversation"])
def test_generator_presets_fit_the_tiny_engine(name):
    """Prompt + output within 512 tokens, the bundled CPU engine's max_model_len."""
    w = load_preset(ROOT / "presets" / f"{name}.toml").build_workload()
    assert int((w.prompt_tokens + w.output_tokens).max()) <= 512


@pytest.mark.parametrize("name", ["azure-code-replay", "mooncake-conversation-replay"])
def test_replay_presets_use_the_shipped_traces_rate_scaled(name):
    preset = load_preset(ROOT / "presets" / f"{name}.toml")
    assert Path(preset.workload_spec["trace"]).parent == ROOT / "traces"
    assert preset.workload_spec["rate_scale"] < 1
    assert preset.replay.overlong == "clip"  # the header documents the clipping on the 512-token engine
    assert summarize(preset.build_workload())["rate_rps"] < 2.0


# The promised statistics -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_steady_poisson_is_poisson(seed):
    s = summarize(load_preset(ROOT / "presets/steady-poisson.toml").build_workload(seed))
    assert s["interarrival_cv"] == pytest.approx(1.0, abs=0.08)
    assert s["rate_rps"] == pytest.approx(5.0, rel=0.08)
    assert s["prompt_tokens"]["p50"] == pytest.approx(200, rel=0.1)
    assert s["output_tokens"]["p50"] == pytest.approx(64, rel=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_burstgpt_paper_has_gamma_cv(seed):
    w = load_preset(ROOT / "presets/burstgpt-paper.toml").build_workload(seed)
    s = summarize(w)
    assert s["interarrival_cv"] == pytest.approx(math.sqrt(2), abs=0.12)
    assert s["rate_rps"] == pytest.approx(1.0, rel=0.1)
    assert w.duration_s == pytest.approx(3600, rel=0.02)


@pytest.mark.parametrize("seed", [0, 1])
def test_on_off_bursts_are_overdispersed(seed):
    s = summarize(load_preset(ROOT / "presets/on-off-bursts.toml").build_workload(seed))
    assert s["idc"]["10s"] > 5.0


@pytest.mark.parametrize("seed", [0, 1])
def test_flash_crowd_peaks(seed):
    s = summarize(load_preset(ROOT / "presets/flash-crowd.toml").build_workload(seed))
    assert s["peak_to_mean_1s"] >= 3.0


def test_diurnal_conversation_has_sessions_and_shared_prefixes():
    w = load_preset(ROOT / "presets/diurnal-conversation.toml").build_workload()
    assert w.has("session_id") and w.has("prefix_blocks")
    sessions = w.table.column("session_id").to_pylist()
    assert len(set(sessions)) < len(sessions)  # several turns per conversation
    # The daily cycle: the busiest 100 s of the 600 s "day" see clearly more requests than the quietest.
    counts = [((w.arrival_s % 600) // 100 == k).sum() for k in range(6)]
    assert max(counts) > 2 * min(counts)


# Validation errors: file, line, key ------------------------------------------------------------------------------
def test_unknown_section(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[replays]\nmode = \"open\"\n")
    err = error_of(path)
    assert str(err).startswith(f"{path}:{line_of(path.read_text(), '[replays]')}: replays: unknown section")
    assert "replay" in str(err)


def test_unknown_key_suggests_the_known_one(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[replay]\nmode = \"open\"\ntimescale = 2.0\n")
    err = error_of(path)
    assert str(err) == (f"{path}:{line_of(path.read_text(), 'timescale')}: replay.timescale: unknown key "
                        "(did you mean time_scale?)")


def test_unknown_key_in_nested_settings_table(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[target]\nkind = \"vllm\"\n\n[target.vllm]\nmax_len = 128\n")
    err = error_of(path)
    assert err.line == line_of(path.read_text(), "max_len") and err.key == "target.vllm.max_len"


def test_wrong_type(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[replay]\ntime_scale = \"fast\"\n")
    err = error_of(path)
    assert str(err) == f'{path}:{line_of(path.read_text(), "fast")}: replay.time_scale: must be a number, got "fast"'


def test_bool_is_not_an_integer_but_int_is_a_float(tmp_path):
    err = error_of(write(tmp_path, GENERATOR + "\n[replay]\nusers = true\n"))
    assert err.key == "replay.users" and "integer" in err.reason
    preset = load_preset(write(tmp_path, GENERATOR + "\n[replay]\ntime_scale = 2\n", "ok.toml"))
    assert preset.replay.time_scale == 2.0 and isinstance(preset.replay.time_scale, float)


def test_value_out_of_range(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[replay]\nmode = \"open\"\ntime_scale = -1\n")
    assert str(error_of(path)) == f"{path}:{line_of(path.read_text(), 'time_scale')}: replay.time_scale: " \
                                  "must be > 0, got -1"


def test_negative_rate_in_a_generator(tmp_path):
    path = write(tmp_path, GENERATOR.replace("rate = 5.0", "rate = -5.0"))
    err = error_of(path)
    assert err.line == line_of(path.read_text(), "rate = -5.0")
    assert err.key == "workload.arrivals.rate" and "-5" in err.reason


def test_bad_choice(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[target]\nkind = \"docker\"\n")
    err = error_of(path)
    assert err.line == line_of(path.read_text(), "docker") and err.key == "target.kind"
    assert "url, vllm, sim" in err.reason


def test_unknown_generator_process(tmp_path):
    path = write(tmp_path, GENERATOR.replace('process = "poisson"', 'process = "poison"'))
    err = error_of(path)
    assert err.line == line_of(path.read_text(), "poison") and err.key == "workload.arrivals.process"


def test_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, GENERATOR + "\n[replay]\nmode open\n")
    err = error_of(path)
    assert err.line == line_of(path.read_text(), "mode open")
    assert str(err).startswith(f"{path}:{err.line}: invalid TOML: ")
    assert "\n" not in str(err)


def test_inline_tables_and_dotted_keys_are_located(tmp_path):
    text = GENERATOR + "\n[replay]\nmode = \"open\"\ntimeouts = { connect_s = 1.0, total_s = -3 }\n"
    err = error_of(write(tmp_path, text))
    assert (err.key, err.line) == ("replay.timeouts.total_s", line_of(text, "total_s"))
    text = GENERATOR + "\n[replay]\nmode = \"open\"\nlimits.goodput_min = 2.0\n"
    err = error_of(write(tmp_path, text))
    assert (err.key, err.line) == ("replay.limits.goodput_min", line_of(text, "goodput_min"))
    assert "<= 1" in err.reason


def test_trace_workload_errors(tmp_path):
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0,1,1\n")
    base = "[workload]\ntrace = \"t.csv\"\n"
    cases = [("failed = \"maybe\"\n", "workload.failed"), ("rate_scal = 0.5\n", "workload.rate_scal"),
             ("window_s = [10, 5]\n", "workload.window_s"), ("rate_scale = -2\n", "workload.rate_scale"),
             ("sample = 1.5\n", "workload.sample"), ("format = \"excel\"\n", "workload.format")]
    for extra, key in cases:
        text = base + "seed = 1\n" + extra
        err = error_of(write(tmp_path, text))
        assert (err.key, err.line) == (key, 4), (extra, str(err))


def test_missing_workload_and_missing_file(tmp_path):
    err = error_of(write(tmp_path, "[replay]\nmode = \"open\"\n"))
    assert err.key == "workload" and "missing" in err.reason
    err = error_of(tmp_path / "nope.toml")
    assert str(err) == f"{tmp_path / 'nope.toml'}: no such preset file"


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, GENERATOR + "\n[replay]\nrate_scale = -1\n")
    code = main(["synth", str(path), "--out", str(tmp_path / "w.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"{path}:{line_of(path.read_text(), 'rate_scale')}: replay.rate_scale: must be > 0, got -1" in err
    assert not (tmp_path / "w.parquet").exists()


# Paths, resolved presets and saving ------------------------------------------------------------------------------
def test_relative_paths_resolve_from_the_preset_folder(tmp_path, monkeypatch):
    (tmp_path / "exp").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "traces/azure_llm_2023_code.csv", tmp_path / "data/code.csv")
    path = write(tmp_path / "exp", '[workload]\ntrace = "../data/code.csv"\nhead = 50\n')
    monkeypatch.chdir(tmp_path / "data")  # not the preset's folder
    preset = load_preset(Path("..") / "exp" / "x.toml")
    assert preset.workload_spec["trace"] == str((tmp_path / "data/code.csv").resolve())
    assert len(preset.build_workload()) == 50


def test_relative_paths_inside_a_generator(tmp_path):
    shutil.copy(ROOT / "traces/azure_llm_2023_code.csv", tmp_path / "code.csv")
    text = GENERATOR.replace('[workload.prompt]\ndist = "fixed"\nvalue = 100',
                             '[workload.prompt]\ndist = "empirical"\ntrace = "code.csv"')
    preset = load_preset(write(tmp_path, text))
    assert preset.workload_spec["prompt"]["trace"] == str(tmp_path.resolve() / "code.csv")
    assert "code.csv" in preset.resolved_toml()


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_resolved_toml_round_trips(path, tmp_path):
    preset = load_preset(path)
    again_path = tmp_path / "elsewhere" / "preset.toml"
    again_path.parent.mkdir()
    again_path.write_text(preset.resolved_toml())
    again = load_preset(again_path)
    assert again.target == preset.target and again.replay == preset.replay
    assert again.name == preset.name and again.seed == preset.seed
    assert again.resolved_dict() == preset.resolved_dict()
    assert again.build_workload().table.equals(preset.build_workload().table)


def test_resolved_toml_fills_every_default(tmp_path):
    import tomllib

    data = tomllib.loads(load_preset(write(tmp_path, GENERATOR)).resolved_toml())
    assert data["replay"] == dataclasses.asdict(ReplaySettings())
    assert data["target"] == dataclasses.asdict(TargetSettings())
    assert data["workload"]["name"] == "x" and data["workload"]["seed"] == 0


def test_save_writes_a_minimal_preset_with_relative_paths(tmp_path):
    preset = load_preset(ROOT / "presets/azure-code-replay.toml")
    preset.replay.slo_ttft_s = 2.5
    (tmp_path / "mine").mkdir()
    out = preset.save(tmp_path / "mine" / "saved.toml", header="saved from the studio")
    text = out.read_text()
    assert text.startswith("# saved from the studio\n")
    assert "slo_ttft_s = 2.5" in text and "scrape_interval_s" not in text
    relative = os.path.relpath(ROOT / "traces/azure_llm_2023_code.csv", (tmp_path / "mine").resolve())
    assert f'trace = "{relative}"' in text
    again = load_preset(out)
    assert again.workload_spec["trace"] == preset.workload_spec["trace"]
    assert again.replay == preset.replay
    assert again.build_workload().table.equals(preset.build_workload().table)


def test_preset_from_trace(traces_dir):
    preset = preset_from_trace(traces_dir / "mooncake_conversation_trace.jsonl")
    assert preset.name == "mooncake_conversation_trace"
    assert preset.target == TargetSettings() and preset.replay == ReplaySettings()
    assert len(preset.build_workload()) == 12031
    assert "mooncake_conversation_trace.jsonl" in preset.resolved_toml()


def test_preset_from_dict_names_the_key_without_a_file(traces_dir):
    with pytest.raises(PresetError) as info:
        preset_from_dict({"workload": {"trace": str(traces_dir / "burstgpt_1_head42.csv")}, "replay": {"users": 0}})
    assert str(info.value) == "<preset>: replay.users: must be >= 1, got 0"


# The document ----------------------------------------------------------------------------------------------------
def test_docs_match_the_code():
    doc = (ROOT / "docs/presets.md").read_text()
    assert update_doc(doc) == doc, "docs/presets.md is stale: run python -m burststudio.presets --write docs/presets.md"


def test_docs_list_every_setting_and_generator():
    from burststudio.workload.synth import spec as registry

    doc = render_doc()
    for cls in (TargetSettings, ReplaySettings):
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in doc
    for family in registry.FAMILIES.values():
        for kind in family.kinds:
            assert f'`{family.key} = "{kind}"`' in doc


def test_missing_trace_file_points_at_its_line(tmp_path):
    path = write(tmp_path, '[workload]\nseed = 1\ntrace = "../traces/nope.csv"\n')
    err = error_of(path)
    assert (err.key, err.line) == ("workload.trace", 3)
    assert str((tmp_path / "../traces/nope.csv").resolve()) in err.reason
    text = GENERATOR.replace('[workload.prompt]\ndist = "fixed"\nvalue = 100',
                             '[workload.prompt]\ndist = "empirical"\ntrace = "gone.csv"')
    err = error_of(write(tmp_path, text))
    assert (err.key, err.line) == ("workload.prompt.trace", line_of(text, "gone.csv"))


def test_array_of_tables_rows_are_located(tmp_path):
    text = GENERATOR.replace('process = "poisson"\nrate = 5.0', 'process = "windowed_gamma"\n\n'
                             '[[workload.arrivals.windows]]\nduration_s = 10.0\nrate = 2.0\n\n'
                             '[[workload.arrivals.windows]]\nduration_s = 10.0\nrate = -1.0\n')
    err = error_of(write(tmp_path, text))
    assert (err.key, err.line) == ("workload.arrivals.windows[1].rate", line_of(text, "rate = -1.0"))


def test_saving_a_loaded_preset_keeps_its_header_and_the_keys_it_wrote(tmp_path):
    from burststudio.presets import header_comment

    text = ("# shipped: what this preset is for.\n#\n#   burststudio synth it\n\n[workload]\n"
            'trace = "t.csv"\ntime_scale = 1.0\nseed = 0\n\n[replay]\nduration_s = 0.0\n')
    (tmp_path / "t.csv").write_text("arrival_s,prompt_tokens,output_tokens\n0,1,1\n1,2,2\n")
    (tmp_path / "p.toml").write_text(text)
    preset = load_preset(tmp_path / "p.toml")
    assert header_comment(text) == "shipped: what this preset is for.\n\n  burststudio synth it"
    again = preset.to_toml(tmp_path, header_comment(text), like=text)
    assert again.startswith("# shipped: what this preset is for.\n#\n#   burststudio synth it\n")
    for key in ("time_scale = 1.0", "seed = 0", "duration_s = 0.0"):
        assert key in again, key
    assert "time_scale" not in preset.to_toml(tmp_path)  # without `like`, defaults are left out as before
