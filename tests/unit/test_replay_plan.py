"""Workload rows -> requests: exact lengths, ids inside the vocabulary, shared prefixes, counted skips and clips."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, workload  # noqa: E402

from burststudio.replay.plan import build_plan  # noqa: E402
from burststudio.workload.model import DEFAULT_PREFIX_BLOCK_TOKENS as PREFIX_BLOCK_TOKENS  # noqa: E402


def test_prompt_has_exact_length_and_ids_inside_vocabulary():
    w = workload(5, prompt=[1, 7, 100, 1000, 3000], output=[1, 2, 3, 4, 5])
    plan = build_plan(w, quick_settings(), model="m", vocab_size=50)
    for i in range(len(plan)):
        body = plan.body(i)
        ids = body["prompt"]
        assert len(ids) == w.prompt_tokens[i]
        assert min(ids) >= 0 and max(ids) < 50
        assert body["max_tokens"] == body["min_tokens"] == w.output_tokens[i]
        assert body["ignore_eos"] is True and body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    assert json.loads(plan.body_bytes(2))["prompt"] == plan.body(2)["prompt"]


def test_shared_prefix_blocks_share_token_ids_and_nothing_else():
    blocks = [[0, 1], [0, 2], [0, 1], [5]]
    w = workload(4, prompt=[1200, 1200, 700, 1200], output=4, prefix_blocks=blocks)
    plan = build_plan(w, quick_settings(), model="m", vocab_size=32000)
    p = [np.array(plan.prompt_ids(i)) for i in range(4)]
    B = PREFIX_BLOCK_TOKENS
    assert np.array_equal(p[0][:B], p[1][:B])  # block 0 shared
    assert not np.array_equal(p[0][B:2 * B], p[1][B:2 * B])  # blocks 1 and 2 differ
    assert np.array_equal(p[0][:700], p[2])  # a shorter prompt with the same blocks is a prefix
    assert not np.array_equal(p[0][:B], p[3][:B])
    assert (p[0][2 * B:] != p[1][2 * B:]).any()  # the per-row tails differ
    # The same seed gives the same ids; another seed other ids.
    again = build_plan(w, quick_settings(), model="m", vocab_size=32000)
    assert again.prompt_ids(1) == plan.prompt_ids(1)
    other = build_plan(w, quick_settings(seed=7), model="m", vocab_size=32000)
    assert other.prompt_ids(1) != plan.prompt_ids(1)


def test_failed_rows_skipped_or_sent_and_counted():
    w = workload(6, prompt=[10, 0, 10, 0, 10, 10], output=[5, 0, 5, 0, 5, 5],
                 failed=[False, True, False, True, False, False])
    plan = build_plan(w, quick_settings(), model="m", vocab_size=100)
    assert len(plan) == 4 and plan.stats.skipped_failed == 2 and plan.stats.planned == 4
    assert list(plan.rows) == [0, 2, 4, 5]
    sent = build_plan(w, quick_settings(failed_rows="send"), model="m", vocab_size=100)
    assert len(sent) == 6 and sent.stats.sent_failed == 2
    assert sent.stats.lengths_raised == 2 and sent.prompt_tokens.min() == 1 and sent.output_tokens.min() == 1


@pytest.mark.parametrize("overlong", ["clip", "skip"])
def test_overlong_prompts_clipped_or_skipped_and_counted(overlong):
    w = workload(4, prompt=[100, 500, 90, 2000], output=[10, 10, 30, 600])
    plan = build_plan(w, quick_settings(overlong=overlong), model="m", vocab_size=100, max_model_len=120)
    assert (plan.prompt_tokens + plan.output_tokens <= 120).all()
    if overlong == "clip":
        assert len(plan) == 4 and plan.stats.overlong_clipped == 2 and plan.stats.overlong_skipped == 0
        assert plan.output_tokens[1] == 10  # the output is kept whole where it fits
        assert len(plan.body(3)["prompt"]) == plan.prompt_tokens[3] >= 1
    else:
        assert len(plan) == 2 and plan.stats.overlong_skipped == 2 and plan.stats.overlong_clipped == 0
        assert list(plan.rows) == [0, 2]


def test_schedule_keeps_the_workload_times():
    w = workload(5, gap_s=0.25)
    plan = build_plan(w, quick_settings(), model="m", vocab_size=100)
    assert np.allclose(plan.scheduled_s, [0, 0.25, 0.5, 0.75, 1.0])


def test_chat_mode_sends_messages():
    plan = build_plan(workload(2, prompt=30), quick_settings(endpoint="chat"), model="m", vocab_size=100)
    body = plan.body(0)
    assert plan.path == "/v1/chat/completions"
    assert len(body["messages"][0]["content"].split()) == 30
    assert body["max_completion_tokens"] == body["min_tokens"] == 4
