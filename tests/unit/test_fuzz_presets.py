"""Fuzzing the preset validator: any text in a preset file gives a Preset or one clear PresetError line.

Inputs are raw bytes, TOML-like texts assembled from the real sections and keys with hostile values, and the shipped
presets mutated (bytes flipped, lines dropped or doubled, values swapped). A preset that loads must also write
itself back (`resolved_toml`) into a text that loads again.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, outcome  # noqa: E402

from burststudio.presets import Preset, load_preset  # noqa: E402
from burststudio.settings import ReplaySettings, TargetSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PRESETS = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "presets").glob("*.toml"))}


def _keys(cls) -> list[str]:
    out = []
    for f in dataclasses.fields(cls):
        out.append(f.name)
        if dataclasses.is_dataclass(f.type if isinstance(f.type, type) else None):
            out += _keys(f.type)
    return out


SECTIONS = ["workload", "target", "target.vllm", "target.sim", "replay", "replay.timeouts", "replay.limits",
            "workload.arrivals", "workload.prompt", "workload.output", "workload.sessions", "workload.columns",
            "nonsense", "[workload.merge]"]
KEYS = sorted(set(_keys(TargetSettings) + _keys(ReplaySettings) + [
    f.name for cls in (TargetSettings, ReplaySettings) for f in dataclasses.fields(cls)] + [
    "name", "seed", "trace", "format", "columns", "model", "source", "failed", "window_s", "time_scale",
    "rate_scale", "sample", "head", "duration_s", "process", "rate", "dist", "median", "sigma", "min", "max",
    "shape", "scale", "cv", "kind", "url", "generator", "arrival_s"]))
VALUES = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.floats().map(lambda x: "nan" if x != x else ("inf" if x == float("inf") else
                                                    "-inf" if x == float("-inf") else repr(x))),
    st.sampled_from(['""', '"auto"', '"url"', '"vllm"', '"sim"', '"open"', '"closed"', '"poisson"', '"gamma"',
                     '"lognormal"', '"../traces/burstgpt_1_head42.csv"', '"/nonexistent/x.csv"', '"tiny"', "true",
                     "false", "[]", "[0, 1]", "[1, 0]", "[0, inf]", "[nan, 1]", '["a", 1]', "{}",
                     '{ a = "b" }', "1979-05-27T07:32:00Z", "[[1]]", '"""x"""', "'lit'", "0x10", "1_000"]),
    st.text(max_size=10).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)


@st.composite
def toml_texts(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        section = draw(st.sampled_from(SECTIONS))
        lines.append(f"[{section}]")
        for _ in range(draw(st.integers(0, 5))):
            lines.append(f"{draw(st.sampled_from(KEYS))} = {draw(VALUES)}")
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.text(max_size=20)))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def mutated_presets(draw) -> bytes:
    text = draw(st.sampled_from(sorted(PRESETS.values())))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        k = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "value", "flip", "cut"]))
        if op == "drop":
            del lines[k]
        elif op == "double":
            lines.insert(k, lines[k])
        elif op == "value" and "=" in lines[k]:
            lines[k] = lines[k].split("=", 1)[0] + "= " + draw(VALUES)
        elif op == "flip" and lines[k]:
            pos = draw(st.integers(0, len(lines[k]) - 1))
            lines[k] = lines[k][:pos] + draw(st.sampled_from(list("[]{}=\"'#.,0-x\\\n"))) + lines[k][pos + 1:]
        elif op == "cut":
            lines = lines[:k]
    return "\n".join(lines).encode("utf-8")


def check(tmp_path_factory, data: bytes) -> None:
    # The shipped presets name traces as ../traces/...: the file sits where that resolves.
    base = tmp_path_factory.mktemp("fuzz")
    (base / "traces").symlink_to(ROOT / "traces")
    (base / "presets").mkdir()
    path = base / "presets" / "fuzzed.toml"
    path.write_bytes(data)
    kind, preset = outcome(lambda: load_preset(path))
    if kind == "ok":
        assert isinstance(preset, Preset)
        again = base / "presets" / "again.toml"
        again.write_text(preset.resolved_toml(), encoding="utf-8")
        kind2, _ = outcome(lambda: load_preset(again))
        assert kind2 == "ok", "a preset that loaded did not load again from its resolved form"


@FUZZ
@given(data=st.binary(max_size=1500))
def test_raw_bytes(tmp_path_factory, data):
    check(tmp_path_factory, data)


@FUZZ
@given(data=toml_texts())
def test_toml_like_texts(tmp_path_factory, data):
    check(tmp_path_factory, data)


@FUZZ
@given(data=mutated_presets())
def test_mutated_shipped_presets(tmp_path_factory, data):
    check(tmp_path_factory, data)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_shipped_preset_loads(name):
    # Loaded from presets/ itself, so a preset that names a missing trace or a bad key fails here.
    preset = load_preset(ROOT / "presets" / name)
    assert isinstance(preset, Preset)
    again = load_preset_text(preset.resolved_toml(), ROOT / "presets" / f"resolved-{name}")
    assert again.resolved_dict() == preset.resolved_dict()
    workload = preset.build_workload()
    assert len(workload) > 0, f"{name} builds an empty workload"


def load_preset_text(text: str, path: Path) -> Preset:
    import tomllib

    from burststudio.presets import preset_from_dict

    return preset_from_dict(tomllib.loads(text), path=path, text=text)
