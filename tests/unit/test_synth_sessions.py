"""Conversations: turns share their prefix, as block ids, and follow the arrival process."""

from collections import defaultdict

import numpy as np
import pytest

from burststudio.workload.synth import synthesize

BLOCK = 64


def conversation_spec(**sessions) -> dict:
    return {
        "requests": 3000,
        "arrivals": {"process": "poisson", "rate": 2.0},
        "prompt": {"dist": "lognormal", "median": 60, "sigma": 0.6, "max": 400},
        "output": {"dist": "lognormal", "median": 90, "sigma": 0.6, "max": 400},
        "sessions": {"block_tokens": BLOCK, "turns": {"dist": "geometric", "mean": 4, "max": 12},
                     "think_time": {"dist": "exponential", "mean_s": 8}, **sessions},
    }


def by_session(w) -> dict:
    df = w.to_pandas()
    out = defaultdict(list)
    for row in df.itertuples(index=False):
        out[row.session_id].append(row)
    return out


def test_turns_share_their_prefix_turn_over_turn():
    w = synthesize(conversation_spec(), seed=5)
    assert len(w) == 3000 and w.has("session_id") and w.has("prefix_blocks")
    sessions = by_session(w)
    multi = [rows for rows in sessions.values() if len(rows) >= 3]
    assert len(multi) > 50
    for rows in sessions.values():
        for prev, cur in zip(rows, rows[1:]):
            assert cur.arrival_s >= prev.arrival_s
            # The new prompt holds the previous prompt and its answer, plus a new message of at least one token.
            assert cur.prompt_tokens > prev.prompt_tokens + prev.output_tokens
            full_prev = prev.prompt_tokens // BLOCK
            assert list(cur.prefix_blocks[:full_prev]) == list(prev.prefix_blocks[:full_prev])
        for row in rows:
            assert len(row.prefix_blocks) == -(-row.prompt_tokens // BLOCK)  # one id per (partial) block


def test_conversations_share_no_blocks_without_a_system_prompt():
    w = synthesize(conversation_spec(), seed=6)
    owner = {}
    for sid, blocks in zip(w.table.column("session_id").to_pylist(), w.table.column("prefix_blocks").to_pylist()):
        for b in blocks:
            assert owner.setdefault(b, sid) == sid


def test_a_shared_system_prompt_is_shared_by_every_conversation():
    w = synthesize(conversation_spec(shared_prefix_tokens=3 * BLOCK + 10), seed=7)
    blocks = w.table.column("prefix_blocks").to_pylist()
    assert all(b[:3] == [0, 1, 2] for b in blocks)
    assert w.prompt_tokens.min() > 3 * BLOCK + 10
    # The block holding the end of the system prompt also holds a conversation's own tokens: not shared.
    fourth = defaultdict(set)
    for sid, b in zip(w.table.column("session_id").to_pylist(), blocks):
        fourth[b[3]].add(sid)
    assert all(len(s) == 1 for s in fourth.values())


def test_turn_counts_and_think_times():
    spec = conversation_spec(turns={"dist": "fixed", "value": 3}, think_time={"dist": "fixed", "value_s": 5.0})
    del spec["requests"]
    spec["duration_s"] = 2000
    spec["prompt"] = {"dist": "fixed", "value": 10}
    spec["output"] = {"dist": "fixed", "value": 20}
    w = synthesize(spec, seed=8)
    sessions = by_session(w)
    complete = [rows for rows in sessions.values() if rows[0].arrival_s < 2000 - 20]
    assert all(len(rows) == 3 for rows in complete)
    for rows in complete:
        assert [r.arrival_s - rows[0].arrival_s for r in rows] == pytest.approx([0, 5, 10])
        assert [r.prompt_tokens for r in rows] == [10, 40, 70]
    # Conversation starts follow the arrival process: Poisson at 2 per second.
    starts = np.sort([rows[0].arrival_s for rows in sessions.values()])
    assert len(starts) / 2000 == pytest.approx(2.0, rel=0.08)
    gaps = np.diff(starts)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.08)
    assert w.arrival_s.max() < 2000


def test_geometric_turns_have_the_asked_mean():
    spec = conversation_spec(turns={"dist": "geometric", "mean": 3.0, "max": 1000})
    spec["requests"] = 20000
    w = synthesize(spec, seed=9)
    sessions = by_session(w)
    # Conversations cut at the end of the run are left out of the count.
    cut = w.arrival_s[-1] - 200
    turns = [len(rows) for rows in sessions.values() if rows[0].arrival_s < cut]
    assert np.mean(turns) == pytest.approx(3.0, rel=0.06)


def test_max_context_ends_a_conversation():
    spec = conversation_spec(max_context_tokens=600, turns={"dist": "fixed", "value": 50})
    w = synthesize(spec, seed=10)
    assert (w.prompt_tokens + w.output_tokens).max() <= 600
    assert max(len(r) for r in by_session(w).values()) < 50


def test_no_turn_fits_is_a_clear_error():
    from burststudio.workload.synth import SpecError

    spec = conversation_spec(max_context_tokens=100, shared_prefix_tokens=200)
    with pytest.raises(SpecError) as info:
        synthesize(spec, seed=1)
    assert info.value.path == ("sessions", "max_context_tokens")
