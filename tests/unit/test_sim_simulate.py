"""`burststudio simulate` writes a replay's run directory and summary, in virtual time."""

import json
from pathlib import Path

import pyarrow.parquet as pq

from burststudio.cli import main
from burststudio.replay.recorder import read_journal

ROOT = Path(__file__).resolve().parents[2]

PRESET = """
[workload]
name = "tiny-burst"
duration_s = 20.0
seed = 1

[workload.arrivals]
process = "gamma"
shape = 0.5
scale = 0.02

[workload.prompt]
dist = "zipf"
theta = 1.1
min = 50
max = 400

[workload.output]
dist = "zipf"
theta = 1.1
min = 20
max = 100

[target]
kind = "sim"

[target.sim]
max_num_queued_reqs = 24
"""


def test_simulate_writes_a_replay_run_directory(tmp_path, capsys):
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    out = tmp_path / "run"
    assert main(["simulate", str(preset), "--out", str(out), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads(lines[-1])  # one line, as `replay --json` and `report --json` print it
    for name in ("preset.toml", "run.json", "journal.jsonl", "metrics.jsonl", "requests.parquet",
                 "metrics.parquet", "summary.json"):
        assert (out / name).exists(), name
    assert json.loads((out / "summary.json").read_text()) == summary
    records, sent = read_journal(out)
    assert len(records) == summary["sent"] == len(sent) > 100
    assert summary["sent"] == summary["finished"] + summary["failed"] + summary["cancelled"]
    # 50 requests/s of up to 400+100 tokens overflow 16 blocks: the queue fills and the cache thrashes.
    assert summary["admission_rejections"] > 0
    assert summary["failures_by_class"].get("http_503") == summary["admission_rejections"]
    assert summary["preemptions"] > 0
    assert summary["kv_cache_usage_peak"] == 1.0
    assert summary["ttft_s"]["p50"] > 0 and summary["itl_s"]["count"] > 0
    table = pq.read_table(out / "requests.parquet")
    assert table.num_rows == summary["sent"]
    ok = [r for r in records if r["outcome"] == "ok"]
    assert all(len(r["chunks_us"]) == r["output_tokens"] for r in ok)
    metrics = pq.read_table(out / "metrics.parquet")
    assert metrics.num_rows == summary["metrics_samples"] >= 40  # every 0.5 s of virtual time
    run = json.loads((out / "run.json").read_text())
    assert run["target"]["kind"] == "sim" and run["virtual_time"] is True


def test_simulate_duration_and_profile_flags(tmp_path, capsys):
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    out = tmp_path / "run"
    assert main(["simulate", str(preset), "--out", str(out), "--duration", "2", "--profile", "h100-llama3-8b"]) == 0
    text = capsys.readouterr().out
    assert "h100-llama3-8b" in text
    summary = json.loads((out / "summary.json").read_text())
    assert 20 < summary["plan"]["rows"] < 250  # about 2 s of the 20 s at 50 requests/s


def test_simulate_errors_are_one_line(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.toml" in err
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    assert main(["simulate", str(preset), "--out", str(tmp_path / "r"), "--profile", "nope"]) == 2
    assert "unknown cost profile" in capsys.readouterr().err
    preset.write_text(PRESET.replace("max_num_queued_reqs = 24", "num_blocks = 2"))
    assert main(["simulate", str(preset), "--out", str(tmp_path / "r2")]) == 2
    assert "max_model_len" in capsys.readouterr().err


def test_burstgpt_paper_hour_simulates_in_seconds(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(ROOT / "presets" / "burstgpt-paper.toml"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["simulation"]["virtual_duration_s"] > 3500
    assert summary["finished"] == summary["sent"] > 3000


def test_the_kv_pressure_preset_simulates_the_engine_it_starts(tmp_path, capsys):
    """The preset's [target.sim] mirrors its [target.vllm]: the same queue limit, so the bursts are rejected both
    ways (503 before the stream, an error event inside one) as the real engine does, and they preempt."""
    from burststudio.presets import load_preset

    preset = load_preset(ROOT / "presets" / "vllm-cpu-kv-pressure.toml")
    vllm, sim = preset.target.vllm, preset.target.sim
    assert (sim.max_num_seqs, sim.max_num_batched_tokens, sim.max_model_len, sim.max_num_queued_reqs) == (
        vllm.max_num_seqs, vllm.max_num_batched_tokens, vllm.max_model_len, vllm.max_num_queued_reqs)
    out = tmp_path / "run"
    assert main(["simulate", str(ROOT / "presets" / "vllm-cpu-kv-pressure.toml"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["admission_rejections"] > 0
    assert summary["failures_by_class"].get("http_503", 0) > 0
    assert summary["failures_by_class"].get("stream_error", 0) > 0
    assert summary["preemptions"] > 0
    assert summary["kv_cache_usage_peak"] == 1.0


def test_simulated_requests_parquet_keeps_the_engine_fields(tmp_path, capsys):
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    out = tmp_path / "run"
    assert main(["simulate", str(preset), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    table = pq.read_table(out / "requests.parquet").to_pydict()
    ok = [k for k, o in enumerate(table["outcome"]) if o == "ok"]
    assert ok
    for name in ("preemptions", "cached_tokens", "engine_first_s", "engine_end_s", "engine_arrival_s"):
        assert name in table, name
        assert all(table[name][k] is not None for k in ok), name
    assert sum(table["preemptions"]) > 0  # the preset thrashes the cache
    for k in ok:
        assert table["engine_arrival_s"][k] <= table["engine_first_s"][k] <= table["engine_end_s"][k]


def test_a_client_record_leaves_the_engine_fields_null():
    from burststudio.replay.client import RequestRecord
    from burststudio.replay.recorder import records_table

    rec = RequestRecord(0, 3, 10, 5, 1_000)
    rec.sent_ns, rec.first_ns, rec.end_ns, rec.chunk_ns = 2_000, 3_000, 4_000, [3_000, 4_000]
    rec.outcome, rec.status = "ok", 200
    table = records_table([rec.to_json_dict(0)]).to_pydict()
    assert table["row"] == [3] and table["chunks_us"] == [[1, 2]]
    for name in ("preemptions", "cached_tokens", "engine_first_s", "engine_end_s", "engine_arrival_s"):
        assert table[name] == [None], name
