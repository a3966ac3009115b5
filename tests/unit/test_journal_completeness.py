"""After a SIGKILL the journal holds every request the server saw, and `report` never shows a summary older than
its journal nor writes into a run that is still being written."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.testserver import ServerConfig, TestServer

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "burststudio", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, **kw)


def _trace(tmp_path: Path, n: int, gap_s: float) -> Path:
    p = tmp_path / "t.csv"
    rows = ["Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"]
    rows += [f"{i * gap_s:.3f},ChatGPT,20,8,28,Conversation log" for i in range(n)]
    p.write_text("\n".join(rows) + "\n")
    return p


def _journal(run: Path) -> tuple[set[int], set[int]]:
    sent, ended = set(), set()
    for line in (run / "journal.jsonl").read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        (sent if obj.get("kind") == "sent" else ended if obj.get("kind") == "end" else set()).add(obj.get("i"))
    return sent, ended


def test_every_request_the_server_received_is_in_the_journal_after_a_sigkill(tmp_path):
    trace = _trace(tmp_path, 400, 0.01)
    for k in range(3):  # kills at different moments of the schedule
        with TestServer(ServerConfig(ttft_s=0.2, token_delay_s=0.05)) as srv:
            run = tmp_path / f"r{k}"
            proc = subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(trace), "--target", srv.url,
                                     "--out", str(run)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and srv.state.requests < 20:
                time.sleep(0.01)
            time.sleep(0.37 * k)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.3)  # bytes already on their way reach the server
            received = srv.state.requests
        sent, _ = _journal(run)
        assert received >= 20
        # Each request the server saw was journaled as sent before its bytes left.
        assert len(sent) >= received, (len(sent), received, k)


def test_report_rebuilds_a_summary_older_than_its_journal(tmp_path):
    trace = _trace(tmp_path, 30, 0.01)
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.001)) as srv:
        run = tmp_path / "r"
        assert _cli("replay", trace, "--target", srv.url, "--out", run).returncode == 0
    summary = json.loads((run / "summary.json").read_text())
    stale = {**summary, "sent": 11, "finished": 11}
    (run / "summary.json").write_text(json.dumps(stale))
    os.utime(run / "summary.json", ns=(1, 1))  # older than the journal, as after a report during the run
    out = _cli("report", run, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["sent"] == 30


def test_report_does_not_write_into_a_run_still_being_written(tmp_path):
    trace = _trace(tmp_path, 3000, 0.01)
    with TestServer(ServerConfig(ttft_s=0.01, token_delay_s=0.001)) as srv:
        run = tmp_path / "r"
        proc = subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(trace), "--target", srv.url,
                                 "--out", str(run)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (run / "journal.jsonl").exists():
                time.sleep(0.05)
            time.sleep(1.0)
            out = _cli("report", run, "--json")
            assert out.returncode == 0, out.stderr
            assert "still being written" in out.stderr
            assert json.loads(out.stdout.splitlines()[-1])["sent"] > 0
            assert not (run / "summary.json").exists() and not (run / "requests.parquet").exists()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    out = _cli("report", run, "--json")  # the writer is gone: now report rebuilds and keeps it
    assert out.returncode == 0 and (run / "summary.json").exists()
