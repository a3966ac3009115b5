"""Generic tables with a column mapping, BurstStudio's own Parquet files, and compressed files."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from burststudio.errors import InputFileError, UserError
from burststudio.workload import Workload
from burststudio.workload.formats import FORMATS, detect_format, load

DATA = Path(__file__).resolve().parent.parent / "data"


def test_csv_with_datetime_arrivals_and_mapping():
    with pytest.warns(UserWarning):  # the third row is earlier than the second
        w = load(DATA / "generic_datetime.csv", columns={
            "arrival_s": "when", "prompt_tokens": "in", "output_tokens": "out", "model": "who"})
    assert w.meta.origin_format == "csv"
    assert w.arrival_s.tolist() == [0.0, 0.25, 1.75]
    assert w.prompt_tokens.tolist() == [150, 100, 200]
    assert w.table.column("model").to_pylist() == ["alpha", "alpha", "beta"]
    assert w.meta.start_datetime == "2024-01-02T10:00:00.000000"


def test_jsonl_with_seconds_and_prefix_blocks():
    w = load(DATA / "generic_seconds.jsonl", columns={
        "arrival_s": "t", "prompt_tokens": "p", "output_tokens": "o", "prefix_blocks": "blocks"})
    assert w.meta.origin_format == "jsonl"
    assert w.arrival_s.tolist() == [0.0, 0.5, 2.75]
    assert w.meta.extra["arrival_offset_s"] == 12.5
    assert w.table.column("prefix_blocks").to_pylist() == [[1, 2], [1, 3], [4]]


def test_csv_named_like_the_workload_needs_no_mapping(tmp_path):
    f = tmp_path / "plain.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens,source\n0.5,10,2,a\n1.0,11,3,b\n")
    assert detect_format(f) == "csv"
    w = load(f)
    assert w.arrival_s.tolist() == [0.0, 0.5]
    assert w.table.column("source").to_pylist() == ["a", "b"]


def test_parquet_with_mapping(tmp_path):
    f = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"ts": pa.array([100.0, 101.5, 103.0]), "i": [5, 6, 7], "o": [1, 2, 3]}), f)
    assert detect_format(f) == "parquet"
    w = load(f, columns={"arrival_s": "ts", "prompt_tokens": "i", "output_tokens": "o"})
    assert w.arrival_s.tolist() == [0.0, 1.5, 3.0]
    assert w.output_tokens.tolist() == [1, 2, 3]
    with pytest.raises(InputFileError, match="no column for 'arrival_s'"):
        load(f, format="parquet")


def test_workload_parquet_keeps_generator_and_seed(tmp_path, traces_dir):
    src = load(traces_dir / "burstgpt_1_head42.csv")
    meta = src.meta.derive("head 42", generator={"name": "gamma", "shape": 0.5}, seed=7)
    f = tmp_path / "w.parquet"
    Workload(src.table, meta).to_parquet(f)
    assert detect_format(f) == "workload"
    back = load(f)
    assert back.table.equals(src.table)
    assert back.meta.generator == {"name": "gamma", "shape": 0.5}
    assert back.meta.seed == 7
    assert back.meta.origin_format == "burstgpt"


def test_mapping_names_unknown_workload_column():
    with pytest.raises(UserError, match="unknown workload column 'arrival'"):
        load(DATA / "generic_datetime.csv", columns={"arrival": "when"})


def test_mapping_to_a_missing_file_column():
    with pytest.raises(InputFileError, match="missing column 'stamp'") as info:
        load(DATA / "generic_datetime.csv", columns={"arrival_s": "stamp", "prompt_tokens": "in",
                                                      "output_tokens": "out"})
    assert info.value.line == 1


def _compress(src: Path, dest: Path, kind: str) -> Path:
    if kind == "gzip":
        with open(src, "rb") as fin, gzip.open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        with pa.CompressedOutputStream(str(dest), "zstd") as out:
            out.write(src.read_bytes())
    return dest


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
@pytest.mark.parametrize("name", ["burstgpt_1_head42.csv", "azure_llm_2023_code.csv",
                                  "mooncake_conversation_trace.jsonl"])
def test_compressed_copies_load_the_same(tmp_path, traces_dir, kind, name):
    src = traces_dir / name
    suffix = ".gz" if kind == "gzip" else ".zst"
    plain = load(src)
    packed = load(_compress(src, tmp_path / (name + suffix), kind))
    assert packed.table.equals(plain.table)
    assert packed.meta.name == plain.meta.name
    # Magic bytes, not the suffix, say it is compressed.
    disguised = _compress(src, tmp_path / name, kind)
    assert detect_format(disguised) == plain.meta.origin_format
    assert load(disguised).table.equals(plain.table)


def test_format_names_match_the_command_line():
    from burststudio.commands._workload_args import FORMAT_NAMES

    assert FORMAT_NAMES == FORMATS


def test_format_override(traces_dir):
    w = load(traces_dir / "burstgpt_1_head42.csv", format="csv",
             columns={"arrival_s": "Timestamp", "prompt_tokens": "Request tokens", "output_tokens": "Response tokens"})
    # Read as a plain table: no spreading, no failure flags, no time of day.
    assert "failed" not in w.columns and w.meta.start_time_of_day_s is None
    assert w.arrival_s[:3].tolist() == [0.0, 40.0, 113.0]
    np.testing.assert_array_equal(w.prompt_tokens, load(traces_dir / "burstgpt_1_head42.csv").prompt_tokens)


def test_loaders_import_neither_textual_nor_aiohttp():
    import subprocess
    import sys

    code = ("import sys\nimport burststudio.workload.formats as f\nimport burststudio.commands.inspect\n"
            "f.load(sys.argv[1])\nprint(' '.join(sys.modules))")
    trace = Path(__file__).resolve().parent.parent.parent / "traces" / "burstgpt_1_head42.csv"
    out = subprocess.run([sys.executable, "-c", code, str(trace)], capture_output=True, text=True, check=True).stdout
    loaded = {m.split(".")[0] for m in out.split()}
    assert "textual" not in loaded and "aiohttp" not in loaded
