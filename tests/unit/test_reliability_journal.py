"""The run directory under faults: the replay killed outright, a journal line cut mid-write, a run directory that
cannot be written, a disk that fills up mid-run. Nothing that was written is lost or made unreadable."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.faults import (  # noqa: E402
    FaultServer,
    accounted,
    ended_lines,
    report,
    start_replay,
    wait_until,
)
from tests.support.replay import workload  # noqa: E402

from burststudio.replay import recorder  # noqa: E402


@pytest.fixture(scope="module")
def server():
    with FaultServer({"ttft_s": 0.01, "token_delay_s": 0.01}) as srv:
        yield srv


@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "w.parquet"
    workload(1500, gap_s=0.005, output=10).to_parquet(path)
    return path


def mount_tmpfs(path: Path, size: str, *options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    opts = ",".join((f"size={size}",) + options)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode == 0


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def journal_is_whole(run_dir: Path) -> None:
    data = (run_dir / recorder.JOURNAL).read_bytes()
    assert data.endswith(b"\n"), "the journal ends inside a line"
    for line in data.splitlines():
        json.loads(line)


def test_sigkill_then_report_keeps_every_request_that_ended(server, trace, tmp_path):
    out = tmp_path / "run"
    proc = start_replay(trace, out, "--target", server.url)
    assert wait_until(lambda: ended_lines(out) >= 100)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=20)
    ends, sent = recorder.read_journal(out)  # what the journal held at the kill
    assert not (out / "summary.json").exists()
    r = report(out, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["complete"] is False and accounted(s)
    assert s["sent"] == len(sent) and s["finished"] + s["failed"] + s["cancelled"] - s["lost_in_flight"] == len(ends)
    assert s["finished"] >= 100 and s["lost_in_flight"] == len(sent) - len(ends)
    assert (out / "summary.json").exists() and (out / "requests.parquet").exists()


def test_a_journal_cut_mid_line_is_read_up_to_that_line(server, tmp_path):
    trace = tmp_path / "w.parquet"
    workload(40, gap_s=0.005, output=4).to_parquet(trace)
    out = tmp_path / "run"
    proc = start_replay(trace, out, "--target", server.url)
    assert proc.wait(60) == 0
    journal = out / recorder.JOURNAL
    data = journal.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n")
    journal.write_bytes(data[: last + 1 + (len(data) - last) // 2])  # the last line, half written
    r = report(out, "--json", "--rebuild")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert accounted(s) and s["sent"] == 40 and s["finished"] + s["cancelled"] == 40
    # A bad line that is not the last is not a cut write: it is named, not skipped.
    lines = data.splitlines(keepends=True)
    lines[3] = lines[3][:10] + b"\n"
    journal.write_bytes(b"".join(lines))
    r = report(out, "--rebuild")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"burststudio report: error: {journal}:4: not a JSON line"]


@pytest.fixture
def read_only_dir(tmp_path):
    path = tmp_path / "ro"
    if mount_tmpfs(path, "1m", "ro"):
        yield path
        umount(path)
    else:
        path.chmod(0o500)
        yield path
        path.chmod(0o700)


@pytest.mark.parametrize("where", ["read_only", "under_a_file"])
def test_a_run_directory_that_cannot_be_written_exits_2_with_one_line(server, trace, tmp_path, read_only_dir, where):
    if where == "read_only":
        out = read_only_dir / "run"
    else:
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "run"
    proc = start_replay(trace, out, "--target", server.url)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1].startswith(f"burststudio replay: error: cannot write the run directory {out}")
    assert "Traceback" not in err and len([ln for ln in err.splitlines() if "error" in ln]) == 1


def check_disk_failure(proc, out: Path) -> dict:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 5, err
    lines = [ln for ln in err.strip().splitlines() if "cannot write the run directory" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == lines[0] and "burststudio report" in lines[0]
    journal_is_whole(out)
    ends, sent = recorder.read_journal(out)
    assert len(ends) > 0
    return {"ends": len(ends), "sent": len(sent), "line": lines[0]}


def test_a_full_disk_stops_the_run_with_one_line_and_keeps_what_was_written(server, trace, tmp_path):
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "160k"):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        out = disk / "run"
        t0 = time.monotonic()
        proc = start_replay(trace, out, "--target", server.url)
        got = check_disk_failure(proc, out)
        assert "No space left on device" in got["line"]
        assert time.monotonic() - t0 < 30  # stopped when the disk filled, not at the schedule's end
        r = report(out, "--json")  # the disk is still full: shown, not saved
        assert r.returncode == 0 and "could not be saved" in r.stderr, r.stderr
        s = json.loads(r.stdout)
        assert accounted(s) and s["sent"] == got["sent"] and s["sent"] < 1500
    finally:
        umount(disk)


def test_a_file_size_limit_stops_the_run_and_report_rebuilds_it(server, trace, tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    out = tmp_path / "run"
    proc = start_replay(trace, out, "--target", server.url, preexec_fn=limit)
    got = check_disk_failure(proc, out)
    assert "File too large" in got["line"]
    r = report(out, "--json")
    assert r.returncode == 0 and not r.stderr, r.stderr
    s = json.loads(r.stdout)
    assert accounted(s) and s["sent"] == got["sent"] < 1500
    assert s["finished"] + s["failed"] + s["cancelled"] - s["lost_in_flight"] == got["ends"]
    assert (out / "summary.json").exists()
