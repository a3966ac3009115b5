"""Fuzzing the trace loaders: any bytes in a file give a Workload or one clear error line.

Each input is written to a file and loaded with the format detected and with every format forced. Inputs are raw
bytes, CSV and JSON-lines texts under the headers of the known traces with hostile fields, mutations of the shipped
sample traces, and gzip streams (whole or cut short) of those.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, outcome  # noqa: E402

from burststudio.workload.formats import FORMATS, load  # noqa: E402
from burststudio.workload.model import Workload  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [p.read_bytes()[:1500] for p in sorted((ROOT / "tests" / "data").glob("*")) if p.is_file()] + [
    (ROOT / "traces" / name).read_bytes()[:1500]
    for name in ("burstgpt_1_head42.csv", "azure_llm_2023_code.csv", "mooncake_conversation_trace.jsonl")]

HEADERS = [
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type",
    "Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type",
    "TIMESTAMP,ContextTokens,GeneratedTokens",
    "arrival_s,prompt_tokens,output_tokens",
    "arrival_s,prompt_tokens,output_tokens,model,session_id,failed",
]
FIELDS = st.one_of(
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "inf", "-1", "0", "1e308", "1e-320", "ChatGPT", "GPT-4", "Conversation log",
                     "API log", "2023-11-16 18:17:03.9799600", "2024-05-10 00:00:00.009930+00:00", "2024-13-45",
                     '"', '""', '"a,b"', "\x00", "\ufeff", "é", "true", "False", "NULL"]),
    st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
JSON_KEYS = st.sampled_from(["timestamp", "input_length", "output_length", "hash_ids", "arrival_s", "prompt_tokens",
                             "output_tokens", "t", "p", "o", "model", "failed", "session_id", "prefix_blocks"])
FORMAT_CHOICES = st.sampled_from([None, *FORMATS])


@st.composite
def csv_texts(draw) -> bytes:
    header = draw(st.sampled_from(HEADERS))
    width = header.count(",") + 1
    rows = draw(st.lists(st.lists(FIELDS, min_size=max(0, width - 2), max_size=width + 2), max_size=12))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = sep.join([header] + [",".join(r) for r in rows]) + draw(st.sampled_from(["", sep]))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def jsonl_texts(draw) -> bytes:
    rows = draw(st.lists(st.dictionaries(JSON_KEYS, JSON_VALUES, max_size=6), min_size=1, max_size=10))
    lines = [json.dumps(r) for r in rows]
    if draw(st.booleans()):
        k = draw(st.integers(0, len(lines) - 1))
        lines[k] = lines[k][: draw(st.integers(0, len(lines[k])))]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@st.composite
def mutated_samples(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from([b",", b"\n", b'"', b"-", b"e9", b"{", b"}", b"\x00", b"\xff",
                                                  b"nan", b"99999999999999999999999"]))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 20))]
        elif op == "cut":
            del data[pos:]
    return bytes(data)


@st.composite
def gzipped(draw) -> bytes:
    plain = draw(st.one_of(csv_texts(), jsonl_texts(), st.sampled_from(SAMPLES)))
    packed = gzip.compress(plain)
    if draw(st.booleans()):
        packed = packed[: draw(st.integers(2, max(2, len(packed) - 1)))]
    return packed


def load_any(tmp_path_factory, data: bytes, fmt: str | None, suffix: str = ".csv"):
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    kind, value = outcome(lambda: load(path, fmt))
    if kind == "ok":
        assert isinstance(value, Workload)
    return kind


@FUZZ
@given(data=st.binary(max_size=3000), fmt=FORMAT_CHOICES)
def test_raw_bytes(tmp_path_factory, data, fmt):
    load_any(tmp_path_factory, data, fmt)


@FUZZ
@given(data=csv_texts(), fmt=FORMAT_CHOICES)
def test_csv_texts_under_known_headers(tmp_path_factory, data, fmt):
    load_any(tmp_path_factory, data, fmt)


@FUZZ
@given(data=jsonl_texts(), fmt=FORMAT_CHOICES)
def test_json_lines(tmp_path_factory, data, fmt):
    load_any(tmp_path_factory, data, fmt, ".jsonl")


@FUZZ
@given(data=mutated_samples(), fmt=FORMAT_CHOICES)
def test_mutated_sample_traces(tmp_path_factory, data, fmt):
    load_any(tmp_path_factory, data, fmt)


@FUZZ
@given(data=gzipped(), fmt=FORMAT_CHOICES, suffix=st.sampled_from([".csv.gz", ".jsonl", ".gz"]))
def test_gzip_streams_whole_and_cut(tmp_path_factory, data, fmt, suffix):
    load_any(tmp_path_factory, data, fmt, suffix)


@FUZZ
@given(data=st.binary(max_size=400), fmt=FORMAT_CHOICES)
def test_bytes_behind_the_parquet_magic(tmp_path_factory, data, fmt):
    load_any(tmp_path_factory, b"PAR1" + data + (b"PAR1" if len(data) % 2 else b""), fmt, ".parquet")
