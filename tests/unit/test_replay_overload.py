"""A server that cannot keep up: the run ends within its schedule plus the drain, every request is counted, and the
summary says that (and when) the run fell behind."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, replay, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay import recorder  # noqa: E402
from burststudio.replay.summary import summarize  # noqa: E402
from burststudio.vocab import CANCELLED, OK  # noqa: E402


def test_a_server_that_cannot_keep_up_ends_at_the_drain_with_every_request_counted(tmp_path):
    # 100 requests in 0.5 s against a server that runs 4 at a time for 0.25 s each (16/s); 10 may be in flight.
    w = workload(100, gap_s=0.005, prompt=20, output=20)
    settings = quick_settings(drain_s=0.5, max_concurrency=10)
    settings.timeouts.first_token_s = 30.0
    settings.timeouts.idle_s = 30.0
    with TestServer(ServerConfig(ttft_s=0.05, token_delay_s=0.01, max_running=4)) as srv:
        t0 = time.perf_counter()
        result = replay(w, srv.url, tmp_path / "r", settings)
        took = time.perf_counter() - t0
    s = result.summary
    assert took < 0.5 + 0.5 + 4.0  # schedule + drain + start-up and summary, not the requests' own limits
    assert s["failed"] == 0  # nothing failed that the server did not fail
    assert s["sent"] == s["finished"] + s["failed"] + s["cancelled"]
    ov = s["overload"]
    assert ov["never_sent"] > 0 and s["not_sent"] == ov["never_sent"]
    assert s["sent"] + s["not_sent"] == 100
    reasons = ov["cancelled_by_reason"]
    assert set(reasons) == {"in flight when the drain ended", "never sent: waiting for a concurrency slot when the "
                                                              "drain ended"}, reasons
    assert sum(reasons.values()) == s["cancelled"] + ov["never_sent"]
    assert ov["behind_schedule"] and ov["note"].startswith("behind schedule from ")
    assert ov["sent_share"] < 0.5 and ov["lateness_s"]["growth_per_s"] > 0
    # The journal holds the never-sent requests with their reason, and the summary is rebuilt alike from it.
    records, sent = recorder.read_journal(result.run_dir)
    unsent = [r for r in records if r["sent_s"] is None]
    assert len(unsent) == ov["never_sent"] and all(r["outcome"] == CANCELLED for r in unsent)
    assert ov["time_to_headers_s"]["count"] == sum(1 for r in records if r.get("headers_s") is not None) > 0
    again = summarize(records, sent=len(sent))
    assert again["sent"] == s["sent"] and again["overload"]["never_sent"] == ov["never_sent"]


def _rec(i: int, sched: float, sent: float, end: float) -> dict:
    return {"i": i, "outcome": OK, "scheduled_s": sched, "sent_s": sent, "headers_s": sent + 0.001,
            "first_s": sent + 0.04, "end_s": end, "chunks_us": [40_000, 44_000], "chunk_tokens": 2,
            "usage_completion_tokens": 2}


def test_a_run_that_kept_up_is_not_behind():
    recs = [_rec(i, i * 0.01, i * 0.01 + 0.0005, i * 0.01 + 0.1) for i in range(500)]
    ov = summarize(recs)["overload"]
    assert not ov["behind_schedule"] and ov["note"] is None
    assert abs(ov["planned_per_s"] - 100) < 1e-6 and ov["sent_share"] > 0.99
    assert ov["in_flight"]["peak"] <= 11 and abs(ov["time_to_headers_s"]["p50"] - 0.001) < 1e-9


def test_lateness_that_grows_is_said_with_when_and_how_much():
    # 10 s planned at 100/s; from 4 s on each request leaves later than the last (sent at 50/s).
    recs = []
    for i in range(1000):
        sched = i * 0.01
        sent = sched if sched < 4 else 4 + (sched - 4) * 2
        recs.append(_rec(i, sched, sent, sent + 0.1))
    ov = summarize(recs)["overload"]
    assert ov["behind_schedule"]
    assert ov["note"].startswith("behind schedule from 4.0 s of 10.0 s")
    assert 4.0 < ov["lateness_s"]["last_p50"] < 6.0 and ov["lateness_s"]["first_p50"] == 0
    assert ov["waiting"]["peak"] > 200


def test_replay_prints_the_behind_schedule_line(tmp_path):
    import subprocess

    from tests.support.replay import ROOT, write_preset

    trace = tmp_path / "w.parquet"
    workload(60, gap_s=0.005, prompt=20, output=20).to_parquet(trace)
    with TestServer(ServerConfig(ttft_s=0.05, token_delay_s=0.01, max_running=2)) as srv:
        preset = write_preset(tmp_path / "p.toml", trace, srv.url, "drain_s = 0.3\nmax_concurrency = 4\n")
        p = subprocess.run([sys.executable, "-m", "burststudio", "replay", preset, "--out", tmp_path / "run",
                            "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if "behind schedule from" in ln]
    assert len(lines) == 1 and lines[0].startswith("burststudio replay: behind schedule from "), p.stderr
    assert "never sent" in lines[0]
