"""Short answers: a server that ends answers early (it ignores ignore_eos/min_tokens), over real HTTP against the
test server. `[replay] short_answers` says whether such an answer fails or counts as ok with its real length; the
summary reports them apart either way."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, replay, workload  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.replay import recorder  # noqa: E402
from burststudio.settings import ReplaySettings  # noqa: E402


def _run(tmp_path, policy: str):
    # Prompts of 30 tokens get 2 of their 8 tokens, then a clean end; 20-token prompts get all 8; 40-token ones
    # lose the connection mid-stream (a failure whatever the setting).
    cfg = ServerConfig(ttft_s=0.002, token_delay_s=0.001, fault_after=2,
                       faults_by_prompt_len={30: "truncated", 40: "cut"})
    with TestServer(cfg) as srv:
        w = workload(7, prompt=[20, 30, 30, 30, 20, 40, 20], output=8)
        return replay(w, srv.url, tmp_path / policy, quick_settings(short_answers=policy))


def test_the_default_counts_a_short_answer_as_a_failure(tmp_path):
    assert ReplaySettings().short_answers == "fail"
    result = _run(tmp_path, "fail")
    s = result.summary
    assert s["finished"] == 3 and s["failed"] == 4
    assert s["failures_by_class"] == {"truncated": 3, "connection": 1}
    assert s["short_answers"] == {"counted_as": "fail", "requests": 3, "finished": 0, "failed": 3,
                                  "mean_shortfall_tokens": 6.0}


def test_ok_counts_a_short_answer_with_its_real_length(tmp_path):
    result = _run(tmp_path, "ok")
    s = result.summary
    assert s["finished"] == 6 and s["failed"] == 1 and s["failures_by_class"] == {"connection": 1}
    assert s["short_answers"] == {"counted_as": "ok", "requests": 3, "finished": 3, "failed": 0,
                                  "mean_shortfall_tokens": 6.0}
    records = {r["i"]: r for r in recorder.read_journal(result.run_dir)[0]}
    short = [r for r in records.values() if r["prompt_tokens"] == 30]
    assert all(r["outcome"] == "ok" and r["shortfall"] == 6 and r["usage_completion_tokens"] == 2
               and r["error"] is None for r in short)
    assert all(r.get("shortfall") is None for r in records.values() if r["prompt_tokens"] != 30)
    # Measured with their real length: TTFT and E2E over all six, throughput over the tokens that came.
    assert s["ttft_s"]["count"] == 6 and s["e2e_s"]["count"] == 6
    # The table keeps the field too.
    import pyarrow.parquet as pq

    table = pq.read_table(result.run_dir / "requests.parquet")
    assert sorted(x for x in table.column("shortfall").to_pylist() if x is not None) == [6, 6, 6]


def test_a_bad_value_is_one_line(tmp_path):
    import pytest

    from burststudio.errors import UserError
    from burststudio.presets import preset_from_dict

    trace = tmp_path / "w.parquet"
    workload(2).to_parquet(trace)
    with pytest.raises(UserError) as caught:
        preset_from_dict({"workload": {"trace": str(trace)}, "replay": {"short_answers": "maybe"}})
    assert "replay.short_answers" in str(caught.value) and "\n" not in str(caught.value)
