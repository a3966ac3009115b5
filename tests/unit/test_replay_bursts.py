"""Burst episodes on runs whose answer is known: the backlog a burst leaves is part of the burst, a steady stream has
no burst, and bursts that overlap in their drain make one episode."""

import json
from pathlib import Path

import numpy as np
import pytest

from burststudio.cli import main
from burststudio.replay.bursts import threshold
from burststudio.replay.summary import summarize


def fifo_run(arrivals, service_s, *, stop_s=None):
    """Journal records of one FIFO server that serves one request at a time, `service_s` each: the answer of every
    question the burst view asks is known (who waited, when the queue was empty again). A request still waiting
    or served at `stop_s` is cancelled there, as a run's drain limit does it."""
    records, free, empty_again = [], 0.0, []
    for i, t in enumerate(np.sort(arrivals)):
        start = max(t, free)
        empty_again.append(start <= t)  # it found the server idle: no backlog ahead of it
        free = start + service_s
        rec = {"i": i, "outcome": "ok", "scheduled_s": float(t), "sent_s": float(t), "first_s": start + 0.01,
               "end_s": free, "chunks_us": [10_000, int((free - t) * 1e6)], "usage_completion_tokens": 2,
               "chunk_tokens": 2, "output_tokens": 2}
        if stop_s is not None and free > stop_s:
            rec.update(outcome="cancelled", first_s=None, end_s=stop_s, chunks_us=[])
        records.append(rec)
    return records, np.array(empty_again)


def calm(rate, start, end, rng):
    n = rng.poisson(rate * (end - start))
    return rng.uniform(start, end, n)


def test_the_drain_after_a_burst_counts_as_burst():
    rng = np.random.default_rng(1)
    # 1 request/s, each served in 0.3 s; 60 requests in 2 s at 20 s: 18 s of work, drained by about 46 s.
    burst = np.linspace(20.0, 22.0, 60, endpoint=False)
    arrivals = np.sort(np.r_[calm(1.0, 0, 100, rng), burst])
    records, idle = fifo_run(arrivals, 0.3)
    # The known end of the drain: the first request after the burst that found the server idle.
    after = arrivals >= 22.0
    drained_at = arrivals[after & idle][0]
    assert 40 < drained_at < 55
    s = summarize(records, settings={"burst_window_s": 2.0})
    b = s["burst"]
    [ep] = b["episodes"]
    assert ep["start_s"] == 20.0 and ep["high_s"] == 2.0 and ep["recovered"]
    # The episode ends within a window of the known drain, never before the backlog is gone.
    assert drained_at - 2.0 <= ep["end_s"] <= drained_at + 2.0
    waited = (arrivals >= 20.0) & (arrivals < drained_at - 2.0)
    assert b["busy"]["requests"] >= waited.sum() == ep["requests"] - ((arrivals >= drained_at - 2.0)
                                                                      & (arrivals < ep["end_s"])).sum()
    # The calm is the calm: its TTFT is the server's own (10 ms) up to the few that queued behind one another.
    assert b["calm"]["ttft_s"]["p50"] == pytest.approx(0.01, abs=1e-6)
    assert b["calm"]["ttft_s"]["p99"] < 0.5
    assert b["busy"]["ttft_s"]["p50"] > 5.0
    assert b["busy"]["requests"] + b["calm"]["requests"] == len(records)


def test_a_steady_stream_has_no_burst():
    for seed in range(5):
        rng = np.random.default_rng(seed)
        records, _ = fifo_run(calm(5.0, 0, 120, rng), 0.05)
        b = summarize(records, settings={"burst_window_s": 2.0})["burst"]
        assert b["episodes"] == [], seed
        assert b["busy"]["requests"] == 0 and b["calm"]["requests"] == len(records)
        assert b["note"].startswith("no burst")


