"""Fuzzing the preflight's reading of a server (burststudio/targets/answers.py): whatever bytes a peer sends back
to a GET, and whatever JSON a `/v1/models` holds, the result is an answer or one TargetError line, within the
timeout; the models that come out have printable ids and a max_model_len a user could have set."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, outcome  # noqa: E402
from tests.support.hostile_server import HostileServer  # noqa: E402

from burststudio.targets import address, answers  # noqa: E402
from burststudio.targets.base import TargetError  # noqa: E402

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server():
    with HostileServer("bytes") as srv:
        yield srv


status_lines = st.sampled_from([b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 301 x",
                                b"HTTP/1.1 999 ?", b"HTTP/1.1 -1 x", b"HTTP/1.1 200", b"HTTP/2 200", b"HTTP/1.1",
                                b"ICY 200 OK", b"SSH-2.0-x", b"", b"HTTP/1.1 2000000000000000000000 OK"])
header_lines = st.sampled_from([b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 999999999999",
                                b"Content-Length: x", b"Content-Length: 2, 3", b"Transfer-Encoding: chunked",
                                b"Transfer-Encoding: gzip", b"Content-Type: application/json", b"Connection: close",
                                b"Location: http://\x00evil", b"X: " + b"y" * 70_000, b"no colon", b": empty name",
                                b" folded continuation", b"Content-Encoding: gzip"])
bodies = st.sampled_from([b"", b"{}", b'{"data": []}', b'{"data": [{"id": "m", "max_model_len": 512}]}',
                          b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", b"ffffffff\r\n", b"\x1f\x8b\x08\x00", b"[" * 5000])
line_ends = st.sampled_from([b"\r\n", b"\n", b"\r", b""])
answers_ = st.builds(lambda s, hs, end, body, extra: s + end + b"".join(h + end for h in hs) + end + body + extra,
                     status_lines, st.lists(header_lines, max_size=6), line_ends, bodies, st.binary(max_size=64))


@FUZZ
@given(answers_ | st.binary(max_size=512))
def test_any_bytes_a_server_sends_give_an_answer_or_one_line(server, raw):
    server.payload = raw
    where = address.parse(server.url)
    t0 = time.monotonic()
    kind, value = outcome(lambda: answers.get(where, "/v1/models", TIMEOUT_S))
    assert time.monotonic() - t0 < TIMEOUT_S + 1.0
    if kind == "error":
        assert server.url in value
        return
    assert isinstance(value, answers.Answer)
    if value.status == 200:
        models_or_line(value.body)


def models_or_line(body: bytes) -> None:
    kind, models = outcome(lambda: answers.models_of(answers.json_of(body, "u"), "u"))
    if kind == "ok":
        for m in models:
            assert m.id.isprintable() and 0 < len(m.id) <= answers.MAX_ID_CHARS
            assert m.max_model_len is None or (type(m.max_model_len) is int
                                               and answers.MAX_MODEL_LEN.min <= m.max_model_len <= 10**9)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**40), 10**40) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["id", "max_model_len", "data", "x"])
                                                                 | st.text(max_size=5), inner, max_size=4),
    max_leaves=20)
entries = st.dictionaries(st.sampled_from(["id", "max_model_len", "object", "created"]), json_values, max_size=4)


@FUZZ
@given(st.one_of(json_values, st.builds(lambda d: {"data": d}, st.lists(entries | json_values, max_size=4))),
       st.sampled_from(["plain", "nan", "deep"]))
def test_any_models_body_gives_models_or_one_line(doc, spoil):
    text = json.dumps(doc, allow_nan=True)
    if spoil == "deep":
        text = text.replace("[", "[" * 3000, 1).replace("]", "]" * 3000, 1) if "[" in text else text
    models_or_line(text.encode())


def test_a_deep_document_is_one_line_not_a_recursion_error():
    with pytest.raises(TargetError, match="nested too deeply"):
        answers.json_of(b"[" * 100_000 + b"]" * 100_000, "u")
