"""BurstGPT loading: the shipped head of BurstGPT_1, the 8-column layout of BurstGPT_3, spreading and failures."""

import csv
from pathlib import Path

import numpy as np
import pytest

from burststudio.workload.formats import burstgpt, detect_format, load

DATA = Path(__file__).resolve().parent.parent / "data"


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_detects_both_layouts(traces_dir):
    assert detect_format(traces_dir / "burstgpt_1_head42.csv") == "burstgpt"
    assert detect_format(DATA / "burstgpt_3_sample.csv") == "burstgpt"


def test_file_1_rebased_with_time_of_day(traces_dir):
    w = load(traces_dir / "burstgpt_1_head42.csv")
    rows = _rows(traces_dir / "burstgpt_1_head42.csv")
    assert len(w) == len(rows) == 42
    # Timestamps 5, 45, 118 (all distinct seconds): re-based to the first, the time of day kept in the metadata.
    assert w.arrival_s[:3].tolist() == [0.0, 40.0, 113.0]
    assert w.meta.start_time_of_day_s == 5.0
    assert w.meta.origin_format == "burstgpt"
    expected = np.array([float(r["Timestamp"]) for r in rows]) - float(rows[0]["Timestamp"])
    np.testing.assert_array_equal(w.arrival_s, expected)  # no ties in this head: nothing moves
    assert w.prompt_tokens.tolist() == [int(r["Request tokens"]) for r in rows]
    assert w.table.column("model").to_pylist() == [r["Model"] for r in rows]
    assert w.table.column("source").to_pylist() == [r["Log Type"] for r in rows]
    assert "session_id" not in w.columns and "recorded_latency_s" not in w.columns


def test_failed_rows_are_kept_and_flagged(traces_dir):
    w = load(traces_dir / "burstgpt_1_head42.csv")
    rows = _rows(traces_dir / "burstgpt_1_head42.csv")
    expected = [r["Response tokens"] == "0" for r in rows]
    assert w.failed.tolist() == expected
    assert sum(expected) == 4  # timestamps 1106, 4525, 4608, 4725
    assert w.arrival_s[w.failed].tolist() == [1101.0, 4520.0, 4603.0, 4720.0]


def test_file_3_layout_by_header_name():
    w = load(DATA / "burstgpt_3_sample.csv")
    assert len(w) == 7
    # Float timestamps from 19,440,110 s = day 225 + 110 s: re-based to 0, the time of day kept.
    assert w.meta.start_time_of_day_s == 110.0
    assert w.meta.extra["first_timestamp_s"] == 19440110.0
    assert w.table.column("session_id").to_pylist()[:4] == [
        "3f2a1c9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b", None, None, "9b8c7d6e-5f4a-4b3c-8d2e-1f0a9b8c7d6e"]
    assert w.table.column("recorded_latency_s").to_pylist() == [12.0, 3.0, 0.0, 25.0, 1.0, 9.0, 4.0]
    assert w.table.column("model").to_pylist()[:2] == ["ChatGPT", "GPT-4"]
    assert w.table.column("source").to_pylist()[:2] == ["Conversation log", "API log"]
    assert w.failed.tolist() == [False, False, True, False, True, False, False]
    assert w.prompt_tokens.tolist() == [702, 1204, 531, 88, 0, 1530, 310]


def test_rows_sharing_a_second_are_spread_in_file_order():
    w = load(DATA / "burstgpt_3_sample.csv")
    # Three rows at second 0 -> 0, 1/3, 2/3; one at 2; two at 3 -> 3, 3.5; one at 60.
    np.testing.assert_allclose(w.arrival_s, [0.0, 1 / 3, 2 / 3, 2.0, 3.0, 3.5, 60.0])
    assert w.prompt_tokens[:3].tolist() == [702, 1204, 531]  # the file's order within the second
    assert w.meta.extra["spread_within_second"] is True


def test_spread_rule_never_stacks_or_leaves_the_second():
    ts = np.array([0, 0, 0, 0, 1, 5, 5, 9], dtype=float)
    offsets = burstgpt.spread_within_seconds(ts)
    spread = ts + offsets
    assert np.all(np.diff(spread) > 0)
    assert np.all(np.floor(spread) == ts)
    np.testing.assert_allclose(offsets, [0, 0.25, 0.5, 0.75, 0, 0, 0.5, 0])


def test_unsorted_rows_are_sorted_with_one_warning():
    with pytest.warns(UserWarning) as caught:
        w = load(DATA / "burstgpt_unsorted.csv")
    assert len(caught) == 1
    assert "not in order" in str(caught[0].message)
    # Timestamps 5, 45, 30, 45, 60 -> sorted 5, 30, 45, 45, 60 (stable), the two at 45 spread over that second.
    np.testing.assert_allclose(w.arrival_s, [0.0, 25.0, 40.0, 40.5, 55.0])
    assert w.prompt_tokens.tolist() == [472, 417, 1087, 1360, 185]
    assert w.meta.extra["sorted_on_load"] is True


def test_whole_numbers_written_as_floats_are_accepted(tmp_path):
    f = tmp_path / "floats.csv"
    f.write_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                 "10.0,ChatGPT,12.0,3.0,15.0,API log\n11.5,GPT-4,4,0,4,API log\n")
    w = load(f)
    assert w.prompt_tokens.tolist() == [12, 4]
    # Sub-second timestamps say where within the second a row came: kept, not spread.
    assert w.arrival_s.tolist() == [0.0, 1.5]
    assert w.meta.extra["spread_within_second"] is False