def test_a_burst_arriving_in_the_last_ones_drain_merges_with_it():
    rng = np.random.default_rng(2)
    bursts = np.r_[np.linspace(20, 22, 40, endpoint=False), np.linspace(30, 32, 40, endpoint=False)]
    records, _ = fifo_run(np.r_[calm(1.0, 0, 90, rng), bursts], 0.3)
    [ep] = summarize(records, settings={"burst_window_s": 2.0})["burst"]["episodes"]
    assert ep["start_s"] == 20.0 and ep["high_s"] == 4.0 and ep["end_s"] > 40.0


def test_a_backlog_cut_off_by_the_end_of_the_run_did_not_recover():
    rng = np.random.default_rng(3)
    arrivals = np.r_[calm(1.0, 0, 40, rng), np.linspace(30, 32, 100, endpoint=False)]
    records, _ = fifo_run(arrivals, 0.3, stop_s=45.0)
    [ep] = summarize(records, settings={"burst_window_s": 2.0})["burst"]["episodes"]
    assert ep["start_s"] == 30.0 and not ep["recovered"]


def test_the_threshold_is_above_poisson_noise_at_low_rates():
    m, limit = threshold(np.full(50, 2.0), 2.0)
    assert m == 2.0 and limit == pytest.approx(2.0 + 4.0 * np.sqrt(2.0))
    assert threshold(np.full(50, 40.0), 2.0)[1] == 80.0  # at high rates the factor decides
    assert threshold(np.zeros(50), 2.0)[1] == 2.0  # bursts separated by silence: three requests make one


SIM_DRAIN = """
[workload]
name = "burst-with-a-long-drain"
duration_s = 80.0
seed = 3

[workload.arrivals]
process = "windowed_gamma"
windows = [
  { duration_s = 20.0, rate = 2.0, cv = 1.0 },
  { duration_s = 4.0, rate = 60.0, cv = 1.0 },
  { duration_s = 56.0, rate = 2.0, cv = 1.0 },
]

[workload.prompt]
dist = "lognormal"
median = 200.0
sigma = 0.2
min = 64
max = 300

[workload.output]
dist = "lognormal"
median = 120.0
sigma = 0.2
min = 16
max = 200

[target]
kind = "sim"

[replay]
burst_window_s = 2.0
"""


def test_a_simulated_burst_far_above_capacity_keeps_its_drain(tmp_path, capsys):
    """The simulated engine (16 KV blocks, 8 sequences) takes 60 requests/s for 4 s; the backlog drains for
    seconds after. The episode covers the burst and the drain, and the calm is as fast as before the burst."""
    import pyarrow.parquet as pq

    preset = tmp_path / "drain.toml"
    preset.write_text(SIM_DRAIN)
    out = tmp_path / "run"
    assert main(["simulate", str(preset), "--out", str(out), "--json"]) == 0
    b = json.loads(capsys.readouterr().out.splitlines()[-1])["burst"]
    t = pq.read_table(out / "requests.parquet").to_pandas()
    ttft = t.first_s - t.sent_s
    burst_cleared = t[(t.scheduled_s >= 20) & (t.scheduled_s < 24)].end_s.max()
    assert burst_cleared > 28.0  # the known drain: the burst's last request ended seconds after it
    before = ttft[t.scheduled_s < 20]
    [ep] = b["episodes"]
    assert ep["start_s"] == 20.0 and ep["high_s"] == 4.0 and ep["recovered"]
    assert burst_cleared - 2.0 <= ep["end_s"] <= burst_cleared + 2.0
    # Requests that arrived in the drain, and waited behind the burst, are burst requests.
    in_drain = (t.scheduled_s >= 24) & (t.scheduled_s < burst_cleared - 2.0)
    assert (ttft[in_drain] > 10 * before.median()).all()
    assert b["busy"]["requests"] == ep["requests"] >= ((t.scheduled_s >= 20) & (t.scheduled_s < ep["end_s"])).sum()
    assert b["calm"]["ttft_s"]["p99"] <= 1.5 * before.quantile(0.99)
    assert b["busy"]["ttft_s"]["p50"] > 100 * b["calm"]["ttft_s"]["p50"]
