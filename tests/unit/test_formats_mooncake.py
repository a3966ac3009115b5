"""Mooncake JSON lines: milliseconds, lengths, and hash_ids as prefix blocks."""

import json

import numpy as np

from burststudio.workload.formats import detect_format, load


def test_mooncake_conversation_trace(traces_dir):
    path = traces_dir / "mooncake_conversation_trace.jsonl"
    assert detect_format(path) == "mooncake"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    w = load(path)
    assert len(w) == len(rows) == 12031
    np.testing.assert_allclose(w.arrival_s, [r["timestamp"] / 1000 for r in rows])
    assert w.duration_s == rows[-1]["timestamp"] / 1000
    assert w.prompt_tokens.tolist() == [r["input_length"] for r in rows]
    assert w.output_tokens.tolist() == [r["output_length"] for r in rows]
    blocks = w.table.column("prefix_blocks")
    assert blocks[0].as_py() == list(range(14))
    assert blocks[1].as_py()[:2] == [0, 14]  # shares block 0 with the first request
    assert blocks.to_pylist() == [r["hash_ids"] for r in rows]
    assert w.meta.origin_format == "mooncake"
