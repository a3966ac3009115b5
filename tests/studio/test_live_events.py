"""The engine's live events as the studio reads them: rolling percentiles, request rows, target state."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pytest

from burststudio.replay.events import LATEST_REQUESTS, Events, LiveStats, TargetStatus
from burststudio.studio.live import LiveRun

MS = 1_000_000


def _record(i: int, ttft_ms: float, itl_ms: float, tokens: int = 5, outcome: str = "ok"):
    """A finished request as the client leaves it (times in perf_counter ns)."""
    sent = 10_000 * MS + i * MS
    first = sent + int(ttft_ms * MS)
    chunks = [first + int(k * itl_ms * MS) for k in range(tokens)]
    return SimpleNamespace(i=i, outcome=outcome, prompt_tokens=100 + i, completion_tokens=tokens, sent_ns=sent,
                           scheduled_ns=sent - MS, first_ns=first if tokens else 0, end_ns=chunks[-1] if chunks else sent,
                           chunk_ns=chunks)


def test_progress_events_carry_rolling_percentiles_and_the_latest_requests():
    out = io.StringIO()
    events = Events(stdout=out, stats=LiveStats())
    ttfts = np.linspace(10.0, 109.0, 100)
    for i, ttft in enumerate(ttfts):
        events.request_ended(_record(i, ttft, itl_ms=2.0 + (i % 2)))
    events.request_ended(_record(100, 5.0, 2.0, tokens=0, outcome="http_503"))
    events.emit("sample", kv_cache_usage=0.4, running=3, waiting=7, preemptions_total=2)
    ev = events.emit("progress", sent=101, finished=100, failed=1)
    assert ev["ttft_p50_s"] == pytest.approx(np.quantile(ttfts, 0.5) / 1e3, abs=1e-5)
    assert ev["ttft_p99_s"] == pytest.approx(np.quantile(ttfts, 0.99) / 1e3, abs=1e-5)
    assert ev["itl_p50_s"] == pytest.approx(0.0025, abs=6e-4) and ev["itl_p99_s"] == pytest.approx(0.003, abs=1e-5)
    assert (ev["kv_cache_usage"], ev["running"], ev["waiting"], ev["preemptions_total"]) == (0.4, 3, 7, 2)
    rows = ev["requests"]
    assert len(rows) == LATEST_REQUESTS and rows[-1][:2] == [100, "http_503"]
    assert rows[-2][0] == 99 and rows[-2][4] == pytest.approx(ttfts[99] / 1e3, abs=1e-6)
    assert rows[-2][7] == pytest.approx(0.001)  # sent 1 ms after its schedule
    # The line on stdout is the same JSON, and the next tick sends only requests that ended since.
    assert json.loads(out.getvalue().splitlines()[-1])["requests"] == rows
    assert events.emit("progress", sent=101, finished=100, failed=1)["requests"] == []


def test_rolling_window_forgets_old_requests():
    stats = LiveStats(rolling_s=2.0)
    stats.request_ended(_record(0, 500.0, 1.0))
    assert stats.tick(1.0)["ttft_p99_s"] == pytest.approx(0.5)
    stats.request_ended(_record(1, 20.0, 1.0))
    assert stats.tick(2.0)["ttft_p99_s"] > 0.4
    later = stats.tick(5.0)
    assert later["ttft_p50_s"] is None and later["ttft_p99_s"] is None


def test_target_status_reports_stages_then_health_or_failure():
    out = io.StringIO()
    notices: list[str] = []
    status = TargetStatus(out, "vllm", notices.append)
    status.progress("loading model")
    status.healthy(SimpleNamespace(to_dict=lambda: {"kind": "vllm", "url": "http://x", "model": "tiny",
                                                    "kv_capacity_tokens": 2048, "max_model_len": 512}))
    status.failed(RuntimeError("later errors are the run's"))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["state"] for x in lines] == ["starting", "starting", "healthy"]
    assert lines[1]["stage"] == "loading model" and notices == ["loading model"]
    assert lines[2]["model"] == "tiny" and lines[2]["kv_capacity_tokens"] == 2048

    out = io.StringIO()
    status = TargetStatus(out, "vllm")
    status.failed(RuntimeError("vLLM exited during start-up (exit code 1): CUDA out of memory\nmore"))
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["state"] == "failed" and last["message"].endswith("CUDA out of memory")


def test_live_run_turns_events_into_series_state_and_rows():
    live = LiveRun()
    live.feed({"event": "target", "t": None, "state": "starting", "kind": "vllm", "stage": "loading model"})
    assert live.target_line() == "[yellow]vllm: loading model…[/]"
    live.feed({"event": "target", "t": None, "state": "healthy", "kind": "vllm", "model": "tiny",
               "kv_capacity_tokens": 2048, "max_model_len": 512})
    assert "vllm healthy" in live.target_line() and "KV 2,048 tokens" in live.target_line()
    for k, t in enumerate((0.25, 0.5)):
        live.feed({"event": "progress", "t": t, "sent": 10 * (k + 1), "finished": 8 * (k + 1), "failed": k,
                   "by_class": {"http_503": k}, "ttft_p50_s": 0.02, "ttft_p99_s": 0.05, "itl_p50_s": 0.002,
                   "itl_p99_s": 0.004, "requests": [[k, "ok", 100, 5, 0.02, 0.03, 0.002, 0.0]]})
    live.feed({"event": "sample", "t": 0.5, "kv_cache_usage": 0.5, "running": 4, "waiting": 2,
               "preemptions_total": 3})
    assert live.series["ttft_p99_ms"].arrays()[1].tolist() == [50.0, 50.0]
    assert live.series["sent_rps"].arrays()[1].tolist() == [40.0]
    assert live.series["kv_pct"].arrays()[1].tolist() == [50.0]
    assert live.series["preemptions"].arrays()[1].tolist() == [3.0]
    assert live.failures == {"http_503": 1}
    assert [r[0] for r in live.requests] == [0, 1]


def _progress(t, sent, in_flight, planned=1000, lateness=None):
    return {"event": "progress", "t": t, "planned": planned, "sent": sent, "finished": 0, "failed": 0,
            "cancelled": 0, "in_flight": in_flight, "lateness_p99_s": lateness}


def test_the_live_view_says_when_the_run_falls_behind_its_schedule():
    live = LiveRun()
    live.feed({"event": "run_started", "t": 0.0, "run_dir": "r", "mode": "open"})
    live.schedule = np.arange(1000) / 100.0  # 100 requests/s for 10 s
    for k in range(9):  # the first 2 s on schedule, in flight steady
        t = k * 0.25
        live.feed(_progress(t, int(t * 100), 5))
    assert live.overload()["behind"] is False
    assert live.overload_line().startswith("[green]on schedule[/]")
    # Then the sends keep only half the pace and the requests in flight pile up.
    for k in range(1, 9):
        t = 2.0 + k * 0.25
        live.feed(_progress(t, 200 + int(k * 0.25 * 50), 5 + 20 * k, lateness=0.4))
    o = live.overload()
    assert o["behind"] and o["behind_since"] == pytest.approx(2.25)
    assert o["planned_rps"] == pytest.approx(100.0, rel=0.05) and o["sent_rps"] == pytest.approx(50.0, rel=0.05)
    assert o["waiting"] == 101 and o["in_flight_growth_per_s"] == pytest.approx(80.0)
    line = live.overload_line()
    assert "behind schedule[/] since 2.2 s" in line and "sent 50.0/s of 100.0/s planned" in line
    assert "101 due, not sent" in line and "in flight 165 (+80/s)" in line and "lateness p99 400 ms" in line
    # Caught up: the line says so, and the next fall starts a new "since".
    live.feed(_progress(4.5, 450, 10))
    live.feed(_progress(4.75, 475, 10))
    assert not live.overload()["behind"] and live.behind_since is None


def test_a_closed_loop_run_has_no_schedule_to_keep():
    live = LiveRun()
    live.feed({"event": "run_started", "t": 0.0, "run_dir": "r", "mode": "closed"})
    live.feed(_progress(1.0, 10, 4))
    assert live.overload() is None and live.overload_line() == ""


def test_a_fleet_shows_each_replica_and_where_the_latest_requests_went():
    events = Events(stats=LiveStats())
    for i in range(4):
        r = _record(i, 10.0, 2.0)
        r.replica = str(i % 2)
        events.request_ended(r)
    progress = events.emit("progress", sent=4, finished=4, failed=0)
    assert [row[8] for row in progress["requests"]] == ["0", "1", "0", "1"]
    live = LiveRun()
    live.feed({"event": "sample", "t": 1.0, "replica": "0", "kv_cache_usage": 0.25, "running": 2, "waiting": 0})
    live.feed({"event": "sample", "t": 1.1, "replica": "1", "kv_cache_usage": 1.0, "running": 5, "waiting": 6})
    live.feed({**progress, "t": 1.2})
    line = live.fleet_line()
    assert "0[/] KV 25% r2 w0" in line and "1[/] KV 100% r5 w6" in line and line.endswith("0 1 0 1")
    # The charts show the fleet: the fullest replica's KV cache, the sums of running and waiting.
    assert live.series["kv_pct"].arrays()[1][-1] == 100.0
    assert live.series["waiting"].arrays()[1][-1] == 6.0 and live.series["running"].arrays()[1][-1] == 7.0
    assert len(line) - line.count("[b]") * 3 - line.count("[/]") * 3 - line.count("[dim]") * 5 <= 80


def test_one_server_has_no_fleet_line():
    live = LiveRun()
    live.feed({"event": "sample", "t": 1.0, "kv_cache_usage": 0.5, "running": 1, "waiting": 0})
    assert live.fleet_line() == "" and live.series["kv_pct"].arrays()[1][-1] == 50.0
