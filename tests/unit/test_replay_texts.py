"""Real text: prompts of exactly each row's token count in a tokenizer, prefixes shared as completions mode shares
ids, and a dataset's content fitted to each row (conversations kept together across a session's turns)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from burststudio.replay.plan import build_plan
from burststudio.replay.texts import Tokenizer
from burststudio.settings import ReplaySettings
from tests.support.replay import ROOT, workload, write_preset
from tests.support.tokenizer import make_tokenizer
from tests.testserver import ServerConfig, TestServer

DATASET = ROOT / "traces" / "datasets" / "prompts_sample.jsonl"


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


def sessions_workload():
    # Three sessions of three turns: each turn's prompt holds the ones before (shared prefix blocks), as the
    # synthesised conversations lay them out.
    rows, blocks, sess = [], [], []
    for s in range(3):
        for t in range(3):
            rows.append(64 * (t + 1) + 10)
            blocks.append([1000 * s + k for k in range(t + 1)])
            sess.append(f"s{s}")
    w = workload(9, gap_s=0.1, prompt=rows, output=4, session_id=sess, prefix_blocks=blocks)
    w.meta.prefix_block_tokens = 64
    return w


def plan_of(w, tok_dir, **kw):
    rs = ReplaySettings(endpoint="chat", tokenizer=str(tok_dir), **kw)
    return build_plan(w, rs, model="m", vocab_size=32000, seed=1)


def test_every_prompt_has_exactly_its_token_count(tok_dir):
    lengths = [1, 2, 7, 31, 64, 100, 257, 511, 1000]
    plan = plan_of(workload(len(lengths), prompt=lengths), tok_dir)
    tok = Tokenizer(tok_dir)
    for i, n in enumerate(lengths):
        text = plan.prompt_text(i)
        assert tok.count(text) == n, (n, text[:60])
        assert text.isprintable()
    assert plan.texts.off == 0


def test_shared_prefix_blocks_share_their_text(tok_dir):
    plan = plan_of(sessions_workload(), tok_dir)
    texts = [plan.prompt_text(i) for i in range(len(plan))]
    # Turns of one session share the text of their common blocks; other sessions share nothing of it.
    for s in range(3):
        a, b, c = texts[3 * s: 3 * s + 3]
        common = len(_common_prefix(b, c))
        assert common >= len(_common_prefix(a, b)) > 0.8 * len(a)
        assert len(_common_prefix(a, texts[(3 * s + 3) % 9])) < 10
    body = plan.body(0)
    assert body["messages"][0]["content"] == texts[0]


def _common_prefix(a: str, b: str) -> str:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return a[:k]


def test_a_dataset_fills_prompts_and_keeps_conversations(tok_dir):
    tok = Tokenizer(tok_dir)
    lines = [json.loads(x) for x in DATASET.read_text().splitlines()]
    corpus = " ".join(x.get("prompt") or " ".join(m["value"] for m in x["conversations"]) for x in lines)
    plan = plan_of(sessions_workload(), tok_dir, dataset=str(DATASET))
    texts = [plan.prompt_text(i) for i in range(len(plan))]
    for i, t in enumerate(texts):
        assert tok.count(t) == int(plan.prompt_tokens[i])
    for s in range(3):
        a, b, c = texts[3 * s: 3 * s + 3]
        assert b.startswith(a[: int(0.9 * len(a))]) and c.startswith(b[: int(0.9 * len(b))])
        assert a.split()[0] in corpus and a.split()[1] in corpus  # real sentences, not token soup
    # Rows without a session: the entry nearest their length, as text on the completions endpoint too.
    single = build_plan(workload(4, prompt=[5, 20, 40, 300]), ReplaySettings(tokenizer=str(tok_dir),
                        dataset=str(DATASET)), model="m", vocab_size=32000, seed=1)
    for i in range(4):
        body = single.body(i)
        assert isinstance(body["prompt"], str) and tok.count(body["prompt"]) == int(single.prompt_tokens[i])
        assert body["prompt"][:25] in DATASET.read_text() or i == 3  # 300 tokens: longer than any entry, padded


def test_replay_sends_the_fitted_text(tok_dir, tmp_path):
    trace = tmp_path / "w.parquet"
    workload(6, gap_s=0.02, prompt=[12, 40, 80, 120, 33, 7], output=3).to_parquet(trace)
    with TestServer(ServerConfig(record_bodies=True)) as srv:
        p = write_preset(tmp_path / "p.toml", trace, srv.url)
        r = subprocess.run([sys.executable, "-m", "burststudio", "replay", str(p), "--endpoint", "chat",
                            "--tokenizer", str(tok_dir), "--dataset", str(DATASET), "--out", str(tmp_path / "r")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        bodies = [b for b in srv.state.bodies if "messages" in b]
    tok = Tokenizer(tok_dir)
    assert sorted(tok.count(b["messages"][0]["content"]) for b in bodies) == [7, 12, 33, 40, 80, 120]
    assert f'tokenizer = "{tok_dir}"' in (tmp_path / "r" / "preset.toml").read_text()


@pytest.mark.parametrize(("args", "said"), [
    (["--dataset", str(DATASET)], "needs replay.tokenizer"),
    (["--tokenizer", "/nonexistent/tok"], "no tokenizer.json"),
    (["--tokenizer", "TOK", "--dataset", "BAD"], "bad.jsonl:2: not a JSON object"),
])
def test_bad_text_sources_are_one_line(args, said, tok_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{nope\n')
    args = [str(tok_dir) if a == "TOK" else str(bad) if a == "BAD" else a for a in args]
    r = subprocess.run([sys.executable, "-m", "burststudio", "simulate", str(ROOT / "presets" / "steady-poisson.toml"),
                        "--duration", "2", "--out", str(tmp_path / "x"), *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and said in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
