"""Fuzzing the client's stream parser: any bytes a server streams end the request with an outcome class.

The parser reads the body of a 200 answer (burststudio.replay.client._read_stream). Whatever arrives, in whatever
pieces, it must return (never raise), leave one of the known outcomes, and leave a record the journal can write
and the summary can read.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support.fuzz import FUZZ, no_hang  # noqa: E402

from burststudio.replay.client import RequestRecord, _read_stream  # noqa: E402
from burststudio.vocab import OUTCOMES  # noqa: E402
from burststudio.replay.recorder import _dumps  # noqa: E402
from burststudio.replay.summary import summarize  # noqa: E402


class _Content:
    def __init__(self, pieces: list[bytes]):
        self.pieces = list(pieces)

    async def readany(self) -> bytes:
        await asyncio.sleep(0)
        return self.pieces.pop(0) if self.pieces else b""


class _Response:
    """What _read_stream uses of an aiohttp response: headers, content.readany(), text()."""

    def __init__(self, body: bytes, cuts: list[int], content_type: str):
        self.headers = {"Content-Type": content_type}
        points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
        self.content = _Content([body[a:b] for a, b in zip(points, points[1:]) if b > a])
        self._body = body

    async def text(self, errors: str = "strict") -> str:
        return self._body.decode("utf-8", errors)


def parse(body: bytes, cuts: list[int], content_type: str = "text/event-stream", output_tokens: int = 4):
    rec = RequestRecord(0, 0, 10, output_tokens, time.perf_counter_ns())
    rec.sent_ns = time.perf_counter_ns()
    rec.status = 200
    with no_hang():
        asyncio.run(_read_stream(_Response(body, cuts, content_type), rec, time.perf_counter_ns))
    assert rec.outcome in OUTCOMES and rec.outcome != "cancelled", rec.outcome
    assert isinstance(rec.completion_tokens, int) and rec.completion_tokens >= 0
    assert rec.end_ns >= rec.sent_ns
    line = rec.to_json_dict(rec.scheduled_ns)
    json.loads(_dumps(line))  # the journal can hold it
    summary = summarize([{**line, "kind": "end"}])
    assert summary["sent"] == summary["finished"] + summary["failed"] + summary["cancelled"] == 1
    return rec


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(), st.text(max_size=6))
JSON_ANY = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
CHOICE = st.one_of(
    st.fixed_dictionaries({"index": st.just(0), "text": st.text(max_size=3)},
                          optional={"token_ids": st.one_of(st.lists(st.integers(-5, 10**6), max_size=4), JSON_ANY),
                                    "finish_reason": st.sampled_from([None, "length", "stop"]),
                                    "delta": JSON_ANY}),
    JSON_ANY)
USAGE = st.one_of(st.fixed_dictionaries({}, optional={"prompt_tokens": JSON_ANY, "completion_tokens": JSON_ANY,
                                                      "total_tokens": JSON_ANY}), JSON_ANY)
CHUNK = st.fixed_dictionaries({}, optional={"id": st.text(max_size=4), "choices": st.one_of(st.lists(CHOICE, max_size=2),
                                                                                          JSON_ANY),
                                            "usage": USAGE, "error": JSON_ANY, "object": st.text(max_size=5)})
FLOAT_TEXT = st.sampled_from([b"1e999", b"-1e999", b"NaN", b"Infinity", b"1.5", b"-3", b"9" * 40])


@st.composite
def events(draw) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["chunk", "chunk", "chunk", "done", "comment", "blank", "garbage", "raw_usage",
                                     "deep"]))
        if kind == "chunk":
            payload = json.dumps(draw(CHUNK), allow_nan=True).encode()
        elif kind == "done":
            payload = b"[DONE]"
        elif kind == "comment":
            parts.append(b": ping")
            continue
        elif kind == "blank":
            parts.append(b"")
            continue
        elif kind == "garbage":
            parts.append(draw(st.binary(max_size=30)))
            continue
        elif kind == "raw_usage":
            n = draw(FLOAT_TEXT)
            payload = b'{"choices":[],"usage":{"prompt_tokens":' + n + b',"completion_tokens":' + n + b"}}"
        else:
            depth = draw(st.integers(1, 100_000))
            payload = b'{"choices":' + b"[" * depth + b"]" * depth + b"}"
        sep = draw(st.sampled_from([b"data: ", b"data:", b"data:  ", b"event: x\ndata: "]))
        parts.append(sep + payload)
    ending = draw(st.sampled_from([b"\n\n", b"\r\n\r\n", b"\n"]))
    return ending.join(parts) + draw(st.sampled_from([b"", ending]))


CUTS = st.lists(st.integers(0, 10**6), max_size=8)


@FUZZ
@given(body=st.binary(max_size=2000), cuts=CUTS)
def test_raw_bytes(body, cuts):
    parse(body, cuts)


@FUZZ
@given(body=events(), cuts=CUTS, output=st.integers(1, 5))
def test_event_streams(body, cuts, output):
    parse(body, cuts, output_tokens=output)


@FUZZ
@given(body=st.binary(max_size=500), ctype=st.sampled_from(["application/json", "text/plain", "", "text/html"]))
def test_answers_that_are_not_streams(body, ctype):
    parse(body, [], ctype)


def test_a_clean_stream_is_ok_and_counts_its_tokens():
    chunk = b'data: {"choices":[{"index":0,"text":"x","token_ids":[5]}]}\n\n'
    body = chunk * 3 + b'data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3}}\n\ndata: [DONE]\n\n'
    rec = parse(body, [7, 50, 51], output_tokens=3)
    assert rec.outcome == "ok" and rec.completion_tokens == 3 and len(rec.chunk_ns) == 3
    assert parse(body.replace(b"data: [DONE]", b""), [], output_tokens=3).outcome == "truncated"
    assert parse(body.replace(b"[DONE]", b"[DON"), [], output_tokens=3).outcome == "malformed"
    deep = b'data: {"choices":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n\n"
    assert parse(deep, []).outcome == "malformed"
