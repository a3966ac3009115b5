"""The summary as a pure function of records and samples; the journal reader; the /metrics parser."""

import json
from pathlib import Path

import numpy as np
import pytest

from burststudio.errors import InputFileError
from burststudio.replay.recorder import read_journal, read_jsonl
from burststudio.vllm_metrics import parse_metrics
from burststudio.replay.summary import check_limits, summarize

VLLM_METRICS = Path("/work/shared/vllm/metrics_sample_kv_pressure.txt")


def rec(i, outcome="ok", sched=0.0, ttft=0.1, e2e=0.5, tokens=5, late=0.001):
    sent = sched + late
    chunks = list(np.linspace(ttft, e2e, tokens) * 1e6) if outcome == "ok" else []
    return {"i": i, "outcome": outcome, "scheduled_s": sched, "sent_s": sent,
            "first_s": sent + ttft if outcome == "ok" else None, "end_s": sent + e2e,
            "chunks_us": [int(c) for c in chunks], "usage_completion_tokens": tokens if outcome == "ok" else None,
            "chunk_tokens": len(chunks), "output_tokens": tokens}


def test_identity_holds_with_lost_requests_and_every_class():
    records = [rec(0), rec(1, "http_503"), rec(2, "cancelled"), rec(3, "stream_error"), rec(4, "weird")]
    s = summarize(records, sent=7)
    assert s["sent"] == 7 == s["finished"] + s["failed"] + s["cancelled"]
    assert s["lost_in_flight"] == 2 and s["cancelled"] == 3
    assert s["failures_by_class"] == {"http_503": 1, "stream_error": 1, "unknown": 1}
    assert s["failed"] == 3


def test_latency_figures_cover_finished_requests_and_say_so():
    records = [rec(i, ttft=0.1 * (i + 1)) for i in range(4)] + [rec(9, "timeout")]
    s = summarize(records)
    assert s["ttft_s"]["count"] == 4 and s["ttft_s"]["failed_excluded"] == 1
    assert s["ttft_s"]["max"] == pytest.approx(0.4) and s["ttft_s"]["mean"] == pytest.approx(0.25)
    # tpot = (e2e - ttft) / (tokens - 1)
    assert s["tpot_s"]["p50"] == pytest.approx(np.median([(0.5 - 0.1 * (i + 1)) / 4 for i in range(4)]))
    assert s["itl_s"]["count"] == 4 * 4
    assert s["dispatch_lateness_s"]["count"] == 5 and s["dispatch_lateness_s"]["p50"] == pytest.approx(0.001)


def test_goodput_counts_failures_as_misses():
    records = [rec(0, ttft=0.05), rec(1, ttft=0.5), rec(2, "http_429"), rec(3, "cancelled")]
    s = summarize(records, settings={"slo_ttft_s": 0.1})
    assert s["goodput"]["met"] == 1 and s["goodput"]["of"] == 3
    assert s["goodput"]["share"] == pytest.approx(1 / 3)


def test_burst_view_separates_busy_from_calm_windows():
    # 10 calm windows with 2 requests each; one busy window with 20 requests that fail half the time.
    records = []
    for w in range(10):
        records += [rec(len(records), sched=w * 10 + k, ttft=0.05) for k in range(2)]
    for k in range(20):
        records.append(rec(len(records), "http_503" if k % 2 else "ok", sched=100 + k * 0.1, ttft=0.9))
    s = summarize(records, settings={"burst_window_s": 10.0, "burst_rate_factor": 2.0})
    busy, calm = s["burst"]["busy"], s["burst"]["calm"]
    assert busy["windows"] == 1 and busy["requests"] == 20 and busy["failed_share"] == pytest.approx(0.5)
    assert calm["windows"] == 10 and calm["requests"] == 20 and calm["failed_share"] == 0
    assert busy["ttft_s"]["p50"] == pytest.approx(0.9) and calm["ttft_s"]["p50"] == pytest.approx(0.05)
    assert busy["ttft_s"]["failed_excluded"] == 10
    [episode] = s["burst"]["episodes"]
    assert episode["start_s"] == 100.0 and episode["end_s"] == 110.0 and episode["recovered"]
    assert episode["requests"] == 20 and episode["failed"] == 10


def test_limits_name_what_broke():
    s = summarize([rec(0, ttft=0.3), rec(1, "http_5xx")])
    broken = check_limits(s, {"goodput_min": 0.9, "failed_share_max": 0.1, "ttft_p99_max_s": 0.2})
    assert len(broken) == 3
    assert "goodput_min" in broken[0] and "failed_share_max" in broken[1] and "ttft_p99_max_s" in broken[2]
    assert check_limits(s, {"goodput_min": -1, "failed_share_max": -1, "ttft_p99_max_s": -1}) == []
    assert check_limits(s, {"goodput_min": 0.5, "failed_share_max": 0.5, "ttft_p99_max_s": 0.5}) == []


def test_server_figures_from_samples():
    samples = [{"t": 0, "kv_cache_usage": 0.1, "waiting": 0, "preemptions_total": 3.0,
                "prefix_cache_queries_total": 100.0, "prefix_cache_hits_total": 0.0},
               {"t": 1, "kv_cache_usage": 0.9, "waiting": 7, "preemptions_total": 8.0,
                "prefix_cache_queries_total": 300.0, "prefix_cache_hits_total": 50.0}]
    s = summarize([rec(0)], samples)
    assert s["kv_cache_usage_peak"] == 0.9 and s["waiting_peak"] == 7 and s["preemptions"] == 5
    assert s["prefix_cache_hit_rate"] == pytest.approx(0.25)
    empty = summarize([rec(0)])
    assert empty["kv_cache_usage_peak"] is None and empty["metrics_samples"] == 0


def test_summary_is_strict_json():
    s = summarize([rec(0, "http_500")])
    assert json.loads(json.dumps(s, allow_nan=False))["ttft_s"]["p50"] is None


def test_journal_with_a_cut_last_line_is_read_up_to_it(tmp_path):
    lines = [json.dumps({"kind": "sent", "i": 0}), json.dumps({"kind": "end", "i": 0, "outcome": "ok"}),
             json.dumps({"kind": "sent", "i": 1})]
    (tmp_path / "journal.jsonl").write_text("\n".join(lines) + '\n{"kind": "end", "i": 1, "outc')
    ended, sent = read_journal(tmp_path)
    assert [r["i"] for r in ended] == [0] and sent == {0, 1}
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    with pytest.raises(InputFileError, match="bad.jsonl:2"):
        list(read_jsonl(tmp_path / "bad.jsonl"))


@pytest.mark.skipif(not VLLM_METRICS.exists(), reason="vLLM capture not present")
def test_parse_real_vllm_metrics():
    s = parse_metrics(VLLM_METRICS.read_text())
    assert s["preemptions_total"] == 12 and s["admission_rejections_total"] == 16
    assert s["admission_rejections_max_num_queued_reqs"] == 16 and s["prefix_cache_queries_total"] == 6144
    assert "waiting_capacity" in s and s["cache_config"]["num_gpu_blocks"] == "16"
    assert 0 <= s["kv_cache_usage"] <= 1


def test_parse_older_metric_names():
    text = ('# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{engine="0"} 0.5\n'
            'vllm:gpu_cache_usage_perc{engine="1"} 0.7\n# TYPE vllm:num_requests_waiting gauge\n'
            'vllm:num_requests_waiting{engine="0"} 2\nvllm:num_requests_waiting{engine="1"} 3\n')
    s = parse_metrics(text)
    assert s["kv_cache_usage"] == pytest.approx(0.6) and s["waiting"] == 5
