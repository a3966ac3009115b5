"""`burststudio synth PRESET --out FILE [--seed N]`: reproducible files, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from burststudio.cli import main
from burststudio.presets import load_preset
from burststudio.workload.model import Workload

ROOT = Path(__file__).resolve().parents[2]
BURSTGPT = ROOT / "presets" / "burstgpt-paper.toml"


def synth(*args: str) -> int:
    return main(["synth", *map(str, args)])


def test_same_preset_and_seed_give_the_same_bytes(tmp_path, capsys):
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    assert synth(BURSTGPT, "--out", a, "--seed", 7) == 0
    assert synth(BURSTGPT, "--out", b, "--seed", 7) == 0
    assert synth(BURSTGPT, "--out", c, "--seed", 8) == 0
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    # The writer stores its version, never a time or host: the footer is part of the bytes compared above.
    assert pq.ParquetFile(a).metadata.created_by.startswith("parquet-cpp-arrow")
    summary = capsys.readouterr().err.strip().splitlines()
    assert len(summary) == 3 and "burstgpt-paper" in summary[0] and "seed 7" in summary[0]


@pytest.mark.parametrize("name", ["diurnal-conversation", "azure-code-replay"])
def test_reproducible_for_sessions_and_traces(name, tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    preset = ROOT / "presets" / f"{name}.toml"
    assert synth(preset, "--out", a) == 0
    assert synth(preset, "--out", b) == 0
    assert a.read_bytes() == b.read_bytes()


def test_default_seed_is_the_presets(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert synth(BURSTGPT, "--out", a) == 0
    assert synth(BURSTGPT, "--out", b, "--seed", load_preset(BURSTGPT).seed) == 0
    assert a.read_bytes() == b.read_bytes()


def test_file_holds_the_presets_workload(tmp_path):
    out = tmp_path / "w.parquet"
    assert synth(ROOT / "presets/steady-poisson.toml", "--out", out, "--seed", 3) == 0
    back = Workload.from_parquet(out)
    built = load_preset(ROOT / "presets/steady-poisson.toml").build_workload(3)
    assert back.table.equals(built.table)
    assert back.meta.name == "steady-poisson" and back.meta.seed == 3
    assert back.meta.generator  # the generator parameters travel with the file, for `inspect`


def test_bad_preset_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BURSTGPT.read_text().replace("shape = 0.5", "shape = -0.5"))
    cmd = [sys.executable, "-m", "burststudio", "synth", str(bad), "--out", str(tmp_path / "w.parquet")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "shape = -0.5" in t)
    assert f"{bad}:{line}: workload.arrivals.shape:" in lines[0]
    assert not (tmp_path / "w.parquet").exists()


@pytest.mark.parametrize("args, message", [
    (["{missing}", "--out", "{tmp}/w.parquet"], "no such preset file"),
    (["{preset}", "--out", "{tmp}/no/such/dir/w.parquet"], "does not exist"),
    (["{preset}", "--out", "{tmp}"], "is a directory"),
    (["{preset}", "--out", "{tmp}/w.parquet", "--seed", "-1"], "--seed: must be >= 0, got -1"),
])
def test_usage_errors(args, message, tmp_path, capsys):
    subst = {"missing": tmp_path / "missing.toml", "tmp": tmp_path, "preset": BURSTGPT}
    assert synth(*[a.format(**subst) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
