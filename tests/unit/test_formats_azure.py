"""Azure LLM traces: 2023 naive date-times with 100 ns digits, 2024 UTC offsets, 2025 multimodal with `Z`."""

import csv
from datetime import datetime
from pathlib import Path

import numpy as np

from burststudio.workload.formats import detect_format, load

DATA = Path(__file__).resolve().parent.parent / "data"


def test_2023_first_timestamps_to_the_microsecond(traces_dir):
    path = traces_dir / "azure_llm_2023_code.csv"
    assert detect_format(path) == "azure"
    w = load(path)
    assert len(w) == 8819
    # 18:17:03.9799600, 18:17:04.0319600, 18:17:04.0781490, 18:17:04.1206440
    np.testing.assert_allclose(w.arrival_s[:4], [0.0, 0.052, 0.098189, 0.140684], atol=1e-9)
    assert w.meta.start_datetime == "2023-11-16T18:17:03.979960"
    assert w.meta.start_time_of_day_s == 18 * 3600 + 17 * 60 + 3.97996
    assert w.prompt_tokens[:4].tolist() == [4808, 3180, 110, 7433]
    assert w.output_tokens[:4].tolist() == [10, 8, 27, 14]


def test_2023_whole_file_against_the_standard_library(traces_dir):
    path = traces_dir / "azure_llm_2023_code.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    # Python's datetime keeps microseconds; the 100 ns digit of this file is always 0.
    stamps = [datetime.strptime(r["TIMESTAMP"][:26], "%Y-%m-%d %H:%M:%S.%f") for r in rows]
    expected = np.array([(s - stamps[0]).total_seconds() for s in stamps])
    w = load(path)
    np.testing.assert_allclose(w.arrival_s, np.sort(expected), atol=1e-6)
    assert w.duration_s == max(expected)


def test_2024_utc_offsets_with_and_without_fractions():
    w = load(DATA / "azure_2024_sample.csv")
    assert w.meta.origin_format == "azure"
    np.testing.assert_allclose(w.arrival_s, [0.0, 0.17326, 0.99007, 1.47572, 1.990071], atol=1e-9)
    assert w.meta.start_datetime == "2024-05-10T00:00:00.009930Z"
    assert w.meta.start_time_of_day_s == 0.00993
    assert "num_images" not in w.columns


def test_2025_multimodal_images():
    path = DATA / "azure_2025_multimodal_sample.csv"
    assert detect_format(path) == "azure"
    w = load(path)
    np.testing.assert_allclose(w.arrival_s, [0.0, 0.488, 1.588, 1.838001], atol=1e-9)
    assert w.table.column("num_images").to_pylist() == [1, 0, 3, 2]
    assert w.prompt_tokens.tolist() == [1530, 210, 4602, 3100]
    assert w.meta.start_datetime == "2025-03-20T09:00:00.412000Z"
