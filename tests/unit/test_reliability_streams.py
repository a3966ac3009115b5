"""Hostile streams from a server in its own process: each fault is classified and counted, the run goes on, and
no request holds the run past its own time limit."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.faults import FaultServer, accounted, preset_text, start_replay  # noqa: E402
from tests.support.replay import workload  # noqa: E402

from burststudio.replay import recorder  # noqa: E402

# prompt length -> (server fault, outcome)
FAULTS = {23: ("http_429", "http_429"), 24: ("http_503", "http_503"), 26: ("stream_error", "stream_error"),
          29: ("cut", "connection"), 30: ("refuse", "connection"), 31: ("malformed", "malformed"),
          32: ("not_stream", "malformed")}


def run(tmp_path, prompts: list[int], gap_s: float, server: FaultServer, **timeouts) -> tuple[dict, dict, float]:
    trace = tmp_path / "w.parquet"
    workload(len(prompts), gap_s=gap_s, prompt=prompts, output=6).to_parquet(trace)
    preset = tmp_path / "p.toml"
    preset.write_text(preset_text(trace, server.url, **timeouts), encoding="utf-8")
    t0 = time.monotonic()
    proc = start_replay(preset, tmp_path / "run", "--json")
    out, err = proc.communicate(timeout=120)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    records = {r["i"]: r for r in recorder.read_journal(tmp_path / "run")[0]}
    return summary, records, wall


def test_each_hostile_answer_is_classified_and_the_run_goes_on(tmp_path):
    # Every fault twice, ok requests between and after them.
    prompts = [p for k in FAULTS for p in (k, 20)] * 2 + [20] * 10
    cfg = {"ttft_s": 0.005, "token_delay_s": 0.002, "faults_by_prompt_len": {str(k): v[0] for k, v in FAULTS.items()}}
    with FaultServer(cfg, retry_after_503="2") as srv:
        s, records, _ = run(tmp_path, prompts, 0.01, srv)
    assert accounted(s) and s["sent"] == len(prompts) and s["cancelled"] == 0
    assert s["finished"] == prompts.count(20)
    expected: dict[str, int] = {}
    for i, p in enumerate(prompts):
        want = "ok" if p == 20 else FAULTS[p][1]
        assert records[i]["outcome"] == want, (p, records[i])
        if want != "ok":
            expected[want] = expected.get(want, 0) + 1
    assert s["failures_by_class"] == expected
    by_prompt = {r["prompt_tokens"]: r for r in records.values()}
    assert by_prompt[23]["retry_after"] == "1" and by_prompt[24]["retry_after"] == "2"
    assert by_prompt[26]["status"] == 200 and "queue is full" in by_prompt[26]["error"]
    assert len(by_prompt[29]["chunks_us"]) == 2  # a cut stream keeps the tokens it got


def test_hanging_streams_end_at_their_timeouts_and_do_not_hold_the_run(tmp_path):
    # 21: stalls after two tokens (idle limit); 22: accepted and read, never answered (first-token limit).
    # The last request is a hanging one, so the run's end is set by the limits alone.
    prompts = [20, 21, 22, 20, 20, 21, 22, 20, 20, 22]
    gap = 0.05
    first_token_s, idle_s = 1.5, 0.6
    cfg = {"ttft_s": 0.005, "token_delay_s": 0.002, "faults_by_prompt_len": {"21": "hang_mid"}}
    with FaultServer(cfg, hang_headers=[22]) as srv:
        s, records, wall = run(tmp_path, prompts, gap, srv, first_token_s=first_token_s, idle_s=idle_s)
    assert accounted(s) and s["finished"] == prompts.count(20)
    for i, p in enumerate(prompts):
        r = records[i]
        took = r["end_s"] - r["sent_s"]
        if p == 21:
            assert r["outcome"] == "timeout" and r["timeout"] == "idle", r
            assert len(r["chunks_us"]) == 2
            gap_after_last = took - r["chunks_us"][-1] / 1e6
            assert idle_s - 1e-3 <= gap_after_last < idle_s + 0.5, r  # the watchdog fires up to 0.1 ms early
        elif p == 22:
            assert r["outcome"] == "timeout" and r["timeout"] == "first_token" and r["status"] is None, r
            assert first_token_s - 1e-3 <= took < first_token_s + 0.5, r
    last_sched = gap * (len(prompts) - 1)
    # First send to last end: the last request's schedule plus its first-token limit, and no more.
    assert s["throughput"]["duration_s"] < last_sched + first_token_s + 0.5
    assert wall < last_sched + first_token_s + 15  # start-up and summary included, on a busy machine
