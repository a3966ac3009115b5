"""Prefixes as the workload says them: the block length each `prefix_blocks` id stands for travels in the workload's
metadata (Mooncake 512, a synthesised workload its `block_tokens`, a generic trace its `block_tokens` option), and
the plan, the chat prompts and the simulator all read it."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.replay import quick_settings, replay  # noqa: E402
from tests.testserver import ServerConfig, TestServer  # noqa: E402

from burststudio.errors import UserError  # noqa: E402
from burststudio.replay.plan import build_plan  # noqa: E402
from burststudio.settings import ReplaySettings, SimSettings  # noqa: E402
from burststudio.targets.sim.engine import simulate  # noqa: E402
from burststudio.workload import formats  # noqa: E402
from burststudio.workload.model import Workload  # noqa: E402
from burststudio.workload.synth import synthesize  # noqa: E402
from burststudio.workload.transform import merge  # noqa: E402


def common(a, b) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def sessions_spec(block: int, shared: int, turns: int, requests: int = 40) -> dict:
    return {"requests": requests, "arrivals": {"process": "poisson", "rate": 1.0},
            "prompt": {"dist": "fixed", "value": 100}, "output": {"dist": "fixed", "value": 4},
            "sessions": {"block_tokens": block, "shared_prefix_tokens": shared,
                         "turns": {"dist": "fixed", "value": turns}, "think_time": {"dist": "fixed", "value_s": 1}}}


def test_single_turns_share_only_the_system_prompt():
    # The case: 64-token blocks, a 64-token system prompt, one turn each: 164-token prompts that share 64.
    w = synthesize(sessions_spec(64, 64, 1, requests=5), seed=1)
    assert w.prefix_block_tokens == 64
    plan = build_plan(w, ReplaySettings(), model="m", vocab_size=32000)
    assert plan.block_tokens == 64
    prompts = [plan.prompt_ids(i) for i in range(len(plan))]
    assert {len(p) for p in prompts} == {164}
    assert {common(a, b) for a in prompts for b in prompts if a is not b} == {64}


def test_the_block_length_survives_transforms_and_files(tmp_path):
    w = synthesize(sessions_spec(32, 32, 2), seed=2)
    from burststudio.workload.transform_spec import TransformSpec

    cut = TransformSpec(time_scale=2.0, rate_scale=1.5).apply(w, 0)
    assert cut.prefix_block_tokens == 32
    w.to_parquet(tmp_path / "w.parquet")
    assert formats.load(tmp_path / "w.parquet").prefix_block_tokens == 32
    other = synthesize(sessions_spec(64, 64, 1), seed=3)
    with pytest.raises(UserError, match="different lengths"):
        merge([w, other])


def test_mooncake_and_generic_traces(tmp_path):
    moon = tmp_path / "m.jsonl"
    moon.write_text('{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1, 2]}\n'
                    '{"timestamp": 10, "input_length": 700, "output_length": 5, "hash_ids": [1, 3]}\n')
    assert formats.load(moon).prefix_block_tokens == 512
    with pytest.raises(UserError, match="not to mooncake"):
        formats.load(moon, block_tokens=64)
    generic = tmp_path / "g.jsonl"
    generic.write_text('{"t": 0, "p": 100, "o": 5, "h": [1, 2]}\n{"t": 1, "p": 100, "o": 5, "h": [1, 3]}\n')
    columns = {"arrival_s": "t", "prompt_tokens": "p", "output_tokens": "o", "prefix_blocks": "h"}
    assert formats.load(generic, columns=columns).prefix_block_tokens == 512
    w = formats.load(generic, columns=columns, block_tokens=40)
    assert w.prefix_block_tokens == 40
    plan = build_plan(w, ReplaySettings(), model="m", vocab_size=1000)
    assert common(plan.prompt_ids(0), plan.prompt_ids(1)) == 40
    with pytest.raises(UserError, match="block_tokens"):
        formats.load(generic, columns=columns, block_tokens=0)


def test_a_preset_and_the_command_line_give_a_trace_its_block_length(tmp_path):
    import subprocess

    from burststudio.presets import load_preset

    generic = tmp_path / "g.jsonl"
    generic.write_text('{"t": 0, "p": 100, "o": 5, "h": [1, 2]}\n')
    preset = tmp_path / "p.toml"
    preset.write_text(f'[workload]\ntrace = "{generic}"\nblock_tokens = 48\n'
                      '[workload.columns]\narrival_s = "t"\nprompt_tokens = "p"\noutput_tokens = "o"\n'
                      'prefix_blocks = "h"\n')
    assert load_preset(preset).build_workload().prefix_block_tokens == 48
    out = tmp_path / "w.parquet"
    p = subprocess.run([sys.executable, "-m", "burststudio", "convert", generic, "--out", str(out), "--columns",
                        "arrival_s=t,prompt_tokens=p,output_tokens=o,prefix_blocks=h", "--block-tokens", "24"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert Workload.from_parquet(out).prefix_block_tokens == 24


def _spaced(w: Workload, gap_s: float) -> Workload:
    """The same rows a fixed gap apart (the test server then sees them in order)."""
    t = w.table
    return Workload.from_columns(np.arange(len(w)) * gap_s, w.prompt_tokens, w.output_tokens, w.meta,
                                 session_id=t.column("session_id"), prefix_blocks=t.column("prefix_blocks"))


def test_chat_prompts_share_exactly_the_prefixes_completions_prompts_share(tmp_path):
    w = _spaced(synthesize(sessions_spec(16, 16, 3, requests=12), seed=4), 0.02)
    sent = {}
    for endpoint in ("completions", "chat"):
        with TestServer(ServerConfig(record_bodies=True)) as srv:
            result = replay(w, srv.url, tmp_path / endpoint, quick_settings(endpoint=endpoint))
            assert result.summary["finished"] == len(w)
            bodies = list(srv.state.bodies)
        sent[endpoint] = [b["prompt"] if endpoint == "completions" else b["messages"][0]["content"].split()
                          for b in bodies]
    ids, words = sent["completions"], sent["chat"]
    assert [len(p) for p in ids] == [len(p) for p in words] == list(w.prompt_tokens)
    blocks = w.table.column("prefix_blocks").to_pylist()
    sessions = w.table.column("session_id").to_pylist()
    pairs = 0
    for a in range(len(w)):
        for b in range(a + 1, len(w)):
            shared = common(ids[a], ids[b])
            # What the workload says they share: their equal leading blocks of 16 tokens.
            assert shared == min(common(blocks[a], blocks[b]) * 16, len(ids[a]), len(ids[b]))
            assert common(words[a], words[b]) == shared
            if sessions[a] == sessions[b]:
                assert shared > 16  # a later turn repeats the earlier one, beyond the system prompt
                pairs += 1
    assert pairs >= 4


def test_the_simulator_reads_the_block_length():
    # Two requests whose first block id is shared and second is not: 512-token ids make their first 128-token
    # page shared; 64-token ids make it cover the second id too, which differs.
    prompt, blocks = [200, 200], [[7, 1], [7, 2]]
    s = SimSettings(num_blocks=64, max_model_len=512)
    long = simulate([0.0, 1.0], prompt, [4, 4], s, prefix_blocks=blocks)
    short = simulate([0.0, 1.0], prompt, [4, 4], s, prefix_blocks=blocks, prefix_block_tokens=64)
    assert long.requests[1].cached_tokens == 128
    assert short.requests[1].cached_tokens == 0
