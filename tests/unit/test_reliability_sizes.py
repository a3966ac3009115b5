"""Work without bounds: what a command is asked to build is estimated first and refused in one line naming the
keys (or the file) when it passes the request limit; streams are counted as they are read; files that are not
regular files are refused before anything opens them. Each refusal must come fast and small: the tests measure the
command's own time and peak memory (its rusage), so an estimate that is skipped shows up as gigabytes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.faults import FaultServer, accounted, preset_text  # noqa: E402
from tests.support.replay import workload  # noqa: E402

from burststudio import cli, limits  # noqa: E402
from burststudio.errors import UserError  # noqa: E402
from burststudio.targets.sim.costmodel import PROFILES, CostProfile  # noqa: E402
from burststudio.targets.sim.engine import simulate  # noqa: E402
from burststudio.workload import formats, synth  # noqa: E402
from burststudio.workload.model import Workload, WorkloadMeta  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LENGTHS = '[workload.prompt]\ndist = "fixed"\nvalue = 10\n\n[workload.output]\ndist = "fixed"\nvalue = 10\n'
# Generous for a busy 2-core machine: the refusals themselves take well under a second and under 150 MB.
FAST_S = 15.0
SMALL_KB = 400_000


# The command runs under a small launcher: a child forked or vforked from this (large) pytest process inherits its
# peak RSS across exec, so the command's own peak is only readable from a parent that is itself small.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, float, int]:
    """(exit code, stderr, wall seconds, peak RSS in kB) of `burststudio ARGS` in its own process; the peak is
    that process's own, whatever this process or other tests' children used."""
    import tempfile

    with tempfile.TemporaryFile() as err_f, tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(peak_file), sys.executable, "-m", "burststudio",
                                 *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err_f, start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        wall = time.monotonic() - t0
        err_f.seek(0)
        peak = int(peak_file.read_text()) if peak_file.is_file() else 1 << 40
        return proc.returncode, err_f.read().decode("utf-8", "replace"), wall, peak


def one_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


AZURE = ROOT / "traces"
GENERATORS = {
    "rate": ('[workload]\nduration_s = 3600.0\n[workload.arrivals]\nprocess = "poisson"\nrate = 1e9\n',
             ["workload.duration_s", "workload.arrivals.rate"]),
    "duration": ('[workload]\nduration_s = 1e12\n[workload.arrivals]\nprocess = "poisson"\nrate = 1.0\n',
                 ["workload.duration_s", "workload.arrivals.rate"]),
    "requests": ('[workload]\nrequests = 1000000000\n[workload.arrivals]\nprocess = "gamma"\ncv = 2.0\nrate = 5.0\n',
                 ["workload.requests"]),
    "onoff_sojourns": ('[workload]\nduration_s = 1e6\n[workload.arrivals]\nprocess = "onoff"\nrate_on = 1.0\n'
                       'mean_on_s = 1e-9\nmean_off_s = 1e-9\n', ["workload.arrivals.mean_on_s"]),
    "window_gaps": ('[workload]\nduration_s = 60.0\n[workload.arrivals]\nprocess = "windowed_gamma"\n'
                    '[[workload.arrivals.windows]]\nduration_s = 1.0\nrate = 1.0\ncv = 1e6\n',
                    ["workload.arrivals.windows"]),
    "session_turns": ('[workload]\nduration_s = 1000.0\n[workload.arrivals]\nprocess = "poisson"\nrate = 1000.0\n'
                      '[workload.sessions]\nmax_context_tokens = 100000000\n[workload.sessions.turns]\n'
                      'dist = "fixed"\nvalue = 100000\n', ["workload.sessions.turns"]),
    "trace_rate": ('[workload]\nduration_s = 3600.0\n[workload.arrivals]\nprocess = "trace"\n'
                   'trace = "TRACE"\nrate = 1e9\n', ["workload.arrivals.rate"]),
    "fitted_windows": ('[workload]\nduration_s = 60.0\n[workload.arrivals]\nprocess = "windowed_gamma"\n'
                       'trace = "TRACE"\nwindow_s = 1e-9\n', ["workload.arrivals.window_s"]),
}


@pytest.mark.parametrize("case", list(GENERATORS))
def test_a_generator_too_large_is_refused_at_once_naming_its_keys(tmp_path, traces_dir, case):
    body, keys = GENERATORS[case]
    trace = traces_dir / "azure_llm_2023_code.csv"
    preset = write(tmp_path, body.replace("TRACE", str(trace)) + LENGTHS)
    code, err, wall, peak = run_cli("synth", str(preset), "--out", str(tmp_path / "w.parquet"))
    line = one_line(err)
    assert code == 2, err
    assert str(preset) in line and "more than the limit" in line and "--max-requests" in line, line
    for key in keys:
        assert key in line, line
    assert wall < FAST_S and peak < SMALL_KB, (wall, peak)
    assert not (tmp_path / "w.parquet").exists()


def test_the_limit_is_raised_by_the_flag_and_by_the_preset_key(tmp_path, capsys):
    body = '[workload]\nrequests = 2000\n[workload.arrivals]\nprocess = "poisson"\nrate = 10.0\n' + LENGTHS
    preset = write(tmp_path, body)
    out = str(tmp_path / "w.parquet")
    assert cli.main(["synth", str(preset), "-o", out, "--max-requests", "1000"]) == 2
    err = capsys.readouterr().err
    assert "workload.requests" in err and "--max-requests 1,000 requests" in err
    assert cli.main(["synth", str(preset), "-o", out, "--max-requests", "2000"]) == 0
    assert len(Workload.from_parquet(out)) == 2000
    capsys.readouterr()
    # The preset's own key: it may lower the default, and the flag wins over it.
    small = write(tmp_path, body.replace("requests = 2000", "requests = 2000\nmax_requests = 1500"), "small.toml")
    assert cli.main(["synth", str(small), "-o", out]) == 2
    assert "workload.max_requests 1,500" in capsys.readouterr().err
    assert cli.main(["synth", str(small), "-o", out, "--max-requests", "5000"]) == 0
    # ...and it goes into the resolved preset, which loads back with it.
    from burststudio.presets import load_preset, preset_from_dict

    import tomllib

    p = load_preset(small)
    again = preset_from_dict(tomllib.loads(p.resolved_toml()), path=small)
    assert again.max_requests == 1500 and "max_requests" not in again.workload_spec
    assert cli.main(["synth", str(preset), "-o", out, "--max-requests", "0"]) == 2
    assert "--max-requests: must be >= 1, got 0" in capsys.readouterr().err


def test_the_limit_of_a_command_ends_with_it(tmp_path, capsys):
    preset = write(tmp_path, '[workload]\nrequests = 2000\nmax_requests = 1000\n[workload.arrivals]\n'
                   'process = "poisson"\nrate = 10.0\n' + LENGTHS)
    assert cli.main(["synth", str(preset), "-o", str(tmp_path / "w.parquet")]) == 2
    assert limits.current() == (limits.MAX_REQUESTS, None)


def test_the_presets_limit_covers_the_rows_the_replay_adds(tmp_path, capsys):
    preset = write(tmp_path, '[workload]\nrequests = 1000\nmax_requests = 1500\n[workload.arrivals]\n'
                   'process = "poisson"\nrate = 100.0\n' + LENGTHS + '[target]\nkind = "sim"\n')
    assert cli.main(["simulate", str(preset), "--set", "replay.rate_scale=2", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "rate_scale" in err and "workload.max_requests 1,500" in err, err
    assert cli.main(["simulate", str(preset), "--set", "replay.rate_scale=2", "--max-requests", "100000",
                     "--out", str(tmp_path / "r2")]) == 0
    # sweep takes the flag as every command that builds a workload does.
    assert cli.main(["sweep", str(preset), "--rate-scale", "1", "--max-requests", "10", "--out",
                     str(tmp_path / "s")]) == 2
    assert "--max-requests 10 requests" in capsys.readouterr().err


def test_prefix_blocks_that_grow_with_turns_squared_are_refused(tmp_path):
    # 200 conversations of 64 turns whose prompts grow by 200,000 tokens a turn, one block a token: few rows,
    # trillions of block ids.
    spec = {"requests": 10000, "arrivals": {"process": "poisson", "rate": 10.0},
            "prompt": {"dist": "fixed", "value": 100000}, "output": {"dist": "fixed", "value": 100000},
            "sessions": {"block_tokens": 1, "max_context_tokens": 100_000_000, "turns": {"dist": "fixed", "value": 64}}}
    t0 = time.monotonic()
    with pytest.raises(limits.SizeError, match=r"workload\.sessions\.block_tokens.*prefix-block ids"):
        synth.synthesize(spec, seed=0)
    assert time.monotonic() - t0 < FAST_S


def _lines_gzip(path: Path, rows: int) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"arrival_s,prompt_tokens,output_tokens\n")
        for k in range(0, rows, 10000):
            f.write(b"".join(b"%d,10,10\n" % i for i in range(k, k + 10000)))
    return path


def test_a_compressed_trace_is_counted_while_it_streams(tmp_path):
    gz = _lines_gzip(tmp_path / "bomb.csv.gz", 300_000)
    t0 = time.monotonic()
    with limits.allow(50_000), pytest.raises(limits.SizeError) as info:
        formats.load(gz)
    assert time.monotonic() - t0 < FAST_S
    line = str(info.value)
    assert line.startswith(f"{gz}: ") and "at least" in line and "--max-requests 50,000" in line, line
    with limits.allow(300_000):
        assert len(formats.load(gz)) == 300_000  # at the limit, every row loads


def test_json_lines_and_parquet_are_bounded_too(tmp_path):
    jl = tmp_path / "t.jsonl"
    jl.write_text("".join(json.dumps({"arrival_s": i, "prompt_tokens": 1, "output_tokens": 1}) + "\n"
                          for i in range(3000)))
    w = workload(3000)
    pq_path = tmp_path / "t.parquet"
    w.to_parquet(pq_path)
    generic = tmp_path / "g.parquet"
    import pyarrow.parquet as pq

    pq.write_table(w.table.replace_schema_metadata(None), generic)
    for path in (jl, pq_path, generic):
        with limits.allow(1000), pytest.raises(limits.SizeError, match=str(path)):
            formats.load(path)
        with limits.allow(3000):
            assert len(formats.load(path)) == 3000


def test_fifos_and_devices_are_refused_before_they_are_opened(tmp_path, capsys):
    fifo = tmp_path / "trace.csv"
    os.mkfifo(fifo)
    # A writer on the other end: the old reader read the head from it, then waited forever for a second writer.
    writer = threading.Thread(target=lambda: _write_fifo(fifo), daemon=True)
    writer.start()
    for args in (["inspect", str(fifo)], ["replay", str(fifo)], ["synth", str(fifo), "-o", str(tmp_path / "x")],
                 ["inspect", "/dev/zero"], ["convert", "/dev/zero", "-o", str(tmp_path / "y.parquet")]):
        t0 = time.monotonic()
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert time.monotonic() - t0 < 5
        assert "not a regular file" in err and ("FIFO" in err or "character device" in err), err
    profile = tmp_path / "profile.json"
    os.mkfifo(profile)
    with pytest.raises(UserError, match="FIFO"):
        CostProfile.load(profile)
    _open_and_close(fifo)  # lets the writer thread end
    writer.join(5)


def _write_fifo(path: Path) -> None:
    try:
        with open(path, "wb") as f:
            f.write(b"arrival_s,prompt_tokens,output_tokens\n0,1,1\n")
    except OSError:
        pass


def _open_and_close(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    os.close(fd)


def test_a_preset_over_its_size_is_refused_without_being_parsed(tmp_path, capsys):
    big = write(tmp_path, "# padding\n" * 500_000 + '[workload]\ntrace = "x.csv"\n', "big.toml")
    t0 = time.monotonic()
    assert cli.main(["synth", str(big), "-o", str(tmp_path / "w.parquet")]) == 2
    assert time.monotonic() - t0 < 2
    err = capsys.readouterr().err
    assert str(big) in err and "a preset may hold" in err, err


def test_a_cost_profile_that_makes_time_explode_is_refused_naming_file_and_key(tmp_path):
    data = {k: v for k, v in PROFILES["cpu-tiny"].to_dict().items() if k != "name"}
    data["base_s"] = 1e6
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(data))
    preset = write(tmp_path, '[workload]\nrequests = 1000\n[workload.arrivals]\nprocess = "poisson"\nrate = 10.0\n'
                   + LENGTHS + '[target]\nkind = "sim"\n')
    code, err, wall, peak = run_cli("simulate", str(preset), "--profile", str(path), "--out", str(tmp_path / "r"))
    line = one_line(err)
    assert code == 2 and str(path) in line and "base_s" in line, line
    assert wall < FAST_S and peak < SMALL_KB


def test_virtual_time_is_bounded_before_and_while_simulating(tmp_path, capsys):
    # The fastest scrape the key takes (10 ms) over 100 s of virtual time is 10,000 samples: past a limit of 1,000
    # requests' bytes.
    preset = write(tmp_path, '[workload]\nrequests = 1000\n[workload.arrivals]\nprocess = "poisson"\nrate = 10.0\n'
                   + LENGTHS + '[target]\nkind = "sim"\n[replay]\nscrape_interval_s = 0.01\n')
    assert cli.main(["simulate", str(preset), "--out", str(tmp_path / "r"), "--max-requests", "1000"]) == 2
    err = capsys.readouterr().err
    assert "replay.scrape_interval_s" in err and "more than the limit" in err, err
    # While running: a profile within its bounds whose steps still take long, and a small sample budget.
    slow = CostProfile(name="slow", base_s=50.0, prefill_token_s=0.0, decode_seq_s=0.0, context_token_s=0.0)
    t0 = time.monotonic()
    with pytest.raises(limits.SizeError, match="cost profile slow.*virtual time"):
        simulate([0.0, 1.0], [10, 10], [640, 640], profile=slow, max_samples=10_000)
    assert time.monotonic() - t0 < FAST_S


def test_replicating_past_the_limit_is_refused_naming_rate_scale(tmp_path, capsys, traces_dir):
    trace = traces_dir / "azure_llm_2023_code.csv"
    preset = write(tmp_path, f'[workload]\ntrace = "{trace}"\n[target]\nkind = "sim"\n')
    t0 = time.monotonic()
    assert cli.main(["simulate", str(preset), "--set", "replay.rate_scale=1e6", "--out", str(tmp_path / "r")]) == 2
    assert time.monotonic() - t0 < FAST_S
    err = capsys.readouterr().err
    assert "rate_scale" in err and "more than the limit" in err, err


def test_out_of_memory_names_what_was_being_built(tmp_path, capsys, monkeypatch):
    preset = write(tmp_path, '[workload]\nrequests = 10\n[workload.arrivals]\nprocess = "poisson"\nrate = 1.0\n'
                   + LENGTHS)

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(synth, "synthesize", exhausted)
    assert cli.main(["synth", str(preset), "-o", str(tmp_path / "w.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"burststudio synth: error: out of memory while building the workload of {preset} (limit "
                   "10,000,000 requests); ask for less (a shorter duration, a lower rate, fewer requests)")


def test_closed_loop_users_are_bounded_by_the_requests(tmp_path):
    trace = tmp_path / "w.parquet"
    workload(40, gap_s=0.0, prompt=20, output=2).to_parquet(trace)
    preset = write(tmp_path, preset_text(trace, "URL", extra='mode = "closed"\nusers = 100000000\n'))
    with FaultServer({"ttft_s": 0.002, "token_delay_s": 0.001}) as srv:
        preset.write_text(preset.read_text().replace("URL", srv.url))
        code, err, wall, peak = run_cli("replay", str(preset), "--out", str(tmp_path / "run"), "--json")
    assert code == 0, err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert accounted(summary) and summary["sent"] == 40 and summary["finished"] == 40
    assert wall < 60 and peak < SMALL_KB, (wall, peak)


def test_the_estimates_follow_the_generators(tmp_path):
    # The estimate is what the generator makes, within a few percent, for each way of asking.
    specs = [
        {"duration_s": 2000.0, "arrivals": {"process": "gamma", "rate": 20.0, "cv": 2.0}},
        {"duration_s": 2000.0, "arrivals": {"process": "onoff", "rate_on": 40.0, "mean_on_s": 5.0, "mean_off_s": 5.0}},
        {"duration_s": 2000.0, "arrivals": {"process": "flash", "rate": 10.0, "start_s": 100.0, "peak_factor": 8.0}},
        {"duration_s": 2000.0, "arrivals": {"process": "poisson", "rate": 5.0},
         "sessions": {"turns": {"dist": "fixed", "value": 4}, "think_time": {"dist": "fixed", "value_s": 1.0}}},
    ]
    from burststudio.workload.synth import size
    from burststudio.workload.synth.spec import resolve

    for s in specs:
        spec = {**s, "prompt": {"dist": "fixed", "value": 10}, "output": {"dist": "fixed", "value": 10}}
        made = len(synth.synthesize(spec, seed=1))
        est = size.estimate(resolve(spec)).rows
        assert abs(est - made) / made < 0.1, (s, est, made)


def test_a_workload_at_the_limit_is_built(tmp_path):
    w = Workload.from_columns(np.arange(5.0), np.ones(5, dtype=np.int64), np.ones(5, dtype=np.int64),
                              WorkloadMeta(name="x"))
    from burststudio.workload import transform

    with limits.allow(10):
        assert len(transform.rate_scale(w, 2.0, seed=0)) == 10
        with pytest.raises(limits.SizeError, match="rate_scale"):
            transform.rate_scale(w, 2.5, seed=0)
