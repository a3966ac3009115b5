"""The summary says when the client's own delays got into the figures: a replay engine stopped for 300 ms mid-run
is client-limited there, a quiet one is not, and a capped run is not judged."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import ROOT, workload, write_preset  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay.client_limits import LATENESS_P99_S  # noqa: E402
from burststudio.replay.summary import summarize  # noqa: E402


def records(lateness):
    return [{"i": i, "outcome": "ok", "scheduled_s": i * 0.1, "sent_s": i * 0.1 + late, "first_s": i * 0.1 + late
             + 0.02, "end_s": i * 0.1 + late + 0.05, "chunks_us": [20_000, 50_000], "usage_completion_tokens": 2,
             "chunk_tokens": 2} for i, late in enumerate(lateness)]


def test_late_seconds_are_named_and_quiet_ones_are_not():
    late = np.full(100, 0.001)
    late[30:50] = 0.2  # 3-5 s of the schedule
    c = summarize(records(late))["client"]
    assert c["limited"] is True and c["ranges"] == [[3.0, 5.0]]
    assert c["figures"] == ["ttft_s", "itl_s", "tpot_s", "e2e_s"] and c["requests"] >= 20
    assert "3-5 s" in c["note"] and c["lateness_p99_s"] == pytest.approx(0.2)
    quiet = summarize(records(np.full(100, LATENESS_P99_S / 2)))["client"]
    assert quiet["limited"] is False and quiet["ranges"] == [] and quiet["note"] is None
    capped = summarize(records(late), settings={"max_concurrency": 4})["client"]
    assert capped["limited"] is None and "max_concurrency" in capped["note"]


def test_a_stopped_engine_is_client_limited_and_report_and_sweep_say_so(tmp_path):
    d = tmp_path
    trace = d / "w.parquet"
    workload(100, gap_s=0.04, output=4).to_parquet(trace)  # 4 s at 25 requests/s
    with TestServer(ServerConfig(ttft_s=0.005, token_delay_s=0.002)) as srv:
        preset = write_preset(d / "p.toml", trace, srv.url)
        out = d / "run"
        p = subprocess.Popen([sys.executable, "-m", "burststudio", "replay", str(preset), "--out", str(out),
                              "--events"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        try:
            for line in p.stdout:
                e = json.loads(line)
                if e["event"] == "progress" and e["sent"] >= 30:
                    break
            # The client's own hiccup: the engine gets no CPU for 300 ms, as on a machine shared with others.
            os.kill(p.pid, signal.SIGSTOP)
            time.sleep(0.3)
            os.kill(p.pid, signal.SIGCONT)
            p.stdout.read()
            assert p.wait(60) == 0
        finally:
            if p.poll() is None:
                p.kill()
    s = json.loads((out / "summary.json").read_text())
    c = s["client"]
    assert c["limited"] is True and c["lateness_p99_s"] > 0.2
    [lo, hi] = c["ranges"][0]
    assert 0.5 < lo < 3.5 and hi - lo <= 3.0
    text = subprocess.run([sys.executable, "-m", "burststudio", "report", str(out)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60).stdout
    assert "client-limited" in " ".join(text.split())
