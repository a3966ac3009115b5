"""`burststudio inspect`: one JSON object with the format, the file's metadata and the summary figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from burststudio.cli import main
from burststudio.workload import Workload
from burststudio.workload.formats import load

DATA = Path(__file__).resolve().parent.parent / "data"
SUMMARY_KEYS = {"requests", "duration_s", "rate_rps", "interarrival_cv", "idc", "peak_to_mean_1s", "prompt_tokens",
                "output_tokens", "failed_share"}


def _inspect(capsys, *argv) -> dict:
    assert main(["inspect", *map(str, argv), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_burstgpt_json(capsys, traces_dir):
    f = _inspect(capsys, traces_dir / "burstgpt_1_head42.csv")
    assert SUMMARY_KEYS <= f.keys()
    assert f["format"] == "burstgpt" and f["name"] == "burstgpt_1_head42"
    assert f["file"].endswith("burstgpt_1_head42.csv")
    assert f["requests"] == 42
    assert f["duration_s"] == 4720.0
    assert f["start_time_of_day_s"] == 5.0
    assert f["failed_share"] == pytest.approx(4 / 42)
    assert set(f["by_model"]) == {"ChatGPT", "GPT-4"}
    assert f["by_model"]["ChatGPT"]["requests"] + f["by_model"]["GPT-4"]["requests"] == 42
    assert set(f["by_source"]) == {"Conversation log"}
    assert set(f["idc"]) == {"1s", "10s", "60s"}
    assert set(f["prompt_tokens"]) == {"mean", "p50", "p90", "p99", "max"}
    assert f["prompt_tokens"]["max"] == 1840


def test_azure_and_mooncake_json(capsys, traces_dir):
    az = _inspect(capsys, traces_dir / "azure_llm_2023_code.csv")
    assert az["format"] == "azure" and az["requests"] == 8819
    assert az["start_datetime"] == "2023-11-16T18:17:03.979960"
    assert "by_model" not in az and "by_source" not in az
    mc = _inspect(capsys, traces_dir / "mooncake_conversation_trace.jsonl")
    assert mc["format"] == "mooncake" and mc["requests"] == 12031
    assert mc["output_tokens"]["max"] == 2000


def test_synthesised_parquet_shows_generator_and_seed(capsys, tmp_path, traces_dir):
    w = load(traces_dir / "burstgpt_1_head42.csv")
    f = tmp_path / "synth.parquet"
    Workload(w.table, w.meta.derive(None, generator={"name": "gamma", "shape": 0.5, "scale": 2.0}, seed=42)).to_parquet(f)
    out = _inspect(capsys, f)
    assert out["format"] == "workload" and out["origin_format"] == "burstgpt"
    assert out["generator"] == {"name": "gamma", "shape": 0.5, "scale": 2.0}
    assert out["seed"] == 42


def test_columns_option(capsys):
    out = _inspect(capsys, DATA / "generic_seconds.jsonl", "--columns",
                   "arrival_s=t,prompt_tokens=p,output_tokens=o,prefix_blocks=blocks")
    assert out["format"] == "jsonl" and out["requests"] == 3 and out["duration_s"] == 2.75


def test_bad_columns_option_is_one_line(capsys):
    assert main(["inspect", str(DATA / "generic_seconds.jsonl"), "--columns", "arrival_s"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--columns" in err


def test_table_on_terminal_via_subprocess(traces_dir):
    proc = subprocess.run([sys.executable, "-m", "burststudio", "inspect", str(traces_dir / "burstgpt_1_head42.csv")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "requests" in proc.stdout and "42" in proc.stdout
    assert "GPT-4" in proc.stdout and "Conversation log" in proc.stdout
